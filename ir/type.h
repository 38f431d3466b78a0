// Tensor types: element type, dimensions and memory layout.
//
// The layout never changes a tensor's logical dimensions or values; it only
// records how later passes chose to arrange the elements in memory (for
// example channel-blocked NCHW16c for AVX-512 kernels). Dimensions are always
// the logical ones, outermost first (N, C, H, W for images).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cnnc {

// B1 is a bit per element, packed eight to a byte in the order the
// layout stores the elements: a relu mask (ir/fused_relu_mask.h).
enum class DType { F32, F64, I32, I64, B1 };

std::string_view dtypeName(DType dtype);  // "f32", ...
std::optional<DType> dtypeFromName(std::string_view name);
int64_t dtypeBits(DType dtype);

enum class Layout {
  Plain,    // row-major in the order of the dimensions
  NCHW8c,   // [N, C/8, H, W, 8]: channel blocks of 8 (AVX2 lanes)
  NCHW16c,  // [N, C/16, H, W, 16]: channel blocks of 16 (AVX-512 lanes)
  OIhw8o,   // conv filters [F, C, KH, KW] as [F/8, C, KH, KW, 8]: output-channel blocks
  OIhw16o,  // the same with blocks of 16
};

std::string_view layoutName(Layout layout);  // "" for Plain
std::optional<Layout> layoutFromName(std::string_view name);

struct TensorType {
  DType dtype = DType::F32;
  std::vector<int64_t> dims;  // empty: a scalar
  Layout layout = Layout::Plain;

  int64_t rank() const { return static_cast<int64_t>(dims.size()); }
  bool operator==(const TensorType&) const = default;
};

// Number of elements, or nullopt if the product overflows int64.
std::optional<int64_t> elementCount(const TensorType& type);
// Size in bytes (a B1 tensor's rounded up to whole bytes), or nullopt if it
// overflows int64.
std::optional<int64_t> byteSize(const TensorType& type);

// "f32[8,3,32,32]", with "<NCHW16c>" appended for a non-plain layout.
std::string toString(const TensorType& type);
// "[8,3,32,32]": used in messages about shapes.
std::string dimsToString(const std::vector<int64_t>& dims);

}  // namespace cnnc

#include "ir/type.h"

#include <array>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace cnnc {
namespace {

constexpr std::array<std::string_view, 5> kDTypeNames = {"f32", "f64", "i32", "i64", "b1"};
constexpr std::array<int64_t, 5> kDTypeBits = {32, 64, 32, 64, 1};
constexpr std::array<std::string_view, 5> kLayoutNames = {"", "NCHW8c", "NCHW16c", "OIhw8o", "OIhw16o"};

}  // namespace

std::string_view dtypeName(DType dtype) { return kDTypeNames[static_cast<size_t>(dtype)]; }
int64_t dtypeBits(DType dtype) { return kDTypeBits[static_cast<size_t>(dtype)]; }

std::optional<DType> dtypeFromName(std::string_view name) {
  for (size_t i = 0; i < kDTypeNames.size(); ++i)
    if (kDTypeNames[i] == name) return static_cast<DType>(i);
  return std::nullopt;
}

std::string_view layoutName(Layout layout) { return kLayoutNames[static_cast<size_t>(layout)]; }

std::optional<Layout> layoutFromName(std::string_view name) {
  for (size_t i = 1; i < kLayoutNames.size(); ++i)
    if (kLayoutNames[i] == name) return static_cast<Layout>(i);
  return std::nullopt;
}

std::optional<int64_t> elementCount(const TensorType& type) {
  int64_t count = 1;
  for (int64_t dim : type.dims)
    if (dim < 0 || __builtin_mul_overflow(count, dim, &count)) return std::nullopt;
  return count;
}

std::optional<int64_t> byteSize(const TensorType& type) {
  std::optional<int64_t> count = elementCount(type);
  int64_t bits = 0;
  if (!count || __builtin_mul_overflow(*count, dtypeBits(type.dtype), &bits) || bits > INT64_MAX - 7)
    return std::nullopt;
  return (bits + 7) / 8;
}

std::string dimsToString(const std::vector<int64_t>& dims) {
  return fmt::format("[{}]", fmt::join(dims, ","));
}

std::string toString(const TensorType& type) {
  std::string text = fmt::format("{}{}", dtypeName(type.dtype), dimsToString(type.dims));
  if (type.layout != Layout::Plain) text += fmt::format("<{}>", layoutName(type.layout));
  return text;
}

}  // namespace cnnc

// A dense host tensor: dimensions (outermost first) and row-major data. The
// reference executor is templated on the element type (float for training,
// double for gradient checks); files and the command line use float.
#pragma once

#include <cstdint>
#include <functional>
#include <numeric>
#include <vector>

namespace cnnc {

template <class T>
struct TensorOf {
  std::vector<int64_t> dims;
  std::vector<T> data;

  TensorOf() = default;
  explicit TensorOf(std::vector<int64_t> shape, T fill = T{})
      : dims(std::move(shape)), data(static_cast<size_t>(count(dims)), fill) {}

  static int64_t count(const std::vector<int64_t>& shape) {
    return std::accumulate(shape.begin(), shape.end(), int64_t{1}, std::multiplies<>());
  }
  int64_t size() const { return static_cast<int64_t>(data.size()); }
  bool operator==(const TensorOf&) const = default;
};

using Tensor = TensorOf<float>;

}  // namespace cnnc

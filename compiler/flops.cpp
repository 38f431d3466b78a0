#include "compiler/flops.h"

#include "ir/fused_projection.h"

namespace cnnc {
namespace {

int64_t product(const std::vector<int64_t>& dims) {
  int64_t p = 1;
  for (int64_t d : dims) p *= d;
  return p;
}

// The (output position, filter tap) pairs of a convolution whose input
// element lies inside the image: the multiply-adds that are not with
// padding, which kernels skip.
int64_t insideTaps(const std::vector<int64_t>& in, const std::vector<int64_t>& out, const std::vector<int64_t>& w,
                   const AttributeMap& attrs) {
  const IntList strides = *getInts(attrs, "strides"), pads = *getInts(attrs, "pads");
  auto along = [&](size_t axis) {
    int64_t taps = 0;
    for (int64_t o = 0; o < out[axis]; ++o)
      for (int64_t k = 0; k < w[axis]; ++k) {
        const int64_t i = o * strides[axis - 2] + k - pads[axis - 2];
        taps += i >= 0 && i < in[axis];
      }
    return taps;
  };
  return along(2) * along(3);
}

}  // namespace

int64_t flopsOf(const Graph& graph, ValueId id) {
  const Node& node = graph.node(id);
  auto dims = [&](size_t operand) -> const std::vector<int64_t>& { return graph.node(node.operands[operand]).type.dims; };
  switch (node.op) {
    case Op::Conv2D:  // N x F x C x taps
      return 2 * dims(0)[0] * dims(1)[0] * dims(1)[1] * insideTaps(dims(0), node.type.dims, dims(1), node.attrs);
    case Op::Conv2DBackwardData: {
      auto flops = [&](size_t dy, size_t w, const AttributeMap& window) {
        return 2 * dims(dy)[0] * dims(w)[0] * dims(w)[1] * insideTaps(node.type.dims, dims(dy), dims(w), window);
      };
      return flops(0, 1, node.attrs) + (projectionOf(node) ? flops(2, 3, projectionWindow(node.attrs)) : 0);
    }
    case Op::Conv2DBackwardFilter:
      return 2 * dims(0)[0] * node.type.dims[0] * node.type.dims[1] *
             insideTaps(dims(0), dims(1), node.type.dims, node.attrs);
    case Op::Dense:  // N x U x F
      return 2 * product(node.type.dims) * dims(0)[1];
    case Op::DenseBackwardData:
    case Op::DenseBackwardWeight:  // N x U x F
      return 2 * product(dims(0)) * dims(1)[1];
    default:
      return 0;
  }
}

int64_t flopsOf(const Graph& graph) {
  int64_t total = 0;
  for (ValueId id = 0; id < graph.size(); ++id) total += flopsOf(graph, id);
  return total;
}

}  // namespace cnnc

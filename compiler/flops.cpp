#include "compiler/flops.h"

namespace cnnc {
namespace {

int64_t product(const std::vector<int64_t>& dims) {
  int64_t p = 1;
  for (int64_t d : dims) p *= d;
  return p;
}

}  // namespace

int64_t flopsOf(const Graph& graph, ValueId id) {
  const Node& node = graph.node(id);
  auto dims = [&](size_t operand) -> const std::vector<int64_t>& { return graph.node(node.operands[operand]).type.dims; };
  switch (node.op) {
    case Op::Conv2D:  // outputs x (C * KH * KW)
      return 2 * product(node.type.dims) * product({dims(1).begin() + 1, dims(1).end()});
    case Op::Conv2DBackwardData:  // dy elements x (C * KH * KW)
      return 2 * product(dims(0)) * product({dims(1).begin() + 1, dims(1).end()});
    case Op::Conv2DBackwardFilter:  // dy elements x (C * KH * KW)
      return 2 * product(dims(1)) * product({node.type.dims.begin() + 1, node.type.dims.end()});
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

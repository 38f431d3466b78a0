// Projection-gradient fusion (ir/fused_projection.h). Algorithm: an add of
// two blocked conv2d_bwd_data, each read by the add alone and applying
// nothing to its result yet, of the same result (type and layout), strides
// and output-gradient layout, where one has a 1x1 unpadded filter (the
// projection shortcut's data gradient): the rebuilt graph skips both and
// emits, in the add's place, the other (the host, whose tile it keeps) with
// the projection's output gradient and filter after its own operands, under
// the add's name, with the add's attributes beside its own (a fused relu
// gradient, whose activation output comes last) and `projection` naming
// the 1x1 node. Where both are 1x1, the second is the projection.
//
// In ResNet's strided blocks the two kernels wrote a gradient each, the
// size of the block's input, and the add read both back; the host's kernel
// adds the projection's few taps instead.
#include <optional>

#include "compiler/graph_rebuilder.h"
#include "compiler/passes.h"
#include "ir/fused_activation.h"
#include "ir/fused_projection.h"

namespace cnnc {
namespace {

// Whether `id` is a blocked conv2d_bwd_data, read by one node only, that
// an add of it can take into a fused kernel.
bool joinable(const Graph& graph, ValueId id, const std::vector<int>& users) {
  const Node& node = graph.node(id);
  return node.op == Op::Conv2DBackwardData && node.type.layout != Layout::Plain && node.operands.size() == 2 &&
         users[id] == 1 && !finishesItsResult(node);
}

bool isProjection(const Graph& graph, const Node& node) {
  const std::vector<int64_t>& w = graph.node(node.operands[1]).type.dims;
  return w[2] == 1 && w[3] == 1 && getInts(node.attrs, "pads") == IntList{0, 0, 0, 0};
}

// The (host, projection) of add `node`, if it sums such a pair.
std::optional<std::pair<ValueId, ValueId>> pairOf(const Graph& graph, const Node& node, const std::vector<int>& users) {
  if (node.op != Op::Add || ownOperandCount(node) != 2) return std::nullopt;
  const ValueId a = node.operands[0], b = node.operands[1];
  if (a == b || !joinable(graph, a, users) || !joinable(graph, b, users)) return std::nullopt;
  const Node &first = graph.node(a), &second = graph.node(b);
  if (first.type != second.type || getInts(first.attrs, "strides") != getInts(second.attrs, "strides") ||
      graph.node(first.operands[0]).type.layout != graph.node(second.operands[0]).type.layout)
    return std::nullopt;
  if (isProjection(graph, second)) return std::pair{a, b};
  if (isProjection(graph, first)) return std::pair{b, a};
  return std::nullopt;
}

}  // namespace

Status fuseProjectionGradients(Graph& graph, const PassContext&) {
  return absorbInto(graph, [&](const Node& add, const std::vector<int>& users) -> std::optional<Absorption> {
    const std::optional<std::pair<ValueId, ValueId>> pair = pairOf(graph, add, users);
    if (!pair) return std::nullopt;
    const auto [host, projection] = *pair;
    const Node& shortcut = graph.node(projection);
    return absorbAdd(graph, add, host, {shortcut.operands[0], shortcut.operands[1]}, kProjectionAttr, shortcut.name,
                     {projection});
  });
}

}  // namespace cnnc

// Residual-add fusion (ir/fused_residual.h). Algorithm: an add of two values
// absorbs the producer of one of them, when the add is that producer's only
// user and the producer can add a residual as it stores (a batch norm, a
// convolution or a convolution's data gradient) and applies nothing to its
// result yet (no fused activation, activation gradient, residual, pooling
// or statistics, all of which would see the result before the sum). The
// rebuilt graph skips the producer and emits, in the add's place, the
// producer with the add's other operand as its residual (and, for a sum of
// gradients with a fused activation gradient, the activation's output after
// it), under the add's name, with the add's attributes beside its own.
// Where both operands qualify, the first fuses.
//
// Forward, this takes ResNet's batch norm into the residual add after it:
// training only reads a batch norm's input and statistics backward, never
// its result. Backward, a convolution's data gradient adds the other
// gradient of its input (the shortcut's) as it stores. After select-layouts,
// whose rewriting of convolutions knows no residual, and after the
// activation and activation-gradient fusions, whose results these adds are.
#include <optional>

#include "compiler/graph_rebuilder.h"
#include "compiler/passes.h"
#include "ir/fused_activation.h"
#include "ir/fused_residual.h"

namespace cnnc {
namespace {

// Which operand of `node`, if it is an add of two, has a producer it absorbs.
std::optional<size_t> absorbedOperand(const Graph& graph, const Node& node, const std::vector<int>& users) {
  if (node.op != Op::Add || ownOperandCount(node) != 2) return std::nullopt;
  for (size_t k = 0; k < 2; ++k) {
    const ValueId operand = node.operands[k];
    const Node& producer = graph.node(operand);
    if (addsResidual(producer.op) && users[operand] == 1 && !finishesItsResult(producer)) return k;
  }
  return std::nullopt;
}

}  // namespace

Status fuseResidualAdds(Graph& graph, const PassContext&) {
  return absorbInto(graph, [&](const Node& add, const std::vector<int>& users) -> std::optional<Absorption> {
    const std::optional<size_t> k = absorbedOperand(graph, add, users);
    if (!k) return std::nullopt;
    const ValueId producer = add.operands[*k];
    return absorbAdd(graph, add, producer, {add.operands[1 - *k]}, kResidualAttr, graph.node(producer).name);
  });
}

}  // namespace cnnc

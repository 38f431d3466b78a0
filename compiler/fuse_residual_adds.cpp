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
#include "ir/fused_pooling.h"
#include "ir/fused_residual.h"
#include "ir/fused_statistics.h"

namespace cnnc {
namespace {

// Whether `node` applies anything to its result before storing it.
bool finishesItsResult(const Node& node) {
  for (std::string_view key :
       {kActivationAttr, kActivationGradientAttr, kResidualAttr, kPoolAttr, kStatsAttr, kGammaGradAttr})
    if (node.attrs.contains(key)) return true;
  return false;
}

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
  const std::vector<int> users = userCounts(graph);
  std::vector<std::optional<Absorption>> absorptions(graph.size());
  for (ValueId id = 0; id < graph.size(); ++id) {
    const Node& add = graph.node(id);
    const std::optional<size_t> k = absorbedOperand(graph, add, users);
    if (!k) continue;
    const Node& producer = graph.node(add.operands[*k]);
    std::vector<ValueId> extra = {add.operands[1 - *k]};
    if (readsActivationOutput(add.op, add.attrs)) extra.push_back(activationOutputOf(add));
    AttributeMap attrs = producer.attrs;
    for (const auto& [key, value] : add.attrs) attrs.insert_or_assign(key, value);
    attrs[std::string(kResidualAttr)] = Symbol{producer.name};
    absorptions[id] = Absorption{add.operands[*k], std::move(extra), std::move(attrs)};
  }
  return absorbInto(graph, absorptions);
}

}  // namespace cnnc

// Residual-add fusion (ir/fused_residual.h). Algorithm: an add of two values
// of which one is a batch norm's result (inference or training form, with
// no fused activation or residual of its own) that has the add as its only
// user absorbs that batch norm: the rebuilt graph skips the batch norm and
// emits, in the add's place, the batch norm with the add's other operand as
// its residual, under the add's name, with the add's attributes beside its
// own. Where both operands qualify (ResNet's projection shortcuts), the
// first fuses and the second is the residual.
//
// Training only reads a batch norm's input and statistics backward, never
// its result, so the add is the only user wherever no activation follows
// the batch norm itself.
#include <optional>

#include "compiler/graph_rebuilder.h"
#include "compiler/passes.h"
#include "ir/fused_activation.h"
#include "ir/fused_residual.h"

namespace cnnc {
namespace {

// Which operand of `node`, if it is an add, is a batch norm it absorbs.
std::optional<size_t> absorbedOperand(const Graph& graph, const Node& node, const std::vector<int>& users) {
  if (node.op != Op::Add || node.operands.size() != 2 || node.attrs.contains(kActivationGradientAttr))
    return std::nullopt;
  for (size_t k = 0; k < 2; ++k) {
    const ValueId operand = node.operands[k];
    const Node& producer = graph.node(operand);
    if (addsResidual(producer.op) && users[operand] == 1 && !producer.attrs.contains(kActivationAttr) &&
        !producer.attrs.contains(kResidualAttr))
      return k;
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
    const Node& norm = graph.node(add.operands[*k]);
    AttributeMap attrs = norm.attrs;
    for (const auto& [key, value] : add.attrs) attrs.insert_or_assign(key, value);
    attrs[std::string(kResidualAttr)] = Symbol{norm.name};
    absorptions[id] = Absorption{add.operands[*k], add.operands[1 - *k], std::move(attrs)};
  }
  return absorbInto(graph, absorptions);
}

}  // namespace cnnc

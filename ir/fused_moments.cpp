#include "ir/fused_moments.h"

#include <fmt/format.h>

#include "ir/printer.h"

namespace cnnc {
namespace {

// The apply's two moment operands.
std::vector<ValueId> momentsOf(const Node& apply) { return {apply.operands[1], apply.operands[2]}; }

}  // namespace

bool momentsFuseInto(const Graph& graph, ValueId apply) {
  if (graph.node(apply).op != Op::AdamApply) return false;
  const std::vector<ValueId> moments = momentsOf(graph.node(apply));
  for (ValueId moment : moments)
    if (graph.node(moment).op != Op::AdamMoment) return false;
  for (ValueId id = 0; id < graph.size(); ++id) {
    const Node& node = graph.node(id);
    if (id == apply || node.op == Op::Assign) continue;
    for (ValueId operand : node.operands)
      if (operand == moments[0] || operand == moments[1]) return false;
  }
  return true;
}

std::vector<ValueId> fusedMoments(const Graph&, const Node& node) {
  if (!node.attrs.contains(kFusedMomentsAttr)) return {};
  return momentsOf(node);
}

Status verifyFusedMoments(const Graph& graph) {
  for (ValueId id = 0; id < graph.size(); ++id) {
    const Node& node = graph.node(id);
    if (node.attrs.contains(kFusedMomentsAttr) && !momentsFuseInto(graph, id))
      return Error{fmt::format("{} = {}: attribute {} needs an adam_apply whose moments are adam_moment nodes that "
                               "no other node but assigns reads",
                               valueRef(node.name), mnemonic(node.op), kFusedMomentsAttr)};
  }
  return Status::ok();
}

}  // namespace cnnc

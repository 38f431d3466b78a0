#include "ir/fused_residual.h"

#include <fmt/format.h>

#include "ir/fused_activation.h"
#include "ir/kernel_results.h"
#include "ir/printer.h"

namespace cnnc {

bool addsResidual(Op op) {
  return op == Op::BatchNorm || op == Op::BatchNormTrain || op == Op::Conv2D || op == Op::Conv2DBackwardData;
}

std::optional<ValueId> residualOf(const Node& node) {
  if (!node.attrs.contains(kResidualAttr)) return std::nullopt;
  // Before the activation's output that a fused activation gradient reads.
  return node.operands[node.operands.size() - (readsActivationOutput(node.op, node.attrs) ? 2 : 1)];
}

Status checkResidual(Op op, const AttributeMap& attrs) {
  auto found = attrs.find(kResidualAttr);
  if (found == attrs.end()) return Status::ok();
  if (!addsResidual(op)) return Error{fmt::format("{} takes no attribute {}", mnemonic(op), kResidualAttr)};
  if (!std::holds_alternative<Symbol>(found->second))
    return Error{fmt::format("{} attribute {} must name the node it absorbed, got {}", mnemonic(op),
                             kResidualAttr, toString(found->second))};
  return Status::ok();
}

bool residualNormFusesInto(const Node& node, const Node& norm) {
  const bool batchNorm = node.op == Op::BatchNorm || node.op == Op::BatchNormTrain;
  return batchNorm && norm.op == node.op && norm.type == node.type && !finishesItsResult(norm);
}

std::optional<ValueId> fusedResidualNorm(const Graph& graph, const Node& node) {
  return valueNamedBy(graph, node, kResidualNormAttr);
}

Status verifyResidualNorms(const Graph& graph) {
  const std::vector<int> users = userCounts(graph);
  for (const Node& node : graph.nodes()) {
    std::optional<std::string> name = getSymbol(node.attrs, kResidualNormAttr);
    if (!name) continue;
    const std::optional<ValueId> norm = graph.lookup(*name);
    const std::optional<ValueId> residual = residualOf(node);
    if (!norm || norm != residual || !residualNormFusesInto(node, graph.node(*norm)) || users[*norm] != 1)
      return Error{fmt::format("{} = {}: attribute {}={} must name the producer of its residual, a {} of its "
                               "type that applies nothing to its result and that nothing else reads",
                               valueRef(node.name), mnemonic(node.op), kResidualNormAttr, *name, mnemonic(node.op))};
  }
  return Status::ok();
}

}  // namespace cnnc

#include "ir/fused_residual.h"

#include <fmt/format.h>

#include "ir/fused_activation.h"

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

}  // namespace cnnc

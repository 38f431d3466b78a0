#include "ir/fused_residual.h"

#include <fmt/format.h>

namespace cnnc {

bool addsResidual(Op op) { return op == Op::BatchNorm || op == Op::BatchNormTrain; }

std::optional<ValueId> residualOf(const Node& node) {
  if (!node.attrs.contains(kResidualAttr)) return std::nullopt;
  return node.operands.back();
}

Status checkResidual(Op op, const AttributeMap& attrs) {
  auto found = attrs.find(kResidualAttr);
  if (found == attrs.end()) return Status::ok();
  if (!addsResidual(op)) return Error{fmt::format("{} takes no attribute {}", mnemonic(op), kResidualAttr)};
  if (!std::holds_alternative<Symbol>(found->second))
    return Error{fmt::format("{} attribute {} must name the batch norm it absorbed, got {}", mnemonic(op),
                             kResidualAttr, toString(found->second))};
  return Status::ok();
}

}  // namespace cnnc

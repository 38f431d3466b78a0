#include "ir/fused_norm.h"

#include <fmt/format.h>

#include "ir/fused_activation.h"
#include "ir/layout.h"
#include "ir/op_checks.h"
#include "ir/printer.h"

namespace cnnc {

std::optional<NormOperands> foldedNormOf(const Node& node) {
  if (node.op != Op::Conv2D || !node.attrs.contains(kNormAttr)) return std::nullopt;
  // Right after the convolution's own operands (ownOperandCount).
  const std::vector<ValueId>& in = node.operands;
  const size_t first = ownOperandCount(node);
  return NormOperands{in[first], in[first + 1], in[first + 2], in[first + 3]};
}

NormParameters normParameters(const Node& node) {
  const double epsilon = *getFloat(node.attrs, "epsilon");
  auto in = [&](size_t i, int64_t offset = 0) { return PerChannel{node.operands[i], offset}; };
  if (node.op == Op::BatchNormTrain) return {in(1), in(1, node.type.dims[1]), in(2), in(3), epsilon};  // x, stats, gamma, beta
  if (node.op == Op::BatchNorm) return {in(3), in(4), in(1), in(2), epsilon};  // x, gamma, beta, mean, variance
  const NormOperands norm = *foldedNormOf(node);
  return {{norm.mean, 0}, {norm.variance, 0}, {norm.gamma, 0}, {norm.beta, 0}, epsilon};
}

Status checkFoldedNorm(const AttributeMap& attrs) {
  auto found = attrs.find(kNormAttr);
  if (found == attrs.end()) {
    if (!attrs.contains("epsilon")) return Status::ok();
    return Error{fmt::format("conv2d attribute epsilon comes only with {}, a folded batch norm's", kNormAttr)};
  }
  if (!std::holds_alternative<Symbol>(found->second))
    return Error{fmt::format("conv2d attribute {} must name the convolution it absorbed, got {}", kNormAttr,
                             toString(found->second))};
  CNNC_TRY(checks::floatAttr(Op::Conv2D, attrs, "epsilon", 0.0, 1.0));
  return Status::ok();
}

Status verifyFoldedNorms(const Graph& graph) {
  for (const Node& node : graph.nodes())
    if (foldedNormOf(node) && !isActivationLayout(node.type.layout))
      return Error{fmt::format("{} = conv2d: a folded batch norm (attribute {}) needs a channel-blocked result, got {}",
                               valueRef(node.name), kNormAttr, toString(node.type))};
  return Status::ok();
}

}  // namespace cnnc

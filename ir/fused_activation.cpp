#include "ir/fused_activation.h"

#include <fmt/format.h>

#include "ir/fused_bias_gradient.h"
#include "ir/fused_moments.h"
#include "ir/fused_norm.h"
#include "ir/fused_pooling.h"
#include "ir/fused_projection.h"
#include "ir/fused_relu_mask.h"
#include "ir/fused_residual.h"
#include "ir/fused_statistics.h"
#include "ir/inlined_norm.h"

namespace cnnc {
namespace {

std::optional<Op> activationNamed(const AttributeMap& attrs, std::string_view key) {
  std::optional<std::string> name = getSymbol(attrs, key);
  if (!name) return std::nullopt;
  std::optional<Op> op = opFromMnemonic(*name);
  if (!op || !isActivation(*op)) return std::nullopt;
  return op;
}

Op gradientOfActivation(Op activation) {
  switch (activation) {
    case Op::Relu: return Op::ReluBackward;
    case Op::Sigmoid: return Op::SigmoidBackward;
    default: return Op::TanhBackward;
  }
}

}  // namespace

bool isActivation(Op op) { return op == Op::Relu || op == Op::Sigmoid || op == Op::Tanh; }

bool appliesActivations(Op op) {
  return op == Op::Conv2D || op == Op::Dense || op == Op::BatchNorm || op == Op::BatchNormTrain || op == Op::Add;
}

bool appliesActivationGradients(Op op) {
  return op == Op::MaxPool2DBackward || op == Op::Conv2D || op == Op::Conv2DBackwardData ||
         op == Op::DenseBackwardData || op == Op::Add || op == Op::GlobalAvgPool2DBackward;
}

std::optional<Op> fusedActivation(const AttributeMap& attrs) { return activationNamed(attrs, kActivationAttr); }

std::optional<Op> fusedActivationGradient(const AttributeMap& attrs) {
  return activationNamed(attrs, kActivationGradientAttr);
}

bool readsActivationOutput(Op op, const AttributeMap& attrs) {
  return op != Op::MaxPool2DBackward && attrs.contains(kActivationGradientAttr);
}

ValueId activationOutputOf(const Node& node) {
  return node.op == Op::MaxPool2DBackward ? node.operands.front() : node.operands.back();
}

size_t ownOperandCount(const Node& node) {
  const size_t norm = node.op == Op::Conv2D && node.attrs.contains(kNormAttr) ? kNormOperands : 0;
  return node.operands.size() - (readsActivationOutput(node.op, node.attrs) ? 1 : 0) - (residualOf(node) ? 1 : 0) - norm;
}

bool finishesItsResult(const Node& node) {
  for (std::string_view key :
       {kNormAttr, kActivationAttr, kActivationGradientAttr, kResidualAttr, kPoolAttr, kStatsAttr, kGammaGradAttr,
        kReluMaskAttr})
    if (node.attrs.contains(key)) return true;
  return false;
}

std::string opLabel(Op op, const AttributeMap& attrs) {
  std::string label(mnemonic(op));
  if (attrs.contains(kNormAttr)) label += fmt::format("+{}", mnemonic(Op::BatchNorm));
  if (attrs.contains(kProjectionAttr)) label += "+projection";
  if (attrs.contains(kResidualAttr)) label += fmt::format("+{}", mnemonic(Op::Add));
  if (std::optional<Op> activation = fusedActivation(attrs)) label += fmt::format("+{}", mnemonic(*activation));
  if (std::optional<Op> activation = fusedActivationGradient(attrs))
    label += fmt::format("+{}", mnemonic(gradientOfActivation(*activation)));
  if (attrs.contains(kBiasGradAttr)) label += fmt::format("+{}", mnemonic(Op::BiasGrad));
  if (attrs.contains(kPoolAttr)) label += "+pool";
  if (attrs.contains(kStatsAttr)) label += "+stats";
  if (attrs.contains(kGammaGradAttr)) label += "+gamma_grad";
  if (attrs.contains(kReluMaskAttr)) label += "+relu_mask";
  if (attrs.contains(kResidualNormAttr)) label += "+residual_norm";
  if (attrs.contains(kFusedMomentsAttr)) label += "+moments";
  if (attrs.contains(kInlineAttr)) label += "+inline";
  return label;
}

std::optional<Op> activationOfGradient(Op op) {
  switch (op) {
    case Op::ReluBackward: return Op::Relu;
    case Op::SigmoidBackward: return Op::Sigmoid;
    case Op::TanhBackward: return Op::Tanh;
    default: return std::nullopt;
  }
}

Status checkFusedActivation(Op op, const AttributeMap& attrs) {
  const bool forward = attrs.contains(kActivationAttr), backward = attrs.contains(kActivationGradientAttr);
  for (auto [key, present, applies] : {std::tuple{kActivationAttr, forward, appliesActivations(op)},
                                       std::tuple{kActivationGradientAttr, backward, appliesActivationGradients(op)}}) {
    if (!present) continue;
    if (!applies) return Error{fmt::format("{} takes no attribute {}", mnemonic(op), key)};
    if (!activationNamed(attrs, key))
      return Error{fmt::format("{} attribute {} must be relu, sigmoid or tanh, got {}", mnemonic(op), key,
                               toString(attrs.find(key)->second))};
  }
  if (forward && backward)
    return Error{fmt::format("{} cannot take both {} and {}", mnemonic(op), kActivationAttr, kActivationGradientAttr)};
  if (auto fused = attrs.find(kFusedAttr); fused != attrs.end()) {
    if (!std::holds_alternative<Symbol>(fused->second))
      return Error{fmt::format("{} attribute {} must name a layer, got {}", mnemonic(op), kFusedAttr,
                               toString(fused->second))};
    if (!forward && !backward)
      return Error{fmt::format("{} attribute {} needs an {} or {} attribute", mnemonic(op), kFusedAttr,
                               kActivationAttr, kActivationGradientAttr)};
  }
  return Status::ok();
}

}  // namespace cnnc

#include "ir/fused_activation.h"

#include <fmt/format.h>

#include "ir/fused_bias_gradient.h"

namespace cnnc {

bool isActivation(Op op) { return op == Op::Relu || op == Op::Sigmoid || op == Op::Tanh; }

bool appliesActivations(Op op) {
  return op == Op::Conv2D || op == Op::Dense || op == Op::BatchNorm || op == Op::BatchNormTrain;
}

std::optional<Op> fusedActivation(const AttributeMap& attrs) {
  std::optional<std::string> name = getSymbol(attrs, kActivationAttr);
  if (!name) return std::nullopt;
  std::optional<Op> op = opFromMnemonic(*name);
  if (!op || !isActivation(*op)) return std::nullopt;
  return op;
}

std::string opLabel(Op op, const AttributeMap& attrs) {
  std::string label(mnemonic(op));
  if (std::optional<Op> activation = fusedActivation(attrs)) label += fmt::format("+{}", mnemonic(*activation));
  if (attrs.contains(kBiasGradAttr)) label += fmt::format("+{}", mnemonic(Op::BiasGrad));
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
  const bool hasActivation = attrs.contains(kActivationAttr);
  if (hasActivation && !fusedActivation(attrs))
    return Error{fmt::format("{} attribute {} must be relu, sigmoid or tanh, got {}", mnemonic(op), kActivationAttr,
                             toString(attrs.find(kActivationAttr)->second))};
  if (auto fused = attrs.find(kFusedAttr); fused != attrs.end()) {
    if (!std::holds_alternative<Symbol>(fused->second))
      return Error{fmt::format("{} attribute {} must name a layer, got {}", mnemonic(op), kFusedAttr,
                               toString(fused->second))};
    if (!hasActivation)
      return Error{fmt::format("{} attribute {} needs an {} attribute", mnemonic(op), kFusedAttr, kActivationAttr)};
  }
  return Status::ok();
}

}  // namespace cnnc

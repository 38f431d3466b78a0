#include "compiler/codegen/activation.h"

#include "ir/fused_activation.h"
#include "ir/fused_relu_mask.h"
#include "ir/fused_residual.h"
#include "ir/inlined_norm.h"

namespace cnnc {
namespace {

// tanhf lane by lane: LLVM has no tanh intrinsic to widen, and the same libm
// function as the tanh node's keeps fused and unfused results identical.
llvm::Value* tanhOf(KernelBuilder& kb, llvm::Value* x) {
  auto* vector = llvm::dyn_cast<llvm::FixedVectorType>(x->getType());
  if (!vector) return kb.callLibm("tanhf", x);
  auto& ir = kb.ir();
  llvm::Value* result = x;
  for (unsigned lane = 0; lane < vector->getNumElements(); ++lane)
    result = ir.CreateInsertElement(result, kb.callLibm("tanhf", ir.CreateExtractElement(x, lane)), lane);
  return result;
}

// `gradient` where `passes` holds, else 0.
llvm::Value* gate(KernelBuilder& kb, llvm::Value* passes, llvm::Value* gradient) {
  return kb.ir().CreateSelect(passes, gradient, llvm::Constant::getNullValue(gradient->getType()));
}

}  // namespace

llvm::Value* applyActivation(KernelBuilder& kb, Op activation, llvm::Value* x) {
  auto& ir = kb.ir();
  llvm::Type* type = x->getType();
  switch (activation) {
    case Op::Relu: return ir.CreateMaxNum(x, llvm::Constant::getNullValue(type));
    case Op::Sigmoid: {
      llvm::Value* one = llvm::ConstantFP::get(type, 1.0);
      return ir.CreateFDiv(one, ir.CreateFAdd(one, kb.callMath(llvm::Intrinsic::exp, ir.CreateFNeg(x))));
    }
    default: return tanhOf(kb, x);
  }
}

llvm::Value* reluPasses(KernelBuilder& kb, llvm::Value* y) {
  return kb.ir().CreateFCmpOGT(y, llvm::Constant::getNullValue(y->getType()));
}

llvm::Value* activationGradient(KernelBuilder& kb, Op activation, llvm::Value* gradient, llvm::Value* y) {
  auto& ir = kb.ir();
  llvm::Value* one = llvm::ConstantFP::get(y->getType(), 1.0);
  switch (activation) {
    case Op::Relu: return gate(kb, reluPasses(kb, y), gradient);
    case Op::Sigmoid: return ir.CreateFMul(ir.CreateFMul(gradient, y), ir.CreateFSub(one, y));
    default: return ir.CreateFMul(gradient, ir.CreateFSub(one, ir.CreateFMul(y, y)));
  }
}

llvm::Value* finishResult(KernelBuilder& kb, const Node& node, llvm::Value* result, llvm::Value* index,
                          llvm::Value* mask, llvm::Value* residual, llvm::Value* activationOutput) {
  auto* vector = llvm::dyn_cast<llvm::FixedVectorType>(result->getType());
  // The same element of an operand of the result's type and layout.
  auto load = [&](ValueId value) {
    return vector ? kb.loadVector(value, index, vector->getNumElements(), mask) : kb.load(value, index);
  };
  if (std::optional<ValueId> operand = residualOf(node))
    result = kb.ir().CreateFAdd(result, residual ? residual : load(*operand));
  if (std::optional<Op> activation = fusedActivation(node.attrs)) return applyActivation(kb, *activation, result);
  std::optional<Op> activation = fusedActivationGradient(node.attrs);
  if (!activation) return result;
  const ValueId y = activationOutputOf(node);
  if (isReluMask(kb.graph(), y))
    return gate(kb, kb.loadBits(y, index, vector ? vector->getNumElements() : 1), result);
  return activationGradient(kb, *activation, result, activationOutput ? activationOutput : load(y));
}

std::vector<ValueId> finishOperands(const Graph& graph, const Node& node) {
  std::vector<ValueId> operands;
  if (std::optional<ValueId> residual = residualOf(node)) operands.push_back(*residual);
  if (fusedActivationGradient(node.attrs) && !isReluMask(graph, activationOutputOf(node))) {
    const ValueId y = activationOutputOf(node);
    operands.push_back(isInlined(graph.node(y)) ? graph.node(y).operands[0] : y);
  }
  return operands;
}

}  // namespace cnnc

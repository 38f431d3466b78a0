#include "compiler/codegen/inlined_norm.h"

#include "compiler/codegen/activation.h"
#include "ir/inlined_norm.h"

namespace cnnc {

std::optional<InlinedNorm> InlinedNorm::of(const KernelBuilder& kb, ValueId value) {
  const Node& node = kb.graph().node(value);
  if (!isInlined(node)) return std::nullopt;
  return InlinedNorm(node);
}

NormAffine InlinedNorm::affine(KernelBuilder& kb, llvm::Value* block, int64_t lanes) const {
  // batch_norm_train: x, stats [2,C] (means, then variances), gamma, beta.
  const int64_t C = kb.dims(input())[1];
  llvm::Value* first = kb.ir().CreateMul(block, kb.i64(lanes));
  auto perChannel = [&](size_t operand, int64_t offset) {
    return kb.loadVector(node_->operands[operand], kb.ir().CreateAdd(first, kb.i64(offset)), lanes);
  };
  return normAffine(kb, perChannel(2, 0), perChannel(3, 0), perChannel(1, 0), perChannel(1, C),
                    *getFloat(node_->attrs, "epsilon"));
}

llvm::Value* InlinedNorm::apply(KernelBuilder& kb, const NormAffine& affine, llvm::Value* x) const {
  return applyActivation(kb, Op::Relu, affine.apply(kb, x));
}

ValueId loadedInPlaceOf(const KernelBuilder& kb, ValueId value) {
  const std::optional<InlinedNorm> norm = InlinedNorm::of(kb, value);
  return norm ? norm->input() : value;
}

}  // namespace cnnc

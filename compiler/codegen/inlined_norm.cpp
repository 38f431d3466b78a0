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
  return blockNormAffine(kb, *node_, block, lanes);
}

llvm::Value* InlinedNorm::apply(KernelBuilder& kb, const NormAffine& affine, llvm::Value* x, llvm::Value* inside) const {
  llvm::Value* y = applyActivation(kb, Op::Relu, affine.apply(kb, x));
  return inside ? kb.ir().CreateSelect(inside, y, llvm::Constant::getNullValue(y->getType())) : y;
}

ValueId loadedInPlaceOf(const KernelBuilder& kb, ValueId value) {
  const std::optional<InlinedNorm> norm = InlinedNorm::of(kb, value);
  return norm ? norm->input() : value;
}

}  // namespace cnnc

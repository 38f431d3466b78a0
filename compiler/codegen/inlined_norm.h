// A batch norm inlined into the kernels that read its result
// (ir/inlined_norm.h), as they generate it: relu((x - mean) scale + shift)
// of its input x, with the affine map of the channel block being read.
#pragma once

#include <optional>

#include "compiler/codegen/channel_sums.h"

namespace cnnc {

class InlinedNorm {
 public:
  // The batch norm that makes `value`, if it is inlined.
  static std::optional<InlinedNorm> of(const KernelBuilder& kb, ValueId value);

  // The batch_norm_train node.
  const Node& node() const { return *node_; }
  // Its input, which its readers load where they would load its result.
  ValueId input() const { return node_->operands[0]; }
  // The affine map of channel block `block` (an i64) of vectors of `lanes`.
  NormAffine affine(KernelBuilder& kb, llvm::Value* block, int64_t lanes) const;
  // Its result from vector x of its input, of a block with map `affine`;
  // zeros in the lanes outside `inside` (a padding's, loaded as zeros,
  // which must stay zeros), if given.
  llvm::Value* apply(KernelBuilder& kb, const NormAffine& affine, llvm::Value* x, llvm::Value* inside = nullptr) const;

 private:
  explicit InlinedNorm(const Node& node) : node_(&node) {}
  const Node* node_;
};

// What a kernel reading `value` loads in its place: the inlined batch
// norm's input, or the value itself.
ValueId loadedInPlaceOf(const KernelBuilder& kb, ValueId value);

}  // namespace cnnc

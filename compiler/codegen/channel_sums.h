// Kernels that sum per channel over a whole batch (batch norm's statistics
// and its gamma and beta gradients): one task per channel group
// (ChannelLanes), or, where a layer has too few groups to keep the threads
// busy, one per group and part of the batch (imageParts, workspace.h). Then
// each task stores its part's sums in the node's workspace, and a second
// phase adds the parts up in order: the order is fixed, so results do not
// depend on how the tasks were spread over threads.
#pragma once

#include "compiler/codegen/channel_lanes.h"

namespace cnnc {

struct ChannelSums {
  size_t count;  // sums per channel
  // What to sum, for a group: called once per task, before its loop over
  // the vectors, so that per-channel values the terms need load there.
  std::function<ChannelLanes::Terms(ChannelLanes&)> terms;
  // The rest of a group's work, with its totals: the kernel's stores.
  std::function<void(ChannelLanes&, const std::vector<llvm::Value*>&)> finish;
};

// What the kernel of batch_norm_bwd_gamma `id` sums: dy * xhat for each of
// its gamma gradients (gammaGradientsOfKernel), then dy once if any has a
// fused beta gradient (all of which it is).
struct GammaSums {
  std::vector<ValueId> gammas, betas;
  size_t count() const { return gammas.size() + (betas.empty() ? 0 : 1); }
};
GammaSums gammaSumsOf(const Graph& graph, ValueId id);

// Emits the kernel of node `id`, which sums over `image`; returns the tasks
// of its last phase.
int64_t emitChannelSums(KernelBuilder& kb, ValueId id, ValueId image, const ChannelSums& sums);

// Batch statistics from one pass over the `count` elements of each channel
// (batch_norm_stats, and the statistics fused into a convolution): given
// the sums s1 of d = x - shift and s2 of d^2, the mean shift + s1 / count
// and the biased variance s2 / count - (s1 / count)^2, at least 0 (rounding
// can take it below). The shift keeps s2 from cancelling against the mean's
// square where the mean is large beside the spread. Vectors of any width.
struct Moments {
  llvm::Value* mean;
  llvm::Value* variance;
};
Moments shiftedMoments(KernelBuilder& kb, llvm::Value* shift, llvm::Value* s1, llvm::Value* s2, double count);

// Batch norm's 1 / sqrt(variance + epsilon), lanewise. Vectors of any width.
llvm::Value* inverseStd(KernelBuilder& kb, llvm::Value* variance, double epsilon);

// A batch norm as the affine map it is once its statistics are known, per
// channel (vectors of per-channel values): (x - mean) scale + shift, where
// scale = gamma / sqrt(variance + epsilon) and shift = beta. The batch
// norms' own kernels, the convolutions they are folded into
// (ir/fused_norm.h) and the readers they are inlined into
// (ir/inlined_norm.h) apply the same one.
struct NormAffine {
  llvm::Value* mean;
  llvm::Value* scale;
  llvm::Value* shift;
  llvm::Value* apply(KernelBuilder& kb, llvm::Value* x) const;
};
// That of batch norm `node` (normParameters: a batch_norm, batch_norm_train
// or conv2d with a folded one), its per-channel values loaded by
// perChannel(value, element offset of the channels' first).
using PerChannelLoad = std::function<llvm::Value*(ValueId value, int64_t offset)>;
NormAffine normAffine(KernelBuilder& kb, const Node& node, const PerChannelLoad& perChannel);
// That of channel block `block` (an i64) of a channel-blocked batch norm,
// whose vectors of `lanes` per-channel values are the block's channels.
NormAffine blockNormAffine(KernelBuilder& kb, const Node& node, llvm::Value* block, int64_t lanes);

}  // namespace cnnc

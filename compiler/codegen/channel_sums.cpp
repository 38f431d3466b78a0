#include "compiler/codegen/channel_sums.h"

#include "compiler/codegen/workspace.h"
#include "ir/fused_bias_gradient.h"
#include "ir/fused_norm.h"
#include "ir/fused_statistics.h"

namespace cnnc {

int64_t emitChannelSums(KernelBuilder& kb, ValueId id, ValueId image, const ChannelSums& sums) {
  auto& ir = kb.ir();
  const int64_t groups = ChannelLanes::groups(kb, image), parts = imageParts(kb.graph(), image);
  if (parts == 1) {
    kb.loop(kb.taskBegin(), kb.taskEnd(), [&](llvm::Value* group) {
      ChannelLanes lanes(kb, image, group);
      sums.finish(lanes, lanes.sums(sums.count, sums.terms(lanes), lanes.allImages()));
    });
    return groups;
  }
  // Part p's k-th sums of all channels, after the node's result.
  const int64_t channels = kb.dims(image)[1], workspace = *elementCount(kb.graph().node(id).type);
  auto partial = [&](llvm::Value* part, size_t k) {
    llvm::Value* row = ir.CreateAdd(ir.CreateMul(part, kb.i64(static_cast<int64_t>(sums.count))),
                                    kb.i64(static_cast<int64_t>(k)));
    return ir.CreateAdd(kb.i64(workspace), ir.CreateMul(row, kb.i64(channels)));
  };
  kb.loop(kb.taskBegin(), kb.taskEnd(), [&](llvm::Value* task) {
    llvm::Value* part = ir.CreateSRem(task, kb.i64(parts));
    ChannelLanes lanes(kb, image, ir.CreateSDiv(task, kb.i64(parts)));
    const std::vector<llvm::Value*> totals = lanes.sums(sums.count, sums.terms(lanes), lanes.part(part, parts));
    for (size_t k = 0; k < sums.count; ++k) lanes.storePerChannel(id, partial(part, k), totals[k]);
  });
  kb.nextPhase(groups * parts);
  // One task: a few vectors per group, not worth waking a thread for.
  kb.loop(kb.taskBegin(), kb.taskEnd(), [&](llvm::Value*) {
    kb.loop(0, groups, [&](llvm::Value* group) {
      ChannelLanes lanes(kb, image, group);
      std::vector<llvm::Value*> totals;
      for (size_t k = 0; k < sums.count; ++k)
        totals.push_back(addInOrder(kb, parts, [&](int64_t p) { return lanes.loadPerChannel(id, partial(kb.i64(p), k)); }));
      sums.finish(lanes, totals);
    });
  });
  return 1;
}

Moments shiftedMoments(KernelBuilder& kb, llvm::Value* shift, llvm::Value* s1, llvm::Value* s2, double count) {
  auto& ir = kb.ir();
  llvm::Value* n = llvm::ConstantFP::get(s1->getType(), count);
  llvm::Value* meanShift = ir.CreateFDiv(s1, n);
  llvm::Value* variance = ir.CreateFSub(ir.CreateFDiv(s2, n), ir.CreateFMul(meanShift, meanShift));
  return {ir.CreateFAdd(shift, meanShift), ir.CreateMaxNum(variance, llvm::Constant::getNullValue(s1->getType()))};
}

GammaSums gammaSumsOf(const Graph& graph, ValueId id) {
  GammaSums sums{gammaGradientsOfKernel(graph, id), {}};
  for (ValueId gamma : sums.gammas)
    if (std::optional<ValueId> beta = fusedBiasGradient(graph, graph.node(gamma))) sums.betas.push_back(*beta);
  return sums;
}

llvm::Value* inverseStd(KernelBuilder& kb, llvm::Value* variance, double epsilon) {
  auto& ir = kb.ir();
  llvm::Value* shifted = ir.CreateFAdd(variance, llvm::ConstantFP::get(variance->getType(), epsilon));
  // Without reassociation: with it, LLVM folds the reciprocal into the
  // products that use it, (X * (1 / Y) to X / Y), which moved the division
  // into the loops over the elements, a vdivps per vector where one per
  // channel does (every batch norm kernel of ResNet had one).
  llvm::IRBuilder<>::FastMathFlagGuard keep(ir);
  ir.clearFastMathFlags();
  return ir.CreateFDiv(llvm::ConstantFP::get(variance->getType(), 1.0), kb.callMath(llvm::Intrinsic::sqrt, shifted));
}

llvm::Value* NormAffine::apply(KernelBuilder& kb, llvm::Value* x) const {
  auto& ir = kb.ir();
  return ir.CreateFAdd(ir.CreateFMul(ir.CreateFSub(x, mean), scale), shift);
}

NormAffine normAffine(KernelBuilder& kb, const Node& node, const PerChannelLoad& perChannel) {
  const NormParameters p = normParameters(node);
  auto load = [&](const PerChannel& at) { return perChannel(at.value, at.offset); };
  llvm::Value* mean = load(p.mean);
  llvm::Value* variance = load(p.variance);
  llvm::Value* gamma = load(p.gamma);
  llvm::Value* beta = load(p.beta);
  return {mean, kb.ir().CreateFMul(gamma, inverseStd(kb, variance, p.epsilon)), beta};
}

NormAffine blockNormAffine(KernelBuilder& kb, const Node& node, llvm::Value* block, int64_t lanes) {
  llvm::Value* first = kb.ir().CreateMul(block, kb.i64(lanes));
  return normAffine(kb, node, [&](ValueId value, int64_t offset) {
    return kb.loadVector(value, kb.ir().CreateAdd(first, kb.i64(offset)), lanes);
  });
}

}  // namespace cnnc

// batch_norm in all its forms, over channel groups (ChannelLanes): every
// element of a group's channels is visited in vectors, and per-channel
// values are vectors alike. The sums over the batch are channel_sums.h's;
// the elementwise forms take a task per group and image.
#include <llvm/Analysis/VectorUtils.h>

#include "compiler/codegen/activation.h"
#include "compiler/codegen/channel_sums.h"
#include "compiler/codegen/emitters.h"
#include "ir/fused_activation.h"
#include "ir/fused_relu_mask.h"
#include "ir/fused_residual.h"
#include "ir/inlined_norm.h"
#include "ir/layout.h"

namespace cnnc {
namespace {

llvm::Value* inverseStd(KernelBuilder& kb, llvm::Value* variance, const Node& node) {
  return inverseStd(kb, variance, *getFloat(node.attrs, "epsilon"));
}

// r' = momentum r + (1 - momentum) batch (the variance made unbiased), on
// [C] vectors; one task.
int64_t emitRunningStatistic(KernelBuilder& kb, ValueId id) {
  const Node& node = kb.graph().node(id);
  auto& ir = kb.ir();
  const ValueId running = node.operands[0], stats = node.operands[1];
  const int64_t C = node.type.dims[0], row = *getInt(node.attrs, "row"), count = *getInt(node.attrs, "count");
  const double momentum = *getFloat(node.attrs, "momentum");
  const double correction = row == 1 && count > 1 ? static_cast<double>(count) / static_cast<double>(count - 1) : 1.0;
  kb.loop(kb.taskBegin(), kb.taskEnd(), [&](llvm::Value*) {
    kb.loop(0, C, [&](llvm::Value* c) {
      llvm::Value* batch = ir.CreateFMul(kb.load(stats, ir.CreateAdd(c, kb.i64(row * C))), kb.f32(correction));
      llvm::Value* next = ir.CreateFAdd(ir.CreateFMul(kb.f32(momentum), kb.load(running, c)),
                                        ir.CreateFMul(kb.f32(1.0 - momentum), batch));
      kb.store(id, c, next);
    });
  });
  return 1;
}

// batch_norm_stats and batch_norm_bwd_gamma: sums over the batch per channel.
int64_t emitBatchSums(KernelBuilder& kb, ValueId id) {
  const Node& node = kb.graph().node(id);
  auto& ir = kb.ir();
  const ValueId x = node.operands[node.op == Op::BatchNormStats ? 0 : 1];
  const int64_t C = kb.dims(x)[1];
  const auto M = static_cast<double>(*elementCount(kb.graph().node(x).type) / C);
  if (node.op == Op::BatchNormStats) {
    // One pass over x (memory-bound: two would read it twice): the sums of
    // d = x - K and of d^2, K the channel's first element (shiftedMoments).
    return emitChannelSums(kb, id, x, {2, [&](ChannelLanes& lanes) -> ChannelLanes::Terms {
      llvm::Value* shift = lanes.first(x);
      return [&, shift](const ChannelLanes::Position& at) {
        llvm::Value* d = ir.CreateFSub(lanes.load(x, at), shift);
        return std::vector<llvm::Value*>{d, ir.CreateFMul(d, d)};
      };
    }, [&](ChannelLanes& lanes, const std::vector<llvm::Value*>& sums) {
      const Moments moments = shiftedMoments(kb, lanes.first(x), sums[0], sums[1], M);
      lanes.storePerChannel(id, kb.i64(0), moments.mean);
      lanes.storePerChannel(id, kb.i64(C), moments.variance);
    }});
  }
  // dgamma: dy, x, stats; with the gamma gradients of dy it names
  // (ir/fused_statistics.h) and their fused bias gradients (dbeta), which
  // all sum dy, in the same pass.
  const ValueId dy = node.operands[0];
  const GammaSums sums = gammaSumsOf(kb.graph(), id);
  const std::vector<ValueId>& gammas = sums.gammas;
  return emitChannelSums(kb, id, x, {sums.count(), [&](ChannelLanes& lanes) -> ChannelLanes::Terms {
    std::vector<std::pair<llvm::Value*, llvm::Value*>> scales;  // mean, 1 / std
    for (ValueId gamma : gammas) {
      const Node& norm = kb.graph().node(gamma);
      scales.emplace_back(lanes.loadPerChannel(norm.operands[2], kb.i64(0)),
                          inverseStd(kb, lanes.loadPerChannel(norm.operands[2], kb.i64(C)), norm));
    }
    return [&, scales](const ChannelLanes::Position& at) {
      llvm::Value* gradient = lanes.load(dy, at);
      std::vector<llvm::Value*> terms;
      for (size_t g = 0; g < gammas.size(); ++g) {
        const auto [mean, invStd] = scales[g];
        llvm::Value* xhat = ir.CreateFMul(ir.CreateFSub(lanes.load(kb.graph().node(gammas[g]).operands[1], at), mean), invStd);
        terms.push_back(ir.CreateFMul(gradient, xhat));
      }
      if (!sums.betas.empty()) terms.push_back(gradient);
      return terms;
    };
  }, [&](ChannelLanes& lanes, const std::vector<llvm::Value*>& totals) {
    for (size_t g = 0; g < gammas.size(); ++g) lanes.storePerChannel(gammas[g], kb.i64(0), totals[g]);
    for (ValueId beta : sums.betas) lanes.storePerChannel(beta, kb.i64(0), totals.back());
  }});
}

}  // namespace

int64_t emitNormalization(KernelBuilder& kb, ValueId id) {
  const Node& node = kb.graph().node(id);
  if (node.op == Op::BatchNormRunning) return emitRunningStatistic(kb, id);
  if (node.op == Op::BatchNormStats || node.op == Op::BatchNormBackwardGamma) return emitBatchSums(kb, id);
  auto& ir = kb.ir();
  auto in = [&](size_t i) { return node.operands[i]; };
  const ValueId x = node.op == Op::BatchNormBackwardData ? in(1) : in(0);
  const int64_t C = kb.dims(x)[1], N = kb.dims(x)[0];
  const auto M = static_cast<double>(*elementCount(kb.graph().node(x).type) / C);
  // Tasks: (image, channel group), elementwise with per-channel values;
  // in the batch's order, for batch groups (ir/batch_group.h).
  const int64_t groups = ChannelLanes::groups(kb, x);
  kb.splitsBatch(N);
  kb.loop(kb.taskBegin(), kb.taskEnd(), [&](llvm::Value* task) {
    ChannelLanes lanes(kb, x, ir.CreateSRem(task, kb.i64(groups)));
    const ChannelLanes::Images image = lanes.image(ir.CreateSDiv(task, kb.i64(groups)));
    auto perChannel = [&](ValueId value, int64_t row) { return lanes.loadPerChannel(value, kb.i64(row * C)); };
    if (node.op != Op::BatchNormBackwardData) {
      // inference: x, gamma, beta, running mean, running var; training: x,
      // stats, gamma, beta; either, a fused residual after them (added by
      // finishResult). Batch norm `norm` (this, or the one whose result is
      // the residual) of its input vector: (x - mean) scale + shift.
      auto normalize = [&](const Node& norm) {
        const NormAffine affine = normAffine(
            kb, norm, [&](ValueId value, int64_t offset) { return lanes.loadPerChannel(value, kb.i64(offset)); });
        return [&, affine, input = norm.operands[0]](const ChannelLanes::Position& at) {
          return affine.apply(kb, lanes.load(input, at));
        };
      };
      const auto normalized = normalize(node);
      // A residual that no kernel writes, computed here from its batch
      // norm's input, through that norm and its activation: a residual
      // norm's (ir/fused_residual.h), or an inlined one's (ir/inlined_norm.h).
      std::optional<ValueId> computed = fusedResidualNorm(kb.graph(), node);
      const std::optional<ValueId> residualValue = residualOf(node);
      if (residualValue && isInlined(kb.graph().node(*residualValue))) computed = residualValue;
      std::function<llvm::Value*(const ChannelLanes::Position&)> residual;
      if (computed) {
        const Node& norm = kb.graph().node(*computed);
        residual = [&, normalizedResidual = normalize(norm),
                    activation = fusedActivation(norm.attrs)](const ChannelLanes::Position& at) {
          llvm::Value* value = normalizedResidual(at);
          return activation ? applyActivation(kb, *activation, value) : value;
        };
      }
      // A relu mask (blocked: a vector's bits are whole bytes) goes out 64
      // bits at a time, those of consecutive vectors: a store per vector
      // made ResNet's batch norms 10% slower than none.
      const std::optional<ValueId> reluMask = fusedReluMask(kb.graph(), node);
      const int64_t run = reluMask ? 64 / layoutBlock(node.type.layout) : 1;
      lanes.forEachVectors(run, [&](const std::vector<ChannelLanes::Position>& positions) {
        std::vector<llvm::Value*> passes;
        for (const ChannelLanes::Position& at : positions) {
          llvm::Value* finished =
              finishResult(kb, node, normalized(at), at.index, at.mask, residual ? residual(at) : nullptr);
          lanes.store(id, at, finished);
          if (reluMask) passes.push_back(reluPasses(kb, finished));
        }
        if (reluMask) kb.storeBits(*reluMask, positions.front().index, llvm::concatenateVectors(ir, passes));
      }, image);
      return;
    }
    // batch_norm_bwd_data: dy, x, stats, gamma, dgamma, dbeta.
    llvm::Value* mean = perChannel(in(2), 0);
    llvm::Value* invStd = inverseStd(kb, perChannel(in(2), 1), node);
    llvm::Value* scale = ir.CreateFMul(perChannel(in(3), 0), invStd);
    llvm::Value* dgammaPerM = ir.CreateFDiv(perChannel(in(4), 0), lanes.constant(M));
    llvm::Value* dbetaPerM = ir.CreateFDiv(perChannel(in(5), 0), lanes.constant(M));
    lanes.forEachVector([&](const ChannelLanes::Position& at) {
      llvm::Value* xhat = ir.CreateFMul(ir.CreateFSub(lanes.load(x, at), mean), invStd);
      llvm::Value* inner =
          ir.CreateFSub(ir.CreateFSub(lanes.load(in(0), at), dbetaPerM), ir.CreateFMul(xhat, dgammaPerM));
      lanes.store(id, at, ir.CreateFMul(scale, inner));
    }, image);
  });
  return groups * N;
}

}  // namespace cnnc

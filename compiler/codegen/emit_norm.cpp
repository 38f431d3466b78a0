// batch_norm in all its forms, one channel per task: every element of
// channel c over the batch and the image is visited by forEachInChannel.
#include "compiler/codegen/emitters.h"

namespace cnnc {
namespace {

struct ChannelShape {
  int64_t N, C, S;  // batch, channels, elements per channel of one example
};

ChannelShape channelShape(const std::vector<int64_t>& dims) {
  int64_t spatial = 1;
  for (size_t axis = 2; axis < dims.size(); ++axis) spatial *= dims[axis];
  return {dims[0], dims[1], spatial};
}

void forEachInChannel(KernelBuilder& kb, const ChannelShape& shape, llvm::Value* c,
                      const std::function<void(llvm::Value*)>& body) {
  auto& ir = kb.ir();
  kb.loop(0, shape.N, [&](llvm::Value* n) {
    llvm::Value* base = ir.CreateMul(ir.CreateAdd(ir.CreateMul(n, kb.i64(shape.C)), c), kb.i64(shape.S));
    kb.loop(0, shape.S, [&](llvm::Value* s) { body(ir.CreateAdd(base, s)); });
  });
}

// The sum over channel c of term(index).
llvm::Value* channelSum(KernelBuilder& kb, const ChannelShape& shape, llvm::Value* c,
                        const std::function<llvm::Value*(llvm::Value*)>& term) {
  auto& ir = kb.ir();
  llvm::AllocaInst* total = kb.variable(ir.getFloatTy(), kb.f32(0.0));
  forEachInChannel(kb, shape, c, [&](llvm::Value* i) {
    ir.CreateStore(ir.CreateFAdd(ir.CreateLoad(ir.getFloatTy(), total), term(i)), total);
  });
  return ir.CreateLoad(ir.getFloatTy(), total);
}

llvm::Value* inverseStd(KernelBuilder& kb, llvm::Value* variance, const Node& node) {
  auto& ir = kb.ir();
  llvm::Value* shifted = ir.CreateFAdd(variance, kb.f32(*getFloat(node.attrs, "epsilon")));
  return ir.CreateFDiv(kb.f32(1.0), kb.callMath(llvm::Intrinsic::sqrt, shifted));
}

// The batch mean and biased variance of channel c, from a stats tensor [2,C].
std::pair<llvm::Value*, llvm::Value*> statsOf(KernelBuilder& kb, ValueId stats, llvm::Value* c, int64_t C) {
  return {kb.load(stats, c), kb.load(stats, kb.ir().CreateAdd(c, kb.i64(C)))};
}

}  // namespace

int64_t emitNormalization(KernelBuilder& kb, ValueId id) {
  const Node& node = kb.graph().node(id);
  auto& ir = kb.ir();
  auto in = [&](size_t i) { return node.operands[i]; };
  if (node.op == Op::BatchNormRunning) {
    // r' = momentum r + (1 - momentum) batch (the variance made unbiased); one task.
    const int64_t C = node.type.dims[0], row = *getInt(node.attrs, "row"), count = *getInt(node.attrs, "count");
    const double momentum = *getFloat(node.attrs, "momentum");
    const double correction = row == 1 && count > 1 ? static_cast<double>(count) / static_cast<double>(count - 1) : 1.0;
    kb.loop(kb.taskBegin(), kb.taskEnd(), [&](llvm::Value*) {
      kb.loop(0, C, [&](llvm::Value* c) {
        llvm::Value* batch = ir.CreateFMul(kb.load(in(1), ir.CreateAdd(c, kb.i64(row * C))), kb.f32(correction));
        llvm::Value* next = ir.CreateFAdd(ir.CreateFMul(kb.f32(momentum), kb.load(in(0), c)),
                                          ir.CreateFMul(kb.f32(1.0 - momentum), batch));
        kb.store(id, c, next);
      });
    });
    return 1;
  }
  const ValueId x = node.op == Op::BatchNormBackwardGamma || node.op == Op::BatchNormBackwardData ? in(1) : in(0);
  const ChannelShape shape = channelShape(kb.dims(x));
  const auto M = static_cast<double>(shape.N * shape.S);
  kb.loop(kb.taskBegin(), kb.taskEnd(), [&](llvm::Value* c) {
    switch (node.op) {
      case Op::BatchNormStats: {
        llvm::Value* mean = ir.CreateFDiv(channelSum(kb, shape, c, [&](llvm::Value* i) { return kb.load(x, i); }), kb.f32(M));
        llvm::Value* squares = channelSum(kb, shape, c, [&](llvm::Value* i) {
          llvm::Value* d = ir.CreateFSub(kb.load(x, i), mean);
          return ir.CreateFMul(d, d);
        });
        kb.store(id, c, mean);
        kb.store(id, ir.CreateAdd(c, kb.i64(shape.C)), ir.CreateFDiv(squares, kb.f32(M)));
        return;
      }
      case Op::BatchNorm:
      case Op::BatchNormTrain: {
        // inference: x, gamma, beta, running mean, running var; training: x, stats, gamma, beta.
        const bool training = node.op == Op::BatchNormTrain;
        auto [mean, variance] = training ? statsOf(kb, in(1), c, shape.C)
                                         : std::pair{kb.load(in(3), c), kb.load(in(4), c)};
        llvm::Value* scale = ir.CreateFMul(kb.load(in(training ? 2 : 1), c), inverseStd(kb, variance, node));
        llvm::Value* shift = kb.load(in(training ? 3 : 2), c);
        forEachInChannel(kb, shape, c, [&](llvm::Value* i) {
          kb.store(id, i, ir.CreateFAdd(ir.CreateFMul(ir.CreateFSub(kb.load(x, i), mean), scale), shift));
        });
        return;
      }
      case Op::BatchNormBackwardGamma: {
        auto [mean, variance] = statsOf(kb, in(2), c, shape.C);
        llvm::Value* invStd = inverseStd(kb, variance, node);
        kb.store(id, c, channelSum(kb, shape, c, [&](llvm::Value* i) {
          return ir.CreateFMul(kb.load(in(0), i), ir.CreateFMul(ir.CreateFSub(kb.load(x, i), mean), invStd));
        }));
        return;
      }
      default: {  // batch_norm_bwd_data: dy, x, stats, gamma, dgamma, dbeta
        auto [mean, variance] = statsOf(kb, in(2), c, shape.C);
        llvm::Value* invStd = inverseStd(kb, variance, node);
        llvm::Value* scale = ir.CreateFMul(kb.load(in(3), c), invStd);
        llvm::Value* dgammaPerM = ir.CreateFDiv(kb.load(in(4), c), kb.f32(M));
        llvm::Value* dbetaPerM = ir.CreateFDiv(kb.load(in(5), c), kb.f32(M));
        forEachInChannel(kb, shape, c, [&](llvm::Value* i) {
          llvm::Value* xhat = ir.CreateFMul(ir.CreateFSub(kb.load(x, i), mean), invStd);
          llvm::Value* inner = ir.CreateFSub(ir.CreateFSub(kb.load(in(0), i), dbetaPerM), ir.CreateFMul(xhat, dgammaPerM));
          kb.store(id, i, ir.CreateFMul(scale, inner));
        });
        return;
      }
    }
  });
  return shape.C;
}

}  // namespace cnnc

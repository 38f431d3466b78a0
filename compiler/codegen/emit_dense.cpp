// Dense layers as register-blocked vector code. Vectors run along the
// contiguous feature axis; a register block holds a few rows of the result
// by a few of its columns (forward, summed across lanes at the end) or a
// few of its vectors (backward), so that every load feeds several FMAs and
// enough accumulators are in flight to hide their latency. A partial vector
// at the end of the feature axis is masked.
#include "compiler/codegen/activation.h"
#include "compiler/codegen/emitters.h"
#include "compiler/conv_tiles.h"
#include "ir/fused_bias_gradient.h"

namespace cnnc {
namespace {

// The mask of the vector of `count` features that starts at f (a run-time
// value), or null when count is a whole number of vectors.
llvm::Value* tailMask(KernelBuilder& kb, int64_t count, llvm::Value* f) {
  return count % kb.width() == 0 ? nullptr : kb.firstLanes(kb.ir().CreateSub(kb.i64(count), f));
}

// y [N,U] = activation(x [N,F] . w [U,F]^T + bias); tasks: (NB rows, UB
// units), with NB x UB accumulators along F.
int64_t emitForward(KernelBuilder& kb, ValueId id) {
  const Node& node = kb.graph().node(id);
  const ValueId x = node.operands[0], w = node.operands[1];
  const int64_t N = kb.dims(x)[0], F = kb.dims(x)[1], U = kb.dims(w)[0];
  const int64_t NB = largestDivisorUpTo(N, 4), UB = largestDivisorUpTo(U, kb.target().accumulatorRegisters() / NB);
  const int64_t unitBlocks = U / UB;
  auto& ir = kb.ir();
  kb.loop(kb.taskBegin(), kb.taskEnd(), [&](llvm::Value* task) {
    llvm::Value* n0 = ir.CreateMul(ir.CreateSDiv(task, kb.i64(unitBlocks)), kb.i64(NB));
    llvm::Value* u0 = ir.CreateMul(ir.CreateSRem(task, kb.i64(unitBlocks)), kb.i64(UB));
    auto row = [&](llvm::Value* first, int64_t k, llvm::Value* f) {
      return ir.CreateAdd(ir.CreateMul(ir.CreateAdd(first, kb.i64(k)), kb.i64(F)), f);
    };
    Accumulators acc(kb, static_cast<size_t>(NB * UB), [&](size_t) { return kb.f32(0.0); });
    kb.loop(0, F, [&](llvm::Value* f) {
      llvm::Value* mask = tailMask(kb, F, f);
      std::vector<llvm::Value*> weights;
      for (int64_t c = 0; c < UB; ++c) weights.push_back(kb.loadVector(w, row(u0, c, f), kb.width(), mask));
      for (int64_t r = 0; r < NB; ++r) {
        llvm::Value* input = kb.loadVector(x, row(n0, r, f), kb.width(), mask);
        for (int64_t c = 0; c < UB; ++c) acc.fma(static_cast<size_t>(r * UB + c), input, weights[static_cast<size_t>(c)]);
      }
    }, kb.width());
    for (int64_t r = 0; r < NB; ++r)
      for (int64_t c = 0; c < UB; ++c) {
        llvm::Value* u = ir.CreateAdd(u0, kb.i64(c));
        llvm::Value* y = kb.sum(acc.get(static_cast<size_t>(r * UB + c)));
        if (node.operands.size() == 3) y = ir.CreateFAdd(y, kb.load(node.operands[2], u));
        llvm::Value* at = ir.CreateAdd(ir.CreateMul(ir.CreateAdd(n0, kb.i64(r)), kb.i64(U)), u);
        kb.store(id, at, finishResult(kb, node, y, at));
      }
  });
  return (N / NB) * unitBlocks;
}

// dx [N,F] = dy [N,U] . w [U,F]   (operands dy, w), or
// dw [U,F] = dy [N,U]^T . x [N,F] (operands dy, x), with a fused bias
// gradient db [U] = the sums of dy's columns: both are out [T,F] = sums
// over k of rows [K,F] scaled by entries of dy. Tasks: (TB rows of
// out, V vectors of F), with TB x V accumulators.
int64_t emitBackward(KernelBuilder& kb, ValueId id) {
  const Node& node = kb.graph().node(id);
  const ValueId dy = node.operands[0], rows = node.operands[1];
  const int64_t N = kb.dims(dy)[0], U = kb.dims(dy)[1], F = kb.dims(rows)[1];
  const bool data = node.op == Op::DenseBackwardData;
  const std::optional<ValueId> bias = fusedBiasGradient(kb.graph(), node);
  const int64_t T = data ? N : U, K = data ? U : N, b = kb.width();
  const int64_t TB = largestDivisorUpTo(T, 4), vectors = (F + b - 1) / b;
  const int64_t V = largestDivisorUpTo(vectors, kb.target().accumulatorRegisters() / TB), featureBlocks = vectors / V;
  auto& ir = kb.ir();
  kb.loop(kb.taskBegin(), kb.taskEnd(), [&](llvm::Value* task) {
    llvm::Value* t0 = ir.CreateMul(ir.CreateSDiv(task, kb.i64(featureBlocks)), kb.i64(TB));
    llvm::Value* f0 = ir.CreateMul(ir.CreateSRem(task, kb.i64(featureBlocks)), kb.i64(V * b));
    std::vector<llvm::Value*> features, masks;
    for (int64_t v = 0; v < V; ++v) {
      features.push_back(ir.CreateAdd(f0, kb.i64(v * b)));
      masks.push_back(tailMask(kb, F, features.back()));
    }
    Accumulators acc(kb, static_cast<size_t>(TB * V), [&](size_t) { return kb.f32(0.0); });
    kb.loop(0, K, [&](llvm::Value* k) {
      std::vector<llvm::Value*> vecs;
      for (int64_t v = 0; v < V; ++v)
        vecs.push_back(kb.loadVector(rows, ir.CreateAdd(ir.CreateMul(k, kb.i64(F)), features[static_cast<size_t>(v)]), b,
                                     masks[static_cast<size_t>(v)]));
      for (int64_t r = 0; r < TB; ++r) {
        llvm::Value* t = ir.CreateAdd(t0, kb.i64(r));
        // data: dy[n=t, u=k]; weight: dy[n=k, u=t]
        llvm::Value* at = data ? ir.CreateAdd(ir.CreateMul(t, kb.i64(U)), k) : ir.CreateAdd(ir.CreateMul(k, kb.i64(U)), t);
        llvm::Value* scale = kb.splat(kb.load(dy, at));
        for (int64_t v = 0; v < V; ++v) acc.fma(static_cast<size_t>(r * V + v), vecs[static_cast<size_t>(v)], scale);
      }
    });
    for (int64_t r = 0; r < TB; ++r)
      for (int64_t v = 0; v < V; ++v) {
        llvm::Value* at = ir.CreateAdd(ir.CreateMul(ir.CreateAdd(t0, kb.i64(r)), kb.i64(F)), features[static_cast<size_t>(v)]);
        llvm::Value* mask = masks[static_cast<size_t>(v)];
        kb.storeVector(id, at, finishResult(kb, node, acc.get(static_cast<size_t>(r * V + v)), at, mask), mask);
      }
    // A fused bias gradient, in the tasks of the first features: their
    // units as bias_grad sums them (db[u] = the sum of dy[n, u] over n).
    if (bias)
      kb.when(ir.CreateICmpEQ(f0, kb.i64(0)), [&] {
        for (int64_t r = 0; r < TB; ++r) emitBiasGradGroup(kb, *bias, dy, ir.CreateAdd(t0, kb.i64(r)));
      });
  });
  return (T / TB) * featureBlocks;
}

}  // namespace

int64_t emitDense(KernelBuilder& kb, ValueId id) {
  return kb.graph().node(id).op == Op::Dense ? emitForward(kb, id) : emitBackward(kb, id);
}

}  // namespace cnnc

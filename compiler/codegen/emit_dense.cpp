// Dense layers as explicit vector code: the vector runs along the
// contiguous feature axis of both operands, accumulating with fused
// multiply-adds; partial vectors at the end are masked.
#include "compiler/codegen/activation.h"
#include "compiler/codegen/emitters.h"

namespace cnnc {
namespace {

// Runs body(f0, mask) over [0, count) in vector steps.
void vectorLoop(KernelBuilder& kb, int64_t count, const std::function<void(llvm::Value*, llvm::Value*)>& body) {
  kb.loop(0, count, [&](llvm::Value* f0) {
    body(f0, kb.firstLanes(kb.ir().CreateSub(kb.i64(count), f0)));
  }, kb.width());
}

// y [N,U] = activation(x [N,F] . w [U,F]^T + bias); tasks: n.
int64_t emitForward(KernelBuilder& kb, ValueId id) {
  const Node& node = kb.graph().node(id);
  const ValueId x = node.operands[0], w = node.operands[1];
  const int64_t N = kb.dims(x)[0], F = kb.dims(x)[1], U = kb.dims(w)[0];
  auto& ir = kb.ir();
  kb.loop(kb.taskBegin(), kb.taskEnd(), [&](llvm::Value* n) {
    kb.loop(0, U, [&](llvm::Value* u) {
      Accumulators acc(kb, 1, [&](size_t) { return kb.f32(0.0); });
      vectorLoop(kb, F, [&](llvm::Value* f0, llvm::Value* mask) {
        llvm::Value* xv = kb.loadLanes(x, ir.CreateAdd(ir.CreateMul(n, kb.i64(F)), f0), 1, mask);
        llvm::Value* wv = kb.loadLanes(w, ir.CreateAdd(ir.CreateMul(u, kb.i64(F)), f0), 1, mask);
        acc.fma(0, xv, wv);
      });
      llvm::Value* y = kb.sum(acc.get(0));
      if (node.operands.size() == 3) y = ir.CreateFAdd(y, kb.load(node.operands[2], u));
      kb.store(id, ir.CreateAdd(ir.CreateMul(n, kb.i64(U)), u), applyActivation(kb, node, y));
    });
  });
  return N;
}

// dx [N,F] = dy [N,U] . w [U,F]   (operands dy, w; tasks: n), or
// dw [U,F] = dy [N,U]^T . x [N,F] (operands dy, x; tasks: u): both sum rows
// of a [*,F] matrix scaled by entries of dy.
int64_t emitBackward(KernelBuilder& kb, ValueId id) {
  const Node& node = kb.graph().node(id);
  const ValueId dy = node.operands[0], rows = node.operands[1];
  const int64_t N = kb.dims(dy)[0], U = kb.dims(dy)[1], F = kb.dims(rows)[1];
  const bool data = node.op == Op::DenseBackwardData;
  auto& ir = kb.ir();
  kb.loop(kb.taskBegin(), kb.taskEnd(), [&](llvm::Value* task) {
    vectorLoop(kb, F, [&](llvm::Value* f0, llvm::Value* mask) {
      Accumulators acc(kb, 1, [&](size_t) { return kb.f32(0.0); });
      kb.loop(0, data ? U : N, [&](llvm::Value* k) {
        // data: dy[n=task, u=k] * w[u=k, f]; weight: dy[n=k, u=task] * x[n=k, f]
        llvm::Value* scale = data ? kb.load(dy, ir.CreateAdd(ir.CreateMul(task, kb.i64(U)), k))
                                  : kb.load(dy, ir.CreateAdd(ir.CreateMul(k, kb.i64(U)), task));
        llvm::Value* row = kb.loadLanes(rows, ir.CreateAdd(ir.CreateMul(k, kb.i64(F)), f0), 1, mask);
        acc.fma(0, row, kb.splat(scale));
      });
      kb.storeLanes(id, ir.CreateAdd(ir.CreateMul(task, kb.i64(F)), f0), acc.get(0), mask);
    });
  });
  return data ? N : U;
}

}  // namespace

int64_t emitDense(KernelBuilder& kb, ValueId id) {
  return kb.graph().node(id).op == Op::Dense ? emitForward(kb, id) : emitBackward(kb, id);
}

}  // namespace cnnc

// Softmax and the softmax cross-entropy loss, one row of logits at a time,
// always shifted by the row's maximum so that exp never overflows.
#include <cmath>

#include "compiler/codegen/emitters.h"

namespace cnnc {
namespace {

struct Row {
  llvm::Value* base;  // index of the row's first logit
  llvm::Value* peak;  // its largest logit
  llvm::Value* sum;   // sum of exp(logit - peak)
};

// Reads row n of logits [N,K] and the two reductions every consumer needs.
Row readRow(KernelBuilder& kb, ValueId logits, llvm::Value* n, int64_t K) {
  auto& ir = kb.ir();
  llvm::Type* f32 = ir.getFloatTy();
  llvm::Value* base = ir.CreateMul(n, kb.i64(K));
  llvm::AllocaInst* peak = kb.variable(f32, kb.f32(-INFINITY));
  kb.loop(0, K, [&](llvm::Value* k) {
    ir.CreateStore(ir.CreateMaxNum(ir.CreateLoad(f32, peak), kb.load(logits, ir.CreateAdd(base, k))), peak);
  });
  llvm::Value* peakValue = ir.CreateLoad(f32, peak);
  llvm::AllocaInst* sum = kb.variable(f32, kb.f32(0.0));
  kb.loop(0, K, [&](llvm::Value* k) {
    llvm::Value* e = kb.callMath(llvm::Intrinsic::exp, ir.CreateFSub(kb.load(logits, ir.CreateAdd(base, k)), peakValue));
    ir.CreateStore(ir.CreateFAdd(ir.CreateLoad(f32, sum), e), sum);
  });
  return {base, peakValue, ir.CreateLoad(f32, sum)};
}

llvm::Value* labelOf(KernelBuilder& kb, ValueId labels, llvm::Value* n) {
  return kb.ir().CreateSExtOrTrunc(kb.load(labels, n), kb.ir().getInt64Ty());
}

}  // namespace

int64_t emitLoss(KernelBuilder& kb, ValueId id) {
  const Node& node = kb.graph().node(id);
  const ValueId logits = node.operands[0];
  const int64_t N = kb.dims(logits)[0], K = kb.dims(logits)[1];
  auto& ir = kb.ir();
  if (node.op == Op::SoftmaxCrossEntropy) {
    // mean over n of log(sum) + peak - logit[label]; one task.
    llvm::AllocaInst* total = kb.variable(ir.getFloatTy(), kb.f32(0.0));
    kb.loop(kb.taskBegin(), kb.taskEnd(), [&](llvm::Value*) {
      kb.loop(0, N, [&](llvm::Value* n) {
        Row row = readRow(kb, logits, n, K);
        llvm::Value* picked = kb.load(logits, ir.CreateAdd(row.base, labelOf(kb, node.operands[1], n)));
        llvm::Value* loss = ir.CreateFSub(ir.CreateFAdd(kb.callMath(llvm::Intrinsic::log, row.sum), row.peak), picked);
        ir.CreateStore(ir.CreateFAdd(ir.CreateLoad(ir.getFloatTy(), total), loss), total);
      });
      kb.store(id, kb.i64(0), ir.CreateFDiv(ir.CreateLoad(ir.getFloatTy(), total), kb.f32(static_cast<double>(N))));
    });
    return 1;
  }
  // softmax, or its cross-entropy gradient (softmax - onehot) / N; tasks: n.
  const bool gradient = node.op == Op::SoftmaxCrossEntropyBackward;
  kb.loop(kb.taskBegin(), kb.taskEnd(), [&](llvm::Value* n) {
    Row row = readRow(kb, logits, n, K);
    llvm::Value* label = gradient ? labelOf(kb, node.operands[1], n) : nullptr;
    kb.loop(0, K, [&](llvm::Value* k) {
      llvm::Value* at = ir.CreateAdd(row.base, k);
      llvm::Value* p =
          ir.CreateFDiv(kb.callMath(llvm::Intrinsic::exp, ir.CreateFSub(kb.load(logits, at), row.peak)), row.sum);
      if (gradient) {
        llvm::Value* onehot = ir.CreateUIToFP(ir.CreateICmpEQ(k, label), ir.getFloatTy());
        p = ir.CreateFDiv(ir.CreateFSub(p, onehot), kb.f32(static_cast<double>(N)));
      }
      kb.store(id, at, p);
    });
  });
  return N;
}

}  // namespace cnnc

#include "compiler/codegen/blocked_conv.h"

#include <algorithm>

namespace cnnc::blocked {

// Calls body for every run of output columns of a row: border columns one
// by one with the taps that fall inside the image, interior columns in runs
// of about `maxRun` (as even as the interior allows).
void forEachColumnRun(KernelBuilder& kb, int64_t outWidth, int64_t inWidth, int64_t kw, const WindowAttrs& win,
                      int64_t maxRun, const std::function<void(const ColumnRun&)>& body) {
  auto taps = [&](int64_t ow) {
    const int64_t first = ow * win.sw - win.padLeft;
    return std::pair<int64_t, int64_t>{std::max<int64_t>(0, -first), std::min(kw, inWidth - first)};
  };
  auto interior = [&](int64_t ow) { return taps(ow) == std::pair<int64_t, int64_t>{0, kw}; };
  int64_t lo = 0, hi = outWidth;
  while (lo < outWidth && !interior(lo)) ++lo;
  while (hi > lo && !interior(hi - 1)) --hi;
  auto border = [&](int64_t ow) {
    const auto [jLo, jHi] = taps(ow);
    body({kb.i64(ow), 1, jLo, jHi});
  };
  for (int64_t ow = 0; ow < lo; ++ow) border(ow);
  if (hi > lo) {
    const int64_t runs = (hi - lo + maxRun - 1) / maxRun, run = (hi - lo + runs - 1) / runs;
    const int64_t full = (hi - lo) / run, rest = (hi - lo) % run;
    kb.loop(lo, lo + full * run, [&](llvm::Value* ow) { body({ow, run, 0, kw}); }, run);
    if (rest) body({kb.i64(lo + full * run), rest, 0, kw});
  }
  for (int64_t ow = hi; ow < outWidth; ++ow) border(ow);
}

// The outputs [lo, hi) of an axis whose input o*stride + tap - pad lies in
// [0, in), for a run-time filter tap.
std::pair<llvm::Value*, llvm::Value*> outputsInside(KernelBuilder& kb, llvm::Value* tap, int64_t pad, int64_t stride,
                                                    int64_t in, int64_t out) {
  auto& ir = kb.ir();
  llvm::Value* shift = ir.CreateSub(kb.i64(pad), tap);
  llvm::Value* lo = ir.CreateBinaryIntrinsic(llvm::Intrinsic::smax, kb.i64(0),
                                             ir.CreateSDiv(add(kb, shift, stride - 1), kb.i64(stride)));
  llvm::Value* last = add(kb, shift, in - 1);
  llvm::Value* hi = ir.CreateSelect(
      ir.CreateICmpSLT(last, kb.i64(0)), kb.i64(0),
      ir.CreateBinaryIntrinsic(llvm::Intrinsic::smin, kb.i64(out), add(kb, ir.CreateSDiv(last, kb.i64(stride)), 1)));
  return {lo, hi};
}

int64_t forEachRowsTask(KernelBuilder& kb, int64_t images, int64_t blocks, int64_t rows, int64_t groupBlocks,
                        int64_t taskRows, const std::function<void(const RowsTask&)>& body) {
  const int64_t groups = blocks / groupBlocks, rowBlocks = (rows + taskRows - 1) / taskRows;
  auto& ir = kb.ir();
  kb.loop(kb.taskBegin(), kb.taskEnd(), [&](llvm::Value* task) {
    llvm::Value* group = ir.CreateSRem(ir.CreateSDiv(task, kb.i64(rowBlocks)), kb.i64(groups));
    llvm::Value* firstRow = ir.CreateMul(ir.CreateSRem(task, kb.i64(rowBlocks)), kb.i64(taskRows));
    body({ir.CreateSDiv(task, kb.i64(groups * rowBlocks)), ir.CreateMul(group, kb.i64(groupBlocks)), firstRow,
          ir.CreateBinaryIntrinsic(llvm::Intrinsic::smin, add(kb, firstRow, taskRows), kb.i64(rows))});
  });
  return images * groups * rowBlocks;
}

}  // namespace cnnc::blocked

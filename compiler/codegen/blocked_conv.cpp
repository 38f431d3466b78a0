#include "compiler/codegen/blocked_conv.h"

#include <algorithm>

namespace cnnc::blocked {

void forEachColumnRun(KernelBuilder& kb, int64_t outWidth, int64_t inWidth, int64_t kw, const WindowAttrs& win,
                      int64_t maxRun, const std::function<void(const ColumnRun&)>& body) {
  const int64_t runs = (outWidth + maxRun - 1) / maxRun;
  // The first `outWidth % runs` runs are a column longer than the others.
  auto length = [&](int64_t t) { return outWidth / runs + (t < outWidth % runs ? 1 : 0); };
  auto span = [&](int64_t count) { return (count - 1) * win.sw + kw; };
  auto inside = [&](int64_t first, int64_t count) {
    const int64_t start = first * win.sw - win.padLeft;
    return std::pair<int64_t, int64_t>{std::max<int64_t>(0, -start), std::min(span(count), inWidth - start)};
  };
  auto interior = [&](int64_t first, int64_t count) {
    return inside(first, count) == std::pair<int64_t, int64_t>{0, span(count)};
  };
  int64_t first = 0;
  for (int64_t t = 0; t < runs;) {
    const int64_t count = length(t);
    if (!interior(first, count)) {
      const auto [lo, hi] = inside(first, count);
      body({kb.i64(first), count, lo, hi});
      first += count;
      ++t;
      continue;
    }
    int64_t end = first;
    for (; t < runs && length(t) == count && interior(end, count); ++t) end += count;
    kb.loop(first, end, [&](llvm::Value* at) { body({at, count, 0, span(count)}); }, count);
    first = end;
  }
}

std::vector<std::pair<int64_t, int64_t>> readersOf(int64_t offset, int64_t count, int64_t kw, int64_t stride) {
  std::vector<std::pair<int64_t, int64_t>> readers;
  for (int64_t j = 0; j < kw && j <= offset; ++j)
    if ((offset - j) % stride == 0 && (offset - j) / stride < count) readers.emplace_back((offset - j) / stride, j);
  return readers;
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

}  // namespace cnnc::blocked

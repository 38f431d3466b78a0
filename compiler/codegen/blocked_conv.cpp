#include "compiler/codegen/blocked_conv.h"

#include <algorithm>

#include <fmt/format.h>

#include "compiler/codegen/activation.h"
#include "compiler/codegen/workspace.h"

namespace cnnc::blocked {

void forEachColumnRun(KernelBuilder& kb, int64_t outWidth, int64_t inWidth, int64_t kw, const WindowAttrs& win,
                      int64_t maxRun, const std::function<void(const ColumnRun&)>& body) {
  const ColumnAxis axis{outWidth, inWidth, kw, win.sw, win.padLeft};
  const std::vector<RunShape> runs = columnRuns(axis, maxRun);
  for (size_t t = 0; t < runs.size();) {
    const RunShape& run = runs[t];
    if (!isInterior(axis, run)) {
      body({kb.i64(run.first), run.count, run.inputLo, run.inputHi});
      ++t;
      continue;
    }
    size_t end = t;
    while (end < runs.size() && runs[end].count == run.count && isInterior(axis, runs[end])) ++end;
    kb.loop(run.first, run.first + static_cast<int64_t>(end - t) * run.count,
            [&](llvm::Value* first) { body({first, run.count, run.inputLo, run.inputHi}); }, run.count);
    t = end;
  }
}

void multiplyRun(KernelBuilder& kb, const RunFmas& fmas, Accumulators& acc, llvm::Value* origin,
                 const std::function<llvm::Value*(int64_t k, int64_t tap)>& filter,
                 const std::function<llvm::Value*(int64_t q, llvm::Value* origin, int64_t offset)>& input,
                 const std::function<size_t(int64_t q, int64_t k, int64_t column)>& slot) {
  // Steps of the taps whose filter vectors are held together (all of them,
  // or one), each with its input offsets and the (column, tap) pairs that
  // read each.
  struct Step {
    std::vector<int64_t> taps;
    std::vector<std::pair<int64_t, std::vector<std::pair<int64_t, int64_t>>>> reads;
  };
  const int64_t kw = fmas.axis.kw;
  std::vector<Step> steps(static_cast<size_t>(fmas.oneTap ? kw : 1));
  auto stepOf = [&](int64_t tap) -> Step& { return steps[fmas.oneTap ? static_cast<size_t>(tap) : 0]; };
  for (int64_t tap = 0; tap < kw; ++tap) stepOf(tap).taps.push_back(tap);
  for (int64_t offset = fmas.run.inputLo; offset < fmas.run.inputHi; ++offset)
    for (const auto& [column, tap] : readersOf(fmas.axis, offset, fmas.run.count)) {
      auto& reads = stepOf(tap).reads;
      if (reads.empty() || reads.back().first != offset) reads.emplace_back(offset, std::vector<std::pair<int64_t, int64_t>>{});
      reads.back().second.emplace_back(column, tap);
    }
  for (const Step& step : steps) {
    if (step.reads.empty()) continue;
    std::vector<std::vector<llvm::Value*>> filters(static_cast<size_t>(kw));  // [tap][k]
    for (int64_t k = 0; k < fmas.filterBlocks; ++k)
      for (int64_t tap : step.taps) filters[static_cast<size_t>(tap)].push_back(filter(k, tap));
    llvm::Value* stepOrigin = fmas.oneTap ? kb.opaqueCopy(origin, fmt::format("tap {}", step.taps[0])) : origin;
    for (int64_t q = fmas.rows.first; q < fmas.rows.second; ++q)
      for (const auto& [offset, readers] : step.reads) {
        llvm::Value* in = input(q, stepOrigin, offset);
        for (const auto& [column, tap] : readers)
          for (int64_t k = 0; k < fmas.filterBlocks; ++k)
            acc.fma(slot(q, k, column), in, filters[static_cast<size_t>(tap)][static_cast<size_t>(k)]);
      }
  }
}

void forEachRowSet(KernelBuilder& kb, llvm::Value* oh, int64_t rows, int64_t kh, int64_t inHeight, int64_t stride,
                   int64_t pad, const std::function<void(llvm::Value*, llvm::Value*, int64_t, int64_t)>& body) {
  auto& ir = kb.ir();
  // Row q reads inside for filter rows [lo[q], hi[q]), both falling with q.
  std::vector<llvm::Value*> lo, hi;
  for (int64_t q = 0; q < rows; ++q) {
    llvm::Value* top = ir.CreateSub(ir.CreateMul(add(kb, oh, q), kb.i64(stride)), kb.i64(pad));
    lo.push_back(kb.smax(kb.i64(0), ir.CreateNeg(top)));
    hi.push_back(kb.smin(kb.i64(kh), ir.CreateSub(kb.i64(inHeight), top)));
  }
  auto at = [](const std::vector<llvm::Value*>& bounds, int64_t q) { return bounds[static_cast<size_t>(q)]; };
  for (int64_t qLo = 0; qLo < rows; ++qLo)
    for (int64_t qHi = qLo + 1; qHi <= rows; ++qHi) {
      // Row qLo reads, row qLo - 1 does not yet; row qHi - 1 still reads, row qHi no longer.
      llvm::Value* first = qHi < rows ? kb.smax(at(lo, qLo), at(hi, qHi)) : at(lo, qLo);
      llvm::Value* end = qLo > 0 ? kb.smin(at(hi, qHi - 1), at(lo, qLo - 1)) : at(hi, qHi - 1);
      body(first, end, qLo, qHi);
    }
}

llvm::Value* finishChunkedSum(KernelBuilder& kb, const Node& node, llvm::Value* sum, llvm::Value* index, int64_t chunks,
                              llvm::Value* finishes, llvm::Value* activationOutput) {
  llvm::Value* finished = finishResult(kb, node, sum, index, nullptr, nullptr, activationOutput);
  return finished == sum || chunks == 1 ? finished : kb.ir().CreateSelect(finishes, finished, sum);
}

void prefetchFinishing(KernelBuilder& kb, ValueId id, const std::vector<ValueId>& later,
                       const std::vector<llvm::Value*>& outputs, int64_t chunks, llvm::Value* finishes,
                       bool ownLines) {
  const std::vector<ValueId> soon = finishOperands(kb.graph(), kb.graph().node(id));
  auto request = [&] {
    for (llvm::Value* at : outputs) {
      for (ValueId operand : soon) kb.prefetch(operand, at, true);
      for (ValueId operand : later) kb.prefetch(operand, at, false);
    }
  };
  if (!soon.empty() || !later.empty()) {
    if (chunks == 1)
      request();
    else
      kb.when(finishes, request);
  }
  if (soon.empty() && ownLines)
    for (llvm::Value* at : outputs) kb.prefetch(id, at, false);
}

void prefetchRow(KernelBuilder& kb, const Image& image, llvm::Value* n, llvm::Value* firstOuter, int64_t outers,
                 llvm::Value* row, int64_t columnStep) {
  llvm::Value* clamped = kb.smin(kb.smax(row, kb.i64(0)), kb.i64(image.dims[2] - 1));
  kb.rolledLoop(0, outers, [&](llvm::Value* k) {
    llvm::Value* outer = kb.ir().CreateAdd(firstOuter, k);
    // One request per cache line of 16 floats, or per column read where
    // they lie further apart.
    for (int64_t w = 0; w < image.dims[3]; w += std::max<int64_t>({1, 16 / image.block, columnStep}))
      kb.prefetch(image.id, image.index(kb, n, outer, clamped, kb.i64(w), kb.i64(0)), false);
  });
}

FilterGradientBands::FilterGradientBands(int64_t tileRows, const std::vector<int64_t>& dy, int64_t parts)
    : shape(FilterGradientBand::of(tileRows, dy[2])),
      imageRows(dy[2]),
      perImage((dy[2] + shape.rows - 1) / shape.rows),
      count((partImages(dy[0], parts) + shape.images - 1) / shape.images * perImage) {}

FilterGradientBands::Span FilterGradientBands::at(KernelBuilder& kb, llvm::Value* partBegin, llvm::Value* partEnd,
                                                  llvm::Value* band) const {
  auto& ir = kb.ir();
  llvm::Value* firstImage =
      ir.CreateAdd(partBegin, ir.CreateMul(ir.CreateSDiv(band, kb.i64(perImage)), kb.i64(shape.images)));
  llvm::Value* top = ir.CreateMul(ir.CreateSRem(band, kb.i64(perImage)), kb.i64(shape.rows));
  return {firstImage, kb.smin(add(kb, firstImage, shape.images), partEnd), top,
          kb.smin(add(kb, top, shape.rows), kb.i64(imageRows))};
}

// The outputs [lo, hi) of an axis whose input o*stride + tap - pad lies in
// [0, in), for a run-time filter tap.
std::pair<llvm::Value*, llvm::Value*> outputsInside(KernelBuilder& kb, llvm::Value* tap, int64_t pad, int64_t stride,
                                                    int64_t in, int64_t out) {
  auto& ir = kb.ir();
  llvm::Value* shift = ir.CreateSub(kb.i64(pad), tap);
  llvm::Value* lo = kb.smax(kb.i64(0), ir.CreateSDiv(add(kb, shift, stride - 1), kb.i64(stride)));
  llvm::Value* last = add(kb, shift, in - 1);
  llvm::Value* hi = ir.CreateSelect(ir.CreateICmpSLT(last, kb.i64(0)), kb.i64(0),
                                    kb.smin(kb.i64(out), add(kb, ir.CreateSDiv(last, kb.i64(stride)), 1)));
  return {lo, hi};
}

RowsTasks RowsTasks::of(const Graph& graph, const Node& node, const ForwardTile& tile, const Target& target) {
  const std::vector<int64_t>& dims = node.type.dims;
  return {dims[0], dims[1] / layoutBlock(node.type.layout), dims[2], forwardTaskBlocks(graph, node, tile, target),
          tile.rows};
}

llvm::Value* RowsTasks::index(KernelBuilder& kb, llvm::Value* n, llvm::Value* group, llvm::Value* rowBlock) const {
  return kb.index({n, group, rowBlock}, {images, groups(), rowBlocks()});
}

int64_t forEachRowsTask(KernelBuilder& kb, const RowsTasks& tasks, const std::function<void(const RowsTask&)>& body) {
  const int64_t groups = tasks.groups(), rowBlocks = tasks.rowBlocks();
  auto& ir = kb.ir();
  kb.splitsBatch(tasks.images);
  kb.loop(kb.taskBegin(), kb.taskEnd(), [&](llvm::Value* task) {
    llvm::Value* group = ir.CreateSRem(ir.CreateSDiv(task, kb.i64(rowBlocks)), kb.i64(groups));
    llvm::Value* firstRow = ir.CreateMul(ir.CreateSRem(task, kb.i64(rowBlocks)), kb.i64(tasks.taskRows));
    body({task, ir.CreateSDiv(task, kb.i64(groups * rowBlocks)), ir.CreateMul(group, kb.i64(tasks.groupBlocks)),
          firstRow, kb.smin(add(kb, firstRow, tasks.taskRows), kb.i64(tasks.rows))});
  });
  return tasks.count();
}

}  // namespace cnnc::blocked

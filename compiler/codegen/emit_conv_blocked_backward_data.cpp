// conv2d_bwd_data in channel-blocked layouts (blocked_conv.h), for the
// nodes that are not a stride-1 convolution with the transposed filter
// (select_layouts.cpp): strided ones above all. dx[ih, iw] receives
// dy[oh, ow] * w[kh, kw] only where ih + padTop - kh = oh * sh and
// iw + padLeft - kw = ow * sw; the kernel visits just those taps, never
// the zeros of an upsampled dy. Columns are taken by phase (iw mod sw): a
// phase's columns all use the same taps, and a run of them reads
// consecutive dy columns for each tap, so that within a phase the kernel is
// a stride-1 forward convolution whose borders are split at compile time
// (forEachColumnRun): its taps are unrolled, and each dy column a run reads
// is broadcast once for the (column, tap) pairs that read it. Rows pick
// their taps, and clamp them, at run time. In registers: CB blocks of dx
// channels x a run of a phase's columns, and CB x the phase's taps filter
// vectors.
#include "compiler/codegen/activation.h"
#include "compiler/codegen/blocked_conv.h"
#include "compiler/codegen/fused_sums.h"
#include "compiler/conv_tiles.h"
#include "ir/fused_projection.h"

namespace cnnc {

using namespace blocked;

namespace {

// The dx columns iw = phase + sw * k and the filter columns they use, as a
// stride-1 axis over dy's columns (column_runs.h).
struct ColumnPhase {
  ColumnPhase(int64_t which, int64_t width, int64_t gradientWidth, int64_t kw, const WindowAttrs& win)
      : phase(which), stride(win.sw), geometry(phaseAxis(width, gradientWidth, kw, stride, win.padLeft, phase)) {}

  // dx's column for phase column k.
  llvm::Value* column(KernelBuilder& kb, llvm::Value* k) const {
    return add(kb, kb.ir().CreateMul(k, kb.i64(stride)), phase);
  }
  // The filter column of tap t' (counted backwards).
  int64_t filterColumn(int64_t tPrime) const { return geometry.firstTap + stride * (geometry.axis.kw - 1 - tPrime); }
  // The phase as a window over dy's columns, for forEachColumnRun.
  WindowAttrs window() const { return {1, 1, 0, geometry.axis.pad}; }

  int64_t phase, stride;
  PhaseAxis geometry;
};

}  // namespace

// dx [N,C,H,W]<NCHW{b}c> = conv2d_bwd_data(dy [N,F,OH,OW] blocked or plain,
// w [F,C,KH,KW]<NCHW{b}c>): the filter blocked along its input channels,
// dx's, so that w[f, c..c+b, kh, kw] is one vector. Tasks: (n, group of CB
// dx channel blocks, block of dx rows); the tile is a forward convolution's
// (conv_tiles.h), the output gradient's channels playing the input's: each
// task passes over its rows once per chunk of dy channels, whose filter
// slice stays in L1, resuming from the partial sums of the previous pass.
// A fused gamma gradient (ir/fused_statistics.h) sums each task's rows once
// they are written. A fused projection (ir/fused_projection.h) adds its
// taps to the accumulators of the rows and columns it reaches in the pass
// that finishes them.
int64_t emitBlockedBackwardData(KernelBuilder& kb, ValueId id) {
  const Node& node = kb.graph().node(id);
  const Image dy(kb, node.operands[0]);
  const ValueId w = node.operands[1];
  const std::optional<ProjectionOperands> projection = projectionOf(node);
  const std::optional<Image> dyP =
      projection ? std::optional<Image>(Image(kb, projection->gradient)) : std::nullopt;  // its output gradient
  const std::vector<int64_t>& dx = node.type.dims;
  const std::vector<int64_t>& wd = kb.dims(w);
  const int64_t b = kb.width(), blocks = dx[1] / b;
  const WindowAttrs win = windowAttrs(node);
  const ForwardTile tile = forwardTile(kb.graph(), node, kb.target());
  const int64_t CB = tile.filterBlocks, chunks = channelPasses(kb.graph(), node, tile);
  auto& ir = kb.ir();
  const RowsTasks tasks = RowsTasks::of(kb.graph(), node, tile, kb.target());
  FusedSums sums(kb, id, tasks);
  const int64_t count = forEachRowsTask(kb, tasks, [&](const RowsTask& task) {
    llvm::Value *n = task.n, *c0 = task.firstBlock;
    auto output = [&](int64_t k, llvm::Value* ih, llvm::Value* iw) {
      return ir.CreateMul(kb.index({n, add(kb, c0, k), ih, iw}, {dx[0], blocks, dx[2], dx[3]}), kb.i64(b));
    };
    // The projection's taps: at stride s, unpadded, dx[ih, iw] receives
    // dyP[ih / s, iw / s] * wP where both divide, so in column phase 0 only,
    // whose column k is dyP's; `columns` of them from column `first` into
    // accumulators `slot(c, r)`, in the pass that finishes them.
    auto addProjection = [&](Accumulators& acc, const std::function<size_t(int64_t, int64_t)>& slot, llvm::Value* ih,
                             int64_t phase, llvm::Value* first, int64_t columns, llvm::Value* finishes) {
      if (!dyP || phase != 0) return;
      llvm::Value* reached = ir.CreateICmpEQ(ir.CreateSRem(ih, kb.i64(win.sh)), kb.i64(0));
      kb.when(chunks > 1 ? ir.CreateAnd(reached, finishes) : reached, [&] {
        llvm::Value* oh = ir.CreateSDiv(ih, kb.i64(win.sh));
        kb.rolledLoop(0, dyP->outerChannels(), [&](llvm::Value* outer) {
          kb.rolledLoop(0, dyP->block, [&](llvm::Value* inner) {
            llvm::Value* f = ir.CreateAdd(ir.CreateMul(outer, kb.i64(dyP->block)), inner);
            std::vector<llvm::Value*> filters;
            for (int64_t c = 0; c < CB; ++c) {
              llvm::Value* filterAt = kb.index({f, add(kb, c0, c)}, {dyP->dims[1], blocks});
              filters.push_back(kb.loadVector(projection->filter, ir.CreateMul(filterAt, kb.i64(b)), b));
            }
            llvm::Value* firstGradient = dyP->index(kb, n, outer, oh, first, inner);
            for (int64_t r = 0; r < columns; ++r) {
              llvm::Value* gradient = kb.splat(kb.load(dyP->id, add(kb, firstGradient, r * dyP->block)));
              for (int64_t c = 0; c < CB; ++c) acc.fma(slot(c, r), gradient, filters[static_cast<size_t>(c)]);
            }
          });
        });
      });
    };
    kb.rolledLoop(0, chunks, [&](llvm::Value* chunk) {
      llvm::Value* resumes = ir.CreateICmpSGT(chunk, kb.i64(0));
      llvm::Value* finishes = ir.CreateICmpEQ(chunk, kb.i64(chunks - 1));
      llvm::Value* firstOuter = ir.CreateMul(chunk, kb.i64(tile.channelChunk / dy.block));
      kb.loop(task.firstRow, task.endRow, [&](llvm::Value* ih) {
        // Filter rows kh = rowPhase + sh * u read dy row oh = base - u;
        // u runs over the taps whose oh lies in [0, OH).
        llvm::Value* shifted = add(kb, ih, win.padTop);
        llvm::Value* rowPhase = ir.CreateSRem(shifted, kb.i64(win.sh));
        llvm::Value* base = ir.CreateSDiv(shifted, kb.i64(win.sh));
        llvm::Value* rowTaps = ir.CreateSDiv(ir.CreateSub(kb.i64(wd[2] + win.sh - 1), rowPhase), kb.i64(win.sh));
        llvm::Value* uLo = kb.smax(kb.i64(0), add(kb, base, 1 - dy.dims[2]));
        llvm::Value* uHi = kb.smin(rowTaps, add(kb, base, 1));
        // The dy row that the next rows read first (base + 1), requested into
        // L2 while this row runs, of the pass's channels, as the strided
        // forward kernels request their input rows (emit_conv_blocked_forward.cpp):
        // where dy was just streamed to memory by the batch norm's data
        // gradient (ResNet at batch 512) its block1_out.relu.grad.1 took 2.5
        // ms with them, 3.0 without, in alternating runs; where dy is still in
        // the L3 (batch 128) the same either way.
        if (dy.block > 1) prefetchRow(kb, dy, n, firstOuter, tile.channelChunk / dy.block, add(kb, base, 1));
        if (dyP)
          prefetchRow(kb, *dyP, n, kb.i64(0), dyP->outerChannels(), add(kb, ir.CreateSDiv(ih, kb.i64(win.sh)), 1));
        for (int64_t p = 0; p < win.sw; ++p) {
          const ColumnPhase phase(p, dx[3], dy.dims[3], wd[3], win);
          const ColumnAxis& axis = phase.geometry.axis;
          if (axis.kw == 0) {
            // No tap reaches these columns (a 1x1 filter's odd ones at stride
            // 2): zero, but for a fused projection's and residual.
            kb.loop(0, axis.outWidth, [&](llvm::Value* k) {
              Accumulators acc(kb, static_cast<size_t>(CB), [&](size_t) { return kb.f32(0.0); });
              addProjection(acc, [](int64_t c, int64_t) { return static_cast<size_t>(c); }, ih, p, k, 1, finishes);
              for (int64_t c = 0; c < CB; ++c) {
                llvm::Value* at = output(c, ih, phase.column(kb, k));
                llvm::Value* sum = acc.get(static_cast<size_t>(c));
                kb.storeVector(id, at, finishChunkedSum(kb, node, sum, at, chunks, finishes));
              }
            });
            continue;
          }
          forEachColumnRun(kb, axis.outWidth, axis.inWidth, axis.kw, phase.window(), tile.run, [&](const ColumnRun& run) {
            auto at = [&](int64_t c, int64_t r) { return output(c, ih, phase.column(kb, add(kb, run.first, r))); };
            Accumulators acc(kb, static_cast<size_t>(CB * run.count), [&](size_t) { return kb.f32(0.0); });
            auto slot = [&](int64_t c, int64_t r) { return static_cast<size_t>(c * run.count + r); };
            // The epilogue's operands requested before the sums, as the
            // forward kernels do (blocked_conv.h).
            std::vector<llvm::Value*> outputs;
            for (int64_t c = 0; c < CB; ++c)
              for (int64_t r = 0; r < run.count; ++r) outputs.push_back(at(c, r));
            prefetchFinishing(kb, id, sums.operands(), outputs, chunks, finishes);
            if (chunks > 1)
              kb.when(resumes, [&] {
                for (int64_t c = 0; c < CB; ++c)
                  for (int64_t r = 0; r < run.count; ++r) acc.set(slot(c, r), kb.loadVector(id, at(c, r), b));
              });
            kb.rolledLoop(0, tile.channelChunk / dy.block, [&](llvm::Value* chunkOuter) {
              llvm::Value* outer = ir.CreateAdd(firstOuter, chunkOuter);
              // Rolled, as the forward kernel's filter rows.
              kb.rolledLoop(uLo, uHi, [&](llvm::Value* u) {
                llvm::Value* kh = ir.CreateAdd(rowPhase, ir.CreateMul(u, kb.i64(win.sh)));
                llvm::Value* oh = ir.CreateSub(base, u);
                kb.rolledLoop(0, dy.block, [&](llvm::Value* inner) {
                  llvm::Value* f = ir.CreateAdd(ir.CreateMul(outer, kb.i64(dy.block)), inner);
                  // The dy columns the run reads lie `block` elements apart:
                  // constant offsets from the first, which LLVM folds into
                  // the loads rather than keeping an index per column.
                  llvm::Value* start = ir.CreateSub(run.first, kb.i64(axis.pad));
                  multiplyRun(
                      kb, {axis, run, CB, {0, 1}, holdsOneTap(CB, 1, run.count, axis.kw, kb.target())}, acc,
                      dy.index(kb, n, outer, oh, start, inner),
                      [&](int64_t c, int64_t t) {
                        llvm::Value* filterAt =
                            kb.index({f, add(kb, c0, c), kh, kb.i64(phase.filterColumn(t))}, {wd[0], blocks, wd[2], wd[3]});
                        return kb.loadVector(w, ir.CreateMul(filterAt, kb.i64(b)), b);
                      },
                      [&](int64_t, llvm::Value* firstGradient, int64_t offset) {
                        return kb.splat(kb.load(dy.id, add(kb, firstGradient, offset * dy.block)));
                      },
                      [&](int64_t, int64_t c, int64_t r) { return slot(c, r); });
                });
              });
            });
            // The projection's taps last: its loads then come a whole pass
            // of sums after the requests for its rows (ResNet at batch 128,
            // block1_out.grad 1.12 -> 1.09 ms, faster in 5 of 6 alternating
            // runs, than with them first).
            addProjection(acc, slot, ih, p, run.first, run.count, finishes);
            for (int64_t c = 0; c < CB; ++c)
              for (int64_t r = 0; r < run.count; ++r) {
                llvm::Value* sum = acc.get(slot(c, r));
                kb.storeVector(id, at(c, r), finishChunkedSum(kb, node, sum, at(c, r), chunks, finishes));
              }
          });
        }
      });
    });
    sums.sumTask(task);
  });
  return sums.addTasks(count);
}

}  // namespace cnnc

// conv2d in channel-blocked layouts (blocked_conv.h). In registers: FB
// blocks of output channels x a run of output columns, and every filter
// tap's FB filter vectors. The taps are unrolled and each input column the
// run reads is broadcast once and multiplied by the (column, tap) pairs that
// read it: border columns take part in full runs, their pairs outside the
// image skipped at compile time, and each output row clamps its filter rows
// at run time. (With the columns inner and the taps outer instead, LLVM
// would keep the inputs that neighbouring taps share in registers and spill
// accumulators.)
#include "compiler/codegen/activation.h"
#include "compiler/codegen/blocked_conv.h"
#include "compiler/conv_tiles.h"

namespace cnnc {

using namespace blocked;

// y [N,F,OH,OW]<NCHW{b}c> = activation(conv(x [N,C,H,W] blocked or plain,
// w<OIhw{b}o>) + bias); tasks: (n, group of FB output blocks, block of output rows). Each
// task passes over its rows once per chunk of input channels, whose filter
// slice stays in L1 (conv_tiles.h); passes after the first resume from the
// partial sums stored by the previous one.
int64_t emitBlockedForward(KernelBuilder& kb, ValueId id) {
  const Node& node = kb.graph().node(id);
  const Image x(kb, node.operands[0]);
  const ValueId w = node.operands[1];
  const std::vector<int64_t>& y = node.type.dims;
  const std::vector<int64_t>& wd = kb.dims(w);
  const int64_t b = kb.width(), blocks = y[1] / b, H = x.dims[2];
  const WindowAttrs win = windowAttrs(node);
  const ForwardTile tile = forwardTile(kb.graph(), node, kb.target());
  const int64_t FB = tile.filterBlocks, groups = blocks / FB;
  const int64_t rowBlocks = (y[2] + tile.rows - 1) / tile.rows, chunks = wd[1] / tile.channelChunk;
  auto& ir = kb.ir();
  kb.loop(kb.taskBegin(), kb.taskEnd(), [&](llvm::Value* task) {
    llvm::Value* n = ir.CreateSDiv(task, kb.i64(groups * rowBlocks));
    llvm::Value* f0 = ir.CreateMul(ir.CreateSRem(ir.CreateSDiv(task, kb.i64(rowBlocks)), kb.i64(groups)), kb.i64(FB));
    llvm::Value* firstRow = ir.CreateMul(ir.CreateSRem(task, kb.i64(rowBlocks)), kb.i64(tile.rows));
    llvm::Value* endRow = ir.CreateBinaryIntrinsic(llvm::Intrinsic::smin, add(kb, firstRow, tile.rows), kb.i64(y[2]));
    kb.rolledLoop(0, chunks, [&](llvm::Value* chunk) {
      llvm::Value* resumes = ir.CreateICmpSGT(chunk, kb.i64(0));
      llvm::Value* finishes = ir.CreateICmpEQ(chunk, kb.i64(chunks - 1));
      llvm::Value* firstOuter = ir.CreateMul(chunk, kb.i64(tile.channelChunk / x.block));
      kb.loop(firstRow, endRow, [&](llvm::Value* oh) {
        // Input row ih = top + i for filter row i; rows outside [0, H) are skipped.
        llvm::Value* top = ir.CreateSub(ir.CreateMul(oh, kb.i64(win.sh)), kb.i64(win.padTop));
        llvm::Value* iLo = ir.CreateBinaryIntrinsic(llvm::Intrinsic::smax, kb.i64(0), ir.CreateNeg(top));
        llvm::Value* iHi = ir.CreateBinaryIntrinsic(llvm::Intrinsic::smin, kb.i64(wd[2]), ir.CreateSub(kb.i64(H), top));
        forEachColumnRun(kb, y[3], x.dims[3], wd[3], win, tile.run, [&](const ColumnRun& run) {
          auto output = [&](int64_t k, int64_t r) {
            llvm::Value* at = kb.index({n, add(kb, f0, k), oh, add(kb, run.first, r)}, {y[0], blocks, y[2], y[3]});
            return ir.CreateMul(at, kb.i64(b));
          };
          Accumulators acc(kb, static_cast<size_t>(FB * run.count), [&](size_t) { return kb.f32(0.0); });
          auto slot = [&](int64_t k, int64_t r) { return static_cast<size_t>(k * run.count + r); };
          if (chunks > 1)
            kb.when(resumes, [&] {
              for (int64_t k = 0; k < FB; ++k)
                for (int64_t r = 0; r < run.count; ++r) acc.set(slot(k, r), kb.loadVector(id, output(k, r), b));
            });
          kb.rolledLoop(0, tile.channelChunk / x.block, [&](llvm::Value* chunkOuter) {
            llvm::Value* outer = ir.CreateAdd(firstOuter, chunkOuter);
            kb.loop(iLo, iHi, [&](llvm::Value* i) {
              llvm::Value* ih = ir.CreateAdd(top, i);
              kb.rolledLoop(0, x.block, [&](llvm::Value* inner) {
                llvm::Value* c = ir.CreateAdd(ir.CreateMul(outer, kb.i64(x.block)), inner);
                std::vector<llvm::Value*> filters;  // [k * kw + j]
                for (int64_t k = 0; k < FB; ++k)
                  for (int64_t j = 0; j < wd[3]; ++j) {
                    llvm::Value* at = kb.index({add(kb, f0, k), c, i, kb.i64(j)}, {blocks, wd[1], wd[2], wd[3]});
                    filters.push_back(kb.loadVector(w, ir.CreateMul(at, kb.i64(b)), b));
                  }
                llvm::Value* start = ir.CreateSub(ir.CreateMul(run.first, kb.i64(win.sw)), kb.i64(win.padLeft));
                for (int64_t offset = run.inputLo; offset < run.inputHi; ++offset) {
                  const std::vector<std::pair<int64_t, int64_t>> readers = readersOf(offset, run.count, wd[3], win.sw);
                  if (readers.empty()) continue;
                  llvm::Value* input = kb.splat(kb.load(x.id, x.index(kb, n, outer, ih, add(kb, start, offset), inner)));
                  for (const auto& [r, j] : readers)
                    for (int64_t k = 0; k < FB; ++k) acc.fma(slot(k, r), input, filters[static_cast<size_t>(k * wd[3] + j)]);
                }
              });
            });
          });
          for (int64_t k = 0; k < FB; ++k) {
            llvm::Value* bias = node.operands.size() == 3
                ? ir.CreateSelect(finishes, kb.loadVector(node.operands[2], ir.CreateMul(add(kb, f0, k), kb.i64(b)), b),
                                  kb.splat(kb.f32(0.0)))
                : nullptr;
            for (int64_t r = 0; r < run.count; ++r) {
              llvm::Value* sum = acc.get(slot(k, r));
              if (bias) sum = ir.CreateFAdd(sum, bias);
              // The fused activation, once the last chunk has been added.
              llvm::Value* activated = applyActivation(kb, node, sum);
              if (activated != sum && chunks > 1) activated = ir.CreateSelect(finishes, activated, sum);
              kb.storeVector(id, output(k, r), activated);
            }
          }
        });
      });
    });
  });
  return y[0] * groups * rowBlocks;
}

}  // namespace cnnc

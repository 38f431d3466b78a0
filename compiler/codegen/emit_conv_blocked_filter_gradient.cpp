// conv2d_bwd_filter in channel-blocked layouts (blocked_conv.h). In
// registers: FB blocks of output channels x CB input channels x JB
// neighbouring filter columns of one filter row; each output-gradient
// vector feeds CB x JB of them, each broadcast input FB. Holding several
// filter columns lets a layer with few input channels (the first, with 3)
// keep enough independent accumulators to hide the FMA latency.
//
// Every register block sweeps all output positions, so the kernel would
// stream the whole batch once per block if blocks came first. It sweeps a
// band of output rows (of one image, or of a few small ones) instead, whose
// output gradients and inputs stay in L1, with every register block of its
// task in turn; each block resumes from the partial sums it stored after
// the previous band.
#include <algorithm>

#include "compiler/codegen/blocked_conv.h"
#include "compiler/conv_tiles.h"

namespace cnnc {

using namespace blocked;

// dw [F,C,KH,KW]<OIhw{b}o> = sum over n, oh, ow of x[n,c,ih,iw] * dy[n,f,oh,ow]
// with dy<NCHW{b}c>; tasks: (group of FB output blocks, slice of the input
// channels). Each task owns its weights, so threads need no reduction.
// Output columns where some of a block's filter columns fall outside the
// image (padding) test each column's taps at run time; the columns between,
// where all of them are inside, test none.
int64_t emitBlockedFilterGradient(KernelBuilder& kb, ValueId id) {
  const Node& node = kb.graph().node(id);
  const Image x(kb, node.operands[0]);
  const ValueId dy = node.operands[1];
  const std::vector<int64_t>& dyd = kb.dims(dy);
  const std::vector<int64_t>& wd = node.type.dims;
  const int64_t b = kb.width(), blocks = wd[0] / b;
  const WindowAttrs win = windowAttrs(node);
  const FilterGradientTile tile = filterGradientTile(kb.graph(), node, kb.target());
  const int64_t FB = tile.filterBlocks, CB = tile.channels, JB = tile.taps;
  const int64_t groups = blocks / FB, slices = wd[1] / tile.taskChannels;
  // A band: `rows` output rows of one image, or the whole images they cover
  // when they exceed an image's (small images: more positions per stored
  // partial sum).
  const int64_t images = tile.rows > dyd[2] ? tile.rows / dyd[2] : 1, bandRows = std::min(tile.rows, dyd[2]);
  const int64_t bands = (dyd[2] + bandRows - 1) / bandRows, imageGroups = (dyd[0] + images - 1) / images;
  auto& ir = kb.ir();
  kb.loop(kb.taskBegin(), kb.taskEnd(), [&](llvm::Value* task) {
    llvm::Value* f0 = ir.CreateMul(ir.CreateSDiv(task, kb.i64(slices)), kb.i64(FB));
    llvm::Value* firstChannel = ir.CreateMul(ir.CreateSRem(task, kb.i64(slices)), kb.i64(tile.taskChannels));
    kb.rolledLoop(0, imageGroups * bands, [&](llvm::Value* chunk) {
      llvm::Value* firstImage = ir.CreateMul(ir.CreateSDiv(chunk, kb.i64(bands)), kb.i64(images));
      llvm::Value* endImage = kb.smin(add(kb, firstImage, images), kb.i64(dyd[0]));
      llvm::Value* bandTop = ir.CreateMul(ir.CreateSRem(chunk, kb.i64(bands)), kb.i64(bandRows));
      llvm::Value* bandEnd = kb.smin(add(kb, bandTop, bandRows), kb.i64(dyd[2]));
      llvm::Value* resumes = ir.CreateICmpSGT(chunk, kb.i64(0));
      kb.rolledLoop(0, tile.taskChannels / CB, [&](llvm::Value* channelGroup) {
        llvm::Value* c0 = ir.CreateAdd(firstChannel, ir.CreateMul(channelGroup, kb.i64(CB)));
        std::vector<std::pair<llvm::Value*, llvm::Value*>> channels;
        for (int64_t k = 0; k < CB; ++k) channels.push_back(x.channel(kb, c0, k));
        kb.rolledLoop(0, wd[2], [&](llvm::Value* i) {
          const auto [ohLo, ohHi] = outputsInside(kb, i, win.padTop, win.sh, x.dims[2], dyd[2]);
          kb.rolledLoop(0, wd[3] / JB, [&](llvm::Value* tapGroup) {
            llvm::Value* j0 = ir.CreateMul(tapGroup, kb.i64(JB));
            // The output columns each filter column reads inside the image,
            // those where all do (core) and where any does (span).
            std::vector<std::pair<llvm::Value*, llvm::Value*>> inside;
            llvm::Value *coreLo = kb.i64(0), *coreHi = kb.i64(dyd[3]), *spanLo = kb.i64(dyd[3]), *spanHi = kb.i64(0);
            for (int64_t t = 0; t < JB; ++t) {
              inside.push_back(outputsInside(kb, add(kb, j0, t), win.padLeft, win.sw, x.dims[3], dyd[3]));
              coreLo = kb.smax(coreLo, inside.back().first);
              coreHi = kb.smin(coreHi, inside.back().second);
              spanLo = kb.smin(spanLo, inside.back().first);
              spanHi = kb.smax(spanHi, inside.back().second);
            }
            llvm::Value* leftEnd = kb.smax(spanLo, kb.smin(coreLo, spanHi));
            llvm::Value* rightBegin = kb.smax(leftEnd, coreHi);
            auto weight = [&](int64_t f, int64_t c, int64_t t) {
              llvm::Value* at = kb.index({add(kb, f0, f), add(kb, c0, c), i, add(kb, j0, t)}, {blocks, wd[1], wd[2], wd[3]});
              return ir.CreateMul(at, kb.i64(b));
            };
            Accumulators acc(kb, static_cast<size_t>(FB * CB * JB), [&](size_t) { return kb.f32(0.0); });
            auto slot = [&](int64_t f, int64_t c, int64_t t) { return static_cast<size_t>((f * CB + c) * JB + t); };
            auto forEachSlot = [&](const std::function<void(int64_t, int64_t, int64_t)>& body) {
              for (int64_t f = 0; f < FB; ++f)
                for (int64_t c = 0; c < CB; ++c)
                  for (int64_t t = 0; t < JB; ++t) body(f, c, t);
            };
            kb.when(resumes, [&] {
              forEachSlot([&](int64_t f, int64_t c, int64_t t) {
                acc.set(slot(f, c, t), kb.loadVector(id, weight(f, c, t), b));
              });
            });
            kb.loop(firstImage, endImage, [&](llvm::Value* n) {
              kb.loop(kb.smax(ohLo, bandTop), kb.smin(ohHi, bandEnd), [&](llvm::Value* oh) {
                llvm::Value* ih = ir.CreateSub(ir.CreateAdd(ir.CreateMul(oh, kb.i64(win.sh)), i), kb.i64(win.padTop));
                // One output column: its gradient vectors times the inputs of
                // each filter column, only where that input is inside when
                // `tested`.
                auto column = [&](llvm::Value* ow, bool tested) {
                  std::vector<llvm::Value*> gradients;
                  for (int64_t f = 0; f < FB; ++f) {
                    llvm::Value* at = kb.index({n, add(kb, f0, f), oh, ow}, {dyd[0], blocks, dyd[2], dyd[3]});
                    gradients.push_back(kb.loadVector(dy, ir.CreateMul(at, kb.i64(b)), b));
                  }
                  llvm::Value* left =
                      ir.CreateSub(ir.CreateAdd(ir.CreateMul(ow, kb.i64(win.sw)), j0), kb.i64(win.padLeft));
                  for (int64_t t = 0; t < JB; ++t) {
                    auto taps = [&] {
                      llvm::Value* iw = add(kb, left, t);
                      for (int64_t c = 0; c < CB; ++c) {
                        const auto [outer, inner] = channels[static_cast<size_t>(c)];
                        llvm::Value* input = kb.splat(kb.load(x.id, x.index(kb, n, outer, ih, iw, inner)));
                        for (int64_t f = 0; f < FB; ++f)
                          acc.fma(slot(f, c, t), input, gradients[static_cast<size_t>(f)]);
                      }
                    };
                    if (!tested) {
                      taps();
                      continue;
                    }
                    const auto [lo, hi] = inside[static_cast<size_t>(t)];
                    kb.when(ir.CreateAnd(ir.CreateICmpSGE(ow, lo), ir.CreateICmpSLT(ow, hi)), taps);
                  }
                };
                kb.loop(spanLo, leftEnd, [&](llvm::Value* ow) { column(ow, true); });
                kb.loop(leftEnd, coreHi, [&](llvm::Value* ow) { column(ow, false); });
                kb.loop(rightBegin, spanHi, [&](llvm::Value* ow) { column(ow, true); });
              });
            });
            forEachSlot([&](int64_t f, int64_t c, int64_t t) {
              kb.storeVector(id, weight(f, c, t), acc.get(slot(f, c, t)));
            });
          });
        });
      });
    });
  });
  return groups * slices;
}

}  // namespace cnnc

// Convolutions in channel-blocked layouts (ir/layout.h). A vector holds one
// pixel's block of b output channels (b is the vector width: 16 on AVX-512,
// 8 on AVX2), so every lane does useful work whatever the image size, and
// the input is read one element at a time and broadcast. In registers:
//   forward: FB blocks of output channels x a run of output columns; each
//     filter vector feeds the run, each broadcast input feeds FB vectors;
//   filter gradient, per filter tap: FB blocks of output channels x CB input
//     channels; each output-gradient vector feeds CB of them, each
//     broadcast input FB.
// Borders are known at compile time: interior columns run over every filter
// tap, border columns one at a time over the taps inside the image, and each
// output row clamps its filter rows at run time. No padded copies. The
// sizes of the register blocks, and the cache blocks, are the node's tile
// (compiler/conv_tiles.h).
#include <algorithm>

#include "compiler/codegen/activation.h"
#include "compiler/codegen/emitters.h"
#include "compiler/conv_tiles.h"
#include "ir/layout.h"

namespace cnnc {
namespace {

// An image operand whose channels are blocked (NCHW{b}c) or plain (the
// first layer's few channels): channel c is lane `inner` of block `outer`.
struct Image {
  Image(const KernelBuilder& kb, ValueId value)
      : id(value), dims(kb.dims(value)), block(layoutBlock(kb.graph().node(value).type.layout)) {}

  int64_t outerChannels() const { return dims[1] / block; }

  llvm::Value* index(KernelBuilder& kb, llvm::Value* n, llvm::Value* outer, llvm::Value* h, llvm::Value* w,
                     llvm::Value* inner) const {
    llvm::Value* pixel = kb.index({n, outer, h, w}, {dims[0], outerChannels(), dims[2], dims[3]});
    if (block == 1) return pixel;
    return kb.ir().CreateAdd(kb.ir().CreateMul(pixel, kb.i64(block)), inner);
  }

  // Channel c0 + k as (outer, inner), for groups of channels c0.. that lie
  // within one block (their count divides the block).
  std::pair<llvm::Value*, llvm::Value*> channel(KernelBuilder& kb, llvm::Value* c0, int64_t k) const {
    auto& ir = kb.ir();
    if (block == 1) return {ir.CreateAdd(c0, kb.i64(k)), kb.i64(0)};
    return {ir.CreateSDiv(c0, kb.i64(block)), ir.CreateAdd(ir.CreateSRem(c0, kb.i64(block)), kb.i64(k))};
  }

  ValueId id;
  std::vector<int64_t> dims;
  int64_t block;  // 1 when plain
};

// A run of `count` output columns from `first` (a run-time value in the
// interior loop), reading filter taps [jLo, jHi) of every row.
struct ColumnRun {
  llvm::Value* first;
  int64_t count, jLo, jHi;
};

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

llvm::Value* add(KernelBuilder& kb, llvm::Value* a, int64_t b) { return kb.ir().CreateAdd(a, kb.i64(b)); }

// y [N,F,OH,OW]<NCHW{b}c> = activation(conv(x [N,C,H,W] blocked or plain,
// w<OIhw{b}o>) + bias); tasks: (n, group of FB output blocks, block of output rows). Each
// task passes over its rows once per chunk of input channels, whose filter
// slice stays in L1 (conv_tiles.h); passes after the first resume from the
// partial sums stored by the previous one.
int64_t emitForward(KernelBuilder& kb, ValueId id) {
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
                // A loop, not unrolled: unrolled, LLVM would keep the inputs
                // that neighbouring taps share in registers, and spill
                // accumulators.
                kb.rolledLoop(run.jLo, run.jHi, [&](llvm::Value* j) {
                  std::vector<llvm::Value*> filters;
                  for (int64_t k = 0; k < FB; ++k) {
                    llvm::Value* at = kb.index({add(kb, f0, k), c, i, j}, {blocks, wd[1], wd[2], wd[3]});
                    filters.push_back(kb.loadVector(w, ir.CreateMul(at, kb.i64(b)), b));
                  }
                  llvm::Value* left = ir.CreateSub(j, kb.i64(win.padLeft));
                  for (int64_t r = 0; r < run.count; ++r) {
                    llvm::Value* iw = ir.CreateAdd(ir.CreateMul(add(kb, run.first, r), kb.i64(win.sw)), left);
                    llvm::Value* input = kb.splat(kb.load(x.id, x.index(kb, n, outer, ih, iw, inner)));
                    for (int64_t k = 0; k < FB; ++k) acc.fma(slot(k, r), input, filters[static_cast<size_t>(k)]);
                  }
                });
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

// dw [F,C,KH,KW]<OIhw{b}o> = sum over n, oh, ow of x[n,c,ih,iw] * dy[n,f,oh,ow]
// with dy<NCHW{b}c>; tasks: (group of FB output blocks, group of CB input
// channels, filter row i). Each task owns its weights: no reduction across
// threads. It passes over the images a few at a time (the tile's images,
// whose rows of x and dy stay in L1), and over the filter's columns j in
// turn within a pass, resuming from the partial sums stored by the
// previous pass. One tap at a time keeps every input element of an output
// row distinct, so that LLVM has no reuse across iterations to rotate
// through registers.
int64_t emitFilterGradient(KernelBuilder& kb, ValueId id) {
  const Node& node = kb.graph().node(id);
  const Image x(kb, node.operands[0]);
  const ValueId dy = node.operands[1];
  const std::vector<int64_t>& dyd = kb.dims(dy);
  const std::vector<int64_t>& wd = node.type.dims;
  const int64_t b = kb.width(), blocks = wd[0] / b;
  const WindowAttrs win = windowAttrs(node);
  const FilterGradientTile tile = filterGradientTile(kb.graph(), node, kb.target());
  const int64_t FB = tile.filterBlocks, CB = tile.channels;
  const int64_t groups = blocks / FB, channelGroups = wd[1] / CB, passes = dyd[0] / tile.images;
  auto& ir = kb.ir();
  kb.loop(kb.taskBegin(), kb.taskEnd(), [&](llvm::Value* task) {
    llvm::Value* f0 = ir.CreateMul(ir.CreateSDiv(task, kb.i64(channelGroups * wd[2])), kb.i64(FB));
    llvm::Value* c0 = ir.CreateMul(ir.CreateSRem(ir.CreateSDiv(task, kb.i64(wd[2])), kb.i64(channelGroups)), kb.i64(CB));
    llvm::Value* i = ir.CreateSRem(task, kb.i64(wd[2]));
    const auto [ohLo, ohHi] = outputsInside(kb, i, win.padTop, win.sh, x.dims[2], dyd[2]);
    std::vector<std::pair<llvm::Value*, llvm::Value*>> channels;
    for (int64_t k = 0; k < CB; ++k) channels.push_back(x.channel(kb, c0, k));
    kb.rolledLoop(0, passes, [&](llvm::Value* pass) {
      kb.rolledLoop(0, wd[3], [&](llvm::Value* j) {
        const auto [owLo, owHi] = outputsInside(kb, j, win.padLeft, win.sw, x.dims[3], dyd[3]);
        auto weight = [&](int64_t f, int64_t c) {
          llvm::Value* at = kb.index({add(kb, f0, f), add(kb, c0, c), i, j}, {blocks, wd[1], wd[2], wd[3]});
          return ir.CreateMul(at, kb.i64(b));
        };
        Accumulators acc(kb, static_cast<size_t>(FB * CB), [&](size_t) { return kb.f32(0.0); });
        auto slot = [&](int64_t f, int64_t c) { return static_cast<size_t>(f * CB + c); };
        if (passes > 1)
          kb.when(ir.CreateICmpSGT(pass, kb.i64(0)), [&] {
            for (int64_t f = 0; f < FB; ++f)
              for (int64_t c = 0; c < CB; ++c) acc.set(slot(f, c), kb.loadVector(id, weight(f, c), b));
          });
        llvm::Value* firstImage = ir.CreateMul(pass, kb.i64(tile.images));
        kb.loop(firstImage, add(kb, firstImage, tile.images), [&](llvm::Value* n) {
          kb.loop(ohLo, ohHi, [&](llvm::Value* oh) {
            llvm::Value* ih = ir.CreateSub(ir.CreateAdd(ir.CreateMul(oh, kb.i64(win.sh)), i), kb.i64(win.padTop));
            kb.loop(owLo, owHi, [&](llvm::Value* ow) {
              llvm::Value* iw = ir.CreateSub(ir.CreateAdd(ir.CreateMul(ow, kb.i64(win.sw)), j), kb.i64(win.padLeft));
              std::vector<llvm::Value*> gradients;
              for (int64_t f = 0; f < FB; ++f) {
                llvm::Value* at = kb.index({n, add(kb, f0, f), oh, ow}, {dyd[0], blocks, dyd[2], dyd[3]});
                gradients.push_back(kb.loadVector(dy, ir.CreateMul(at, kb.i64(b)), b));
              }
              for (int64_t c = 0; c < CB; ++c) {
                const auto [outer, inner] = channels[static_cast<size_t>(c)];
                llvm::Value* input = kb.splat(kb.load(x.id, x.index(kb, n, outer, ih, iw, inner)));
                for (int64_t f = 0; f < FB; ++f) acc.fma(slot(f, c), input, gradients[static_cast<size_t>(f)]);
              }
            });
          });
        });
        for (int64_t f = 0; f < FB; ++f)
          for (int64_t c = 0; c < CB; ++c) kb.storeVector(id, weight(f, c), acc.get(slot(f, c)));
      });
    });
  });
  return groups * channelGroups * wd[2];
}

}  // namespace

int64_t emitBlockedConvolution(KernelBuilder& kb, ValueId id) {
  return kb.graph().node(id).op == Op::Conv2D ? emitForward(kb, id) : emitFilterGradient(kb, id);
}

}  // namespace cnnc

// Convolutions as explicit vector code: each kernel keeps a register block
// of vectors of width() outputs (or, for the filter gradient, partial sums)
// and accumulates them with fused multiply-adds, the vectors running along
// the image width and the block across channels, so that every load feeds
// several FMAs. Borders are handled by lane masks rather than by padded
// copies; strided access becomes a gather.
#include <algorithm>
#include <array>

#include "compiler/codegen/activation.h"
#include "compiler/codegen/emitters.h"
#include "compiler/conv_tiles.h"
#include "ir/fused_activation.h"
#include "ir/fused_bias_gradient.h"

namespace cnnc {

WindowAttrs windowAttrs(const Node& node) {
  const IntList strides = *getInts(node.attrs, "strides"), pads = *getInts(node.attrs, "pads");
  return {strides[0], strides[1], pads[0], pads[1]};
}

namespace {

// Lanes whose input column `columns` (an i64 vector) lies inside [0, width).
llvm::Value* insideColumns(KernelBuilder& kb, llvm::Value* columns, int64_t width, llvm::Value* mask) {
  auto& ir = kb.ir();
  mask = ir.CreateAnd(mask, ir.CreateICmpSGE(columns, kb.splat(kb.i64(0))));
  return ir.CreateAnd(mask, ir.CreateICmpSLT(columns, kb.splat(kb.i64(width))));
}

// Runs `body(ih)` for input row ih = oh*sh + i - padTop when it lies inside [0, H).
void insideRow(KernelBuilder& kb, llvm::Value* oh, llvm::Value* i, const WindowAttrs& win, int64_t height,
               const std::function<void(llvm::Value*)>& body) {
  auto& ir = kb.ir();
  llvm::Value* ih = ir.CreateSub(ir.CreateAdd(ir.CreateMul(oh, kb.i64(win.sh)), i), kb.i64(win.padTop));
  kb.when(ir.CreateAnd(ir.CreateICmpSGE(ih, kb.i64(0)), ir.CreateICmpSLT(ih, kb.i64(height))), [&] { body(ih); });
}

// The input lanes x[n, c, ih, ow * sw + j - padLeft] for the output columns
// ow = ow0 + lane, zero where a column is outside the image or `valid` is off.
struct InputLanes {
  llvm::Value* values;
  llvm::Value* mask;
};

InputLanes loadInputLanes(KernelBuilder& kb, ValueId x, std::array<llvm::Value*, 3> nci, llvm::Value* ow0,
                          llvm::Value* j, const WindowAttrs& win, llvm::Value* valid) {
  auto& ir = kb.ir();
  const std::vector<int64_t>& xd = kb.dims(x);
  llvm::Value* lanes = ir.CreateAdd(kb.splat(ow0), kb.laneIds());
  llvm::Value* shift = ir.CreateSub(j, kb.i64(win.padLeft));
  llvm::Value* columns = ir.CreateAdd(ir.CreateMul(lanes, kb.splat(kb.i64(win.sw))), kb.splat(shift));
  llvm::Value* mask = insideColumns(kb, columns, xd[3], valid);
  llvm::Value* first = ir.CreateAdd(ir.CreateMul(ow0, kb.i64(win.sw)), shift);
  llvm::Value* values = kb.loadLanes(x, kb.index({nci[0], nci[1], nci[2], first}, xd), win.sw, mask);
  return {values, mask};
}

// Output channels (or, backward, input channels) per register block: each
// loaded input vector feeds that many FMAs. AVX-512 has 32 vector registers,
// AVX2 16.
int64_t channelBlockLimit(const KernelBuilder& kb) { return kb.width() == 16 ? 8 : 4; }

// Where the forward and backward-data kernels are in their common loop
// nest: image n, the block of channels starting at k0, output row `row`,
// and the vector of columns starting at col0 (lanes past the row's end are
// off in `valid`).
struct OutputBlock {
  llvm::Value* n;
  llvm::Value* k0;
  llvm::Value* row;
  llvm::Value* col0;
  llvm::Value* valid;
};

// The loop nest both share, over node `id`'s output [N,K,H,W]: tasks (n,
// block of B channels); per row and vector of columns, B accumulators start
// at initial(k), `reduce` accumulates into them, and the block is stored,
// through the node's fused activation or activation gradient if it has one.
int64_t forEachOutputBlock(KernelBuilder& kb, ValueId id, int64_t B,
                           const std::function<llvm::Value*(const OutputBlock&, size_t)>& initial,
                           const std::function<void(const OutputBlock&, Accumulators&)>& reduce) {
  const std::vector<int64_t>& out = kb.graph().node(id).type.dims;
  const int64_t blocks = out[1] / B;
  auto& ir = kb.ir();
  kb.loop(kb.taskBegin(), kb.taskEnd(), [&](llvm::Value* task) {
    llvm::Value* n = ir.CreateSDiv(task, kb.i64(blocks));
    llvm::Value* k0 = ir.CreateMul(ir.CreateSRem(task, kb.i64(blocks)), kb.i64(B));
    kb.loop(0, out[2], [&](llvm::Value* row) {
      kb.loop(0, out[3], [&](llvm::Value* col0) {
        llvm::Value* valid = ir.CreateICmpSLT(ir.CreateAdd(kb.splat(col0), kb.laneIds()), kb.splat(kb.i64(out[3])));
        const OutputBlock at{n, k0, row, col0, valid};
        Accumulators acc(kb, static_cast<size_t>(B), [&](size_t k) { return initial(at, k); });
        reduce(at, acc);
        for (size_t k = 0; k < static_cast<size_t>(B); ++k) {
          llvm::Value* channel = ir.CreateAdd(k0, kb.i64(static_cast<int64_t>(k)));
          llvm::Value* index = kb.index({n, channel, row, col0}, out);
          kb.storeLanes(id, index, finishResult(kb, kb.graph().node(id), acc.get(k), index, valid), valid);
        }
      }, kb.width());
    });
  });
  return out[0] * blocks;
}

llvm::Value* channelAt(KernelBuilder& kb, const OutputBlock& at, size_t k) {
  return kb.ir().CreateAdd(at.k0, kb.i64(static_cast<int64_t>(k)));
}

// y [N,F,OH,OW] = activation(conv(x [N,C,H,W], w [F,C,KH,KW]) + bias); tasks: (n, block
// of FB output channels). Each vector of inputs along the row feeds FB
// accumulators, one per output channel of the block.
int64_t emitForward(KernelBuilder& kb, ValueId id) {
  const Node& node = kb.graph().node(id);
  const ValueId x = node.operands[0], w = node.operands[1];
  const auto &xd = kb.dims(x), &wd = kb.dims(w);
  const WindowAttrs win = windowAttrs(node);
  const int64_t FB = largestDivisorUpTo(wd[0], channelBlockLimit(kb));
  auto bias = [&](const OutputBlock& at, size_t k) {
    return ownOperandCount(node) == 3 ? kb.load(node.operands[2], channelAt(kb, at, k)) : kb.f32(0.0);
  };
  return forEachOutputBlock(kb, id, FB, bias, [&](const OutputBlock& at, Accumulators& acc) {
    kb.rolledLoop(0, xd[1], [&](llvm::Value* c) {
      kb.loop(0, wd[2], [&](llvm::Value* i) {
        insideRow(kb, at.row, i, win, xd[2], [&](llvm::Value* ih) {
          kb.loop(0, wd[3], [&](llvm::Value* j) {
            const InputLanes in = loadInputLanes(kb, x, {at.n, c, ih}, at.col0, j, win, at.valid);
            for (size_t k = 0; k < static_cast<size_t>(FB); ++k)
              acc.fma(k, in.values, kb.splat(kb.load(w, kb.index({channelAt(kb, at, k), c, i, j}, wd))));
          });
        });
      });
    });
  });
}

// dx [N,C,H,W] from dy [N,F,OH,OW] and w [F,C,KH,KW]; tasks: (n, block of
// CB input channels). Each input element sums the outputs whose window
// covers it: output row oh = (ih + padTop - i) / sh when that divides
// exactly and is in range; each loaded dy vector feeds CB accumulators.
int64_t emitBackwardData(KernelBuilder& kb, ValueId id) {
  const Node& node = kb.graph().node(id);
  const ValueId dy = node.operands[0], w = node.operands[1];
  const auto &dyd = kb.dims(dy), &wd = kb.dims(w);
  const WindowAttrs win = windowAttrs(node);
  const int64_t CB = largestDivisorUpTo(wd[1], channelBlockLimit(kb));
  auto& ir = kb.ir();
  auto zeros = kb.splat(kb.i64(0));
  auto zero = [&](const OutputBlock&, size_t) { return kb.f32(0.0); };
  return forEachOutputBlock(kb, id, CB, zero, [&](const OutputBlock& at, Accumulators& acc) {
    llvm::Value* lanes = ir.CreateAdd(kb.splat(at.col0), kb.laneIds());
    kb.rolledLoop(0, dyd[1], [&](llvm::Value* f) {
      kb.loop(0, wd[2], [&](llvm::Value* i) {
        llvm::Value* rowNumerator = ir.CreateSub(ir.CreateAdd(at.row, kb.i64(win.padTop)), i);
        llvm::Value* oh = ir.CreateSDiv(rowNumerator, kb.i64(win.sh));
        llvm::Value* rowOk = ir.CreateAnd(
            ir.CreateAnd(ir.CreateICmpSGE(rowNumerator, kb.i64(0)),
                         ir.CreateICmpEQ(ir.CreateSRem(rowNumerator, kb.i64(win.sh)), kb.i64(0))),
            ir.CreateICmpSLT(oh, kb.i64(dyd[2])));
        kb.when(rowOk, [&] {
          kb.loop(0, wd[3], [&](llvm::Value* j) {
            llvm::Value* numerators = ir.CreateAdd(lanes, kb.splat(ir.CreateSub(kb.i64(win.padLeft), j)));
            llvm::Value* ow = ir.CreateSDiv(numerators, kb.splat(kb.i64(win.sw)));
            llvm::Value* mask = ir.CreateAnd(at.valid, ir.CreateICmpSGE(numerators, zeros));
            mask = ir.CreateAnd(mask, ir.CreateICmpEQ(ir.CreateSRem(numerators, kb.splat(kb.i64(win.sw))), zeros));
            mask = ir.CreateAnd(mask, ir.CreateICmpSLT(ow, kb.splat(kb.i64(dyd[3]))));
            llvm::Value* row = kb.index({at.n, f, oh, kb.i64(0)}, dyd);
            llvm::Value* dyv = win.sw == 1
                ? kb.loadLanes(dy, ir.CreateAdd(row, ir.CreateSub(ir.CreateAdd(at.col0, kb.i64(win.padLeft)), j)), 1, mask)
                : kb.gatherLanes(dy, ir.CreateAdd(kb.splat(row), ow), mask);
            for (size_t k = 0; k < static_cast<size_t>(CB); ++k)
              acc.fma(k, dyv, kb.splat(kb.load(w, kb.index({f, channelAt(kb, at, k), i, j}, wd))));
          });
        });
      });
    });
  });
}

// dw [F,C,KH,KW] = sum over n, oh, ow of dy[n,f,oh,ow] * x[n,c,ih,iw]
// (and a fused bias gradient db [F] = the sum of dy over n, oh, ow);
// tasks: (block of FB filters, block of CB channels). A register tile of
// FB x CB vector accumulators runs along the output width: FB + CB loads
// feed FB * CB FMAs. Lanes are summed once per weight.
int64_t emitBackwardFilter(KernelBuilder& kb, ValueId id) {
  const Node& node = kb.graph().node(id);
  const ValueId x = node.operands[0], dy = node.operands[1];
  const auto &xd = kb.dims(x), &dyd = kb.dims(dy), &wd = node.type.dims;
  const WindowAttrs win = windowAttrs(node);
  const int64_t FB = largestDivisorUpTo(wd[0], 4), CB = largestDivisorUpTo(wd[1], kb.width() == 16 ? 4 : 2);
  const int64_t cBlocks = wd[1] / CB;
  auto& ir = kb.ir();
  kb.loop(kb.taskBegin(), kb.taskEnd(), [&](llvm::Value* task) {
    llvm::Value* f0 = ir.CreateMul(ir.CreateSDiv(task, kb.i64(cBlocks)), kb.i64(FB));
    llvm::Value* c0 = ir.CreateMul(ir.CreateSRem(task, kb.i64(cBlocks)), kb.i64(CB));
    auto f = [&](int64_t k) { return ir.CreateAdd(f0, kb.i64(k)); };
    auto c = [&](int64_t k) { return ir.CreateAdd(c0, kb.i64(k)); };
    kb.loop(0, wd[2], [&](llvm::Value* i) {
      kb.loop(0, wd[3], [&](llvm::Value* j) {
        Accumulators acc(kb, static_cast<size_t>(FB * CB), [&](size_t) { return kb.f32(0.0); });
        kb.rolledLoop(0, dyd[0], [&](llvm::Value* n) {
          kb.loop(0, dyd[2], [&](llvm::Value* oh) {
            insideRow(kb, oh, i, win, xd[2], [&](llvm::Value* ih) {
              kb.loop(0, dyd[3], [&](llvm::Value* ow0) {
                llvm::Value* valid = ir.CreateICmpSLT(ir.CreateAdd(kb.splat(ow0), kb.laneIds()), kb.splat(kb.i64(dyd[3])));
                std::vector<llvm::Value*> xs, dys;
                llvm::Value* mask = nullptr;
                for (int64_t kc = 0; kc < CB; ++kc) {
                  const InputLanes in = loadInputLanes(kb, x, {n, c(kc), ih}, ow0, j, win, valid);
                  xs.push_back(in.values);
                  mask = in.mask;
                }
                for (int64_t kf = 0; kf < FB; ++kf) dys.push_back(kb.loadLanes(dy, kb.index({n, f(kf), oh, ow0}, dyd), 1, mask));
                for (int64_t kf = 0; kf < FB; ++kf)
                  for (int64_t kc = 0; kc < CB; ++kc) acc.fma(static_cast<size_t>(kf * CB + kc), xs[static_cast<size_t>(kc)], dys[static_cast<size_t>(kf)]);
              }, kb.width());
            });
          });
        });
        for (int64_t kf = 0; kf < FB; ++kf)
          for (int64_t kc = 0; kc < CB; ++kc)
            kb.store(id, kb.index({f(kf), c(kc), i, j}, wd), kb.sum(acc.get(static_cast<size_t>(kf * CB + kc))));
      });
    });
    // A fused bias gradient, in the tasks of the first channel block: the
    // task's filters as bias_grad sums them (dy is plain: a channel a group).
    if (std::optional<ValueId> bias = fusedBiasGradient(kb.graph(), node))
      kb.when(ir.CreateICmpEQ(c0, kb.i64(0)), [&] {
        for (int64_t kf = 0; kf < FB; ++kf) emitBiasGradGroup(kb, *bias, dy, f(kf));
      });
  });
  return (wd[0] / FB) * cBlocks;
}

}  // namespace

int64_t emitConvolution(KernelBuilder& kb, ValueId id) {
  const bool blocked = kb.graph().node(id).type.layout != Layout::Plain;
  switch (kb.graph().node(id).op) {
    case Op::Conv2D: return blocked ? emitBlockedForward(kb, id) : emitForward(kb, id);
    case Op::Conv2DBackwardData: return blocked ? emitBlockedBackwardData(kb, id) : emitBackwardData(kb, id);
    default: return blocked ? emitBlockedFilterGradient(kb, id) : emitBackwardFilter(kb, id);
  }
}

}  // namespace cnnc

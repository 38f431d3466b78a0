// Convolutions as explicit vector code: each kernel keeps a vector of
// width() outputs (or, for the filter gradient, partial sums) in a register
// and accumulates it with fused multiply-adds, the vector running along the
// image width. Borders are handled by lane masks rather than by padded
// copies; strided access becomes a gather.
#include <array>

#include "compiler/codegen/emitters.h"

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

// y [N,F,OH,OW] = conv(x [N,C,H,W], w [F,C,KH,KW]) + bias; tasks: (n, f).
int64_t emitForward(KernelBuilder& kb, ValueId id) {
  const Node& node = kb.graph().node(id);
  const ValueId x = node.operands[0], w = node.operands[1];
  const auto &xd = kb.dims(x), &wd = kb.dims(w), &yd = node.type.dims;
  const WindowAttrs win = windowAttrs(node);
  auto& ir = kb.ir();
  kb.loop(kb.taskBegin(), kb.taskEnd(), [&](llvm::Value* task) {
    llvm::Value* n = ir.CreateSDiv(task, kb.i64(yd[1]));
    llvm::Value* f = ir.CreateSRem(task, kb.i64(yd[1]));
    llvm::Value* bias = node.operands.size() == 3 ? kb.load(node.operands[2], f) : kb.f32(0.0);
    kb.loop(0, yd[2], [&](llvm::Value* oh) {
      kb.loop(0, yd[3], [&](llvm::Value* ow0) {
        llvm::Value* lanes = ir.CreateAdd(kb.splat(ow0), kb.laneIds());
        llvm::Value* valid = ir.CreateICmpSLT(lanes, kb.splat(kb.i64(yd[3])));
        llvm::Value* acc = kb.accumulate(bias, [&](llvm::AllocaInst* slot) {
          kb.loop(0, xd[1], [&](llvm::Value* c) {
            kb.loop(0, wd[2], [&](llvm::Value* i) {
              insideRow(kb, oh, i, win, xd[2], [&](llvm::Value* ih) {
                kb.loop(0, wd[3], [&](llvm::Value* j) {
                  const InputLanes in = loadInputLanes(kb, x, {n, c, ih}, ow0, j, win, valid);
                  llvm::Value* wv = kb.splat(kb.load(w, kb.index({f, c, i, j}, wd)));
                  ir.CreateStore(kb.fma(in.values, wv, ir.CreateLoad(kb.vectorType(), slot)), slot);
                });
              });
            });
          });
        });
        kb.storeLanes(id, kb.index({n, f, oh, ow0}, yd), acc, valid);
      }, kb.width());
    });
  });
  return yd[0] * yd[1];
}

// dx [N,C,H,W] from dy [N,F,OH,OW] and w [F,C,KH,KW]; tasks: (n, c). Each
// input element sums the outputs whose window covers it: output row
// oh = (ih + padTop - i) / sh when that divides exactly and is in range.
int64_t emitBackwardData(KernelBuilder& kb, ValueId id) {
  const Node& node = kb.graph().node(id);
  const ValueId dy = node.operands[0], w = node.operands[1];
  const auto &dyd = kb.dims(dy), &wd = kb.dims(w), &xd = node.type.dims;
  const WindowAttrs win = windowAttrs(node);
  auto& ir = kb.ir();
  auto zeros = kb.splat(kb.i64(0));
  kb.loop(kb.taskBegin(), kb.taskEnd(), [&](llvm::Value* task) {
    llvm::Value* n = ir.CreateSDiv(task, kb.i64(xd[1]));
    llvm::Value* c = ir.CreateSRem(task, kb.i64(xd[1]));
    kb.loop(0, xd[2], [&](llvm::Value* ih) {
      kb.loop(0, xd[3], [&](llvm::Value* iw0) {
        llvm::Value* lanes = ir.CreateAdd(kb.splat(iw0), kb.laneIds());
        llvm::Value* valid = ir.CreateICmpSLT(lanes, kb.splat(kb.i64(xd[3])));
        llvm::Value* acc = kb.accumulate(kb.f32(0.0), [&](llvm::AllocaInst* slot) {
          kb.loop(0, dyd[1], [&](llvm::Value* f) {
            kb.loop(0, wd[2], [&](llvm::Value* i) {
              llvm::Value* rowNumerator = ir.CreateSub(ir.CreateAdd(ih, kb.i64(win.padTop)), i);
              llvm::Value* oh = ir.CreateSDiv(rowNumerator, kb.i64(win.sh));
              llvm::Value* rowOk = ir.CreateAnd(
                  ir.CreateAnd(ir.CreateICmpSGE(rowNumerator, kb.i64(0)),
                               ir.CreateICmpEQ(ir.CreateSRem(rowNumerator, kb.i64(win.sh)), kb.i64(0))),
                  ir.CreateICmpSLT(oh, kb.i64(dyd[2])));
              kb.when(rowOk, [&] {
                kb.loop(0, wd[3], [&](llvm::Value* j) {
                  llvm::Value* numerators =
                      ir.CreateAdd(lanes, kb.splat(ir.CreateSub(kb.i64(win.padLeft), j)));
                  llvm::Value* ow = ir.CreateSDiv(numerators, kb.splat(kb.i64(win.sw)));
                  llvm::Value* mask = ir.CreateAnd(valid, ir.CreateICmpSGE(numerators, zeros));
                  mask = ir.CreateAnd(mask, ir.CreateICmpEQ(ir.CreateSRem(numerators, kb.splat(kb.i64(win.sw))), zeros));
                  mask = ir.CreateAnd(mask, ir.CreateICmpSLT(ow, kb.splat(kb.i64(dyd[3]))));
                  llvm::Value* rowStart = kb.index({n, kb.i64(0), oh, kb.i64(0)}, dyd);
                  llvm::Value* rowOffset = ir.CreateAdd(rowStart, ir.CreateMul(f, kb.i64(dyd[2] * dyd[3])));
                  llvm::Value* dyv = win.sw == 1
                      ? kb.loadLanes(dy, ir.CreateAdd(rowOffset, ir.CreateSub(ir.CreateAdd(iw0, kb.i64(win.padLeft)), j)), 1, mask)
                      : kb.gatherLanes(dy, ir.CreateAdd(kb.splat(rowOffset), ow), mask);
                  llvm::Value* wv = kb.splat(kb.load(w, kb.index({f, c, i, j}, wd)));
                  ir.CreateStore(kb.fma(dyv, wv, ir.CreateLoad(kb.vectorType(), slot)), slot);
                });
              });
            });
          });
        });
        kb.storeLanes(id, kb.index({n, c, ih, iw0}, xd), acc, valid);
      }, kb.width());
    });
  });
  return xd[0] * xd[1];
}

// dw [F,C,KH,KW] = sum over n, oh, ow of dy[n,f,oh,ow] * x[n,c,ih,iw];
// tasks: (f, c). The vector runs along the output width; lanes are summed
// once per weight.
int64_t emitBackwardFilter(KernelBuilder& kb, ValueId id) {
  const Node& node = kb.graph().node(id);
  const ValueId x = node.operands[0], dy = node.operands[1];
  const auto &xd = kb.dims(x), &dyd = kb.dims(dy), &wd = node.type.dims;
  const WindowAttrs win = windowAttrs(node);
  auto& ir = kb.ir();
  kb.loop(kb.taskBegin(), kb.taskEnd(), [&](llvm::Value* task) {
    llvm::Value* f = ir.CreateSDiv(task, kb.i64(wd[1]));
    llvm::Value* c = ir.CreateSRem(task, kb.i64(wd[1]));
    kb.loop(0, wd[2], [&](llvm::Value* i) {
      kb.loop(0, wd[3], [&](llvm::Value* j) {
        llvm::Value* acc = kb.accumulate(kb.f32(0.0), [&](llvm::AllocaInst* slot) {
          kb.loop(0, dyd[0], [&](llvm::Value* n) {
            kb.loop(0, dyd[2], [&](llvm::Value* oh) {
              insideRow(kb, oh, i, win, xd[2], [&](llvm::Value* ih) {
                kb.loop(0, dyd[3], [&](llvm::Value* ow0) {
                  llvm::Value* valid = ir.CreateICmpSLT(ir.CreateAdd(kb.splat(ow0), kb.laneIds()), kb.splat(kb.i64(dyd[3])));
                  const InputLanes in = loadInputLanes(kb, x, {n, c, ih}, ow0, j, win, valid);
                  llvm::Value* dyv = kb.loadLanes(dy, kb.index({n, f, oh, ow0}, dyd), 1, in.mask);
                  ir.CreateStore(kb.fma(in.values, dyv, ir.CreateLoad(kb.vectorType(), slot)), slot);
                }, kb.width());
              });
            });
          });
        });
        kb.store(id, kb.index({f, c, i, j}, wd), kb.sum(acc));
      });
    });
  });
  return wd[0] * wd[1];
}

}  // namespace

int64_t emitConvolution(KernelBuilder& kb, ValueId id) {
  switch (kb.graph().node(id).op) {
    case Op::Conv2D: return emitForward(kb, id);
    case Op::Conv2DBackwardData: return emitBackwardData(kb, id);
    default: return emitBackwardFilter(kb, id);
  }
}

}  // namespace cnnc

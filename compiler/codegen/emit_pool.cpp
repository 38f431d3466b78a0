// Pooling, forward and backward, as scalar loops over one (n, c) plane per
// task; LLVM's vectorizer takes what it can. Windows skip padded positions:
// padding never wins a max and never counts in an average.
#include <cmath>

#include "compiler/codegen/emitters.h"

namespace cnnc {
namespace {

struct Plane {
  int64_t H, W, OH, OW;  // input and output extents of one (n, c) plane
};

// Calls visit(oh, ow, inputIndexInPlane) for every unpadded element of every
// window, and after(oh, ow) once each window is done.
void forEachWindow(KernelBuilder& kb, const Node& node, const Plane& p,
                   const std::function<void(llvm::Value*, llvm::Value*)>& before,
                   const std::function<void(llvm::Value*, llvm::Value*, llvm::Value*)>& visit,
                   const std::function<void(llvm::Value*, llvm::Value*)>& after) {
  const IntList window = *getInts(node.attrs, "window");
  const WindowAttrs win = windowAttrs(node);
  auto& ir = kb.ir();
  kb.loop(0, p.OH, [&](llvm::Value* oh) {
    kb.loop(0, p.OW, [&](llvm::Value* ow) {
      before(oh, ow);
      kb.loop(0, window[0], [&](llvm::Value* i) {
        llvm::Value* ih = ir.CreateSub(ir.CreateAdd(ir.CreateMul(oh, kb.i64(win.sh)), i), kb.i64(win.padTop));
        kb.loop(0, window[1], [&](llvm::Value* j) {
          llvm::Value* iw = ir.CreateSub(ir.CreateAdd(ir.CreateMul(ow, kb.i64(win.sw)), j), kb.i64(win.padLeft));
          llvm::Value* inside = ir.CreateAnd(
              ir.CreateAnd(ir.CreateICmpSGE(ih, kb.i64(0)), ir.CreateICmpSLT(ih, kb.i64(p.H))),
              ir.CreateAnd(ir.CreateICmpSGE(iw, kb.i64(0)), ir.CreateICmpSLT(iw, kb.i64(p.W))));
          kb.when(inside, [&] { visit(oh, ow, ir.CreateAdd(ir.CreateMul(ih, kb.i64(p.W)), iw)); });
        });
      });
      after(oh, ow);
    });
  });
}

// The number of unpadded elements in window (oh, ow), as a float: the
// product of the rows and the columns of the window inside the image.
llvm::Value* unpaddedCount(KernelBuilder& kb, const Node& node, const Plane& p, llvm::Value* oh, llvm::Value* ow) {
  const IntList window = *getInts(node.attrs, "window");
  const WindowAttrs win = windowAttrs(node);
  auto& ir = kb.ir();
  auto inside = [&](llvm::Value* o, int64_t stride, int64_t pad, int64_t size, int64_t extent) {
    llvm::Value* start = ir.CreateSub(ir.CreateMul(o, kb.i64(stride)), kb.i64(pad));
    llvm::Value* lo = ir.CreateBinaryIntrinsic(llvm::Intrinsic::smax, start, kb.i64(0));
    llvm::Value* hi = ir.CreateBinaryIntrinsic(llvm::Intrinsic::smin, ir.CreateAdd(start, kb.i64(size)), kb.i64(extent));
    return ir.CreateSub(hi, lo);
  };
  llvm::Value* rows = inside(oh, win.sh, win.padTop, window[0], p.H);
  llvm::Value* cols = inside(ow, win.sw, win.padLeft, window[1], p.W);
  return ir.CreateSIToFP(ir.CreateMul(rows, cols), ir.getFloatTy());
}

// Plane of the image operand x and of the pooled tensor y.
Plane planeOf(const std::vector<int64_t>& x, const std::vector<int64_t>& y) { return {x[2], x[3], y[2], y[3]}; }

void zeroPlane(KernelBuilder& kb, ValueId id, llvm::Value* base, int64_t size) {
  kb.loop(0, size, [&](llvm::Value* s) { kb.store(id, kb.ir().CreateAdd(base, s), kb.f32(0.0)); });
}

int64_t emitPool(KernelBuilder& kb, ValueId id) {
  const Node& node = kb.graph().node(id);
  const ValueId x = node.operands[0];
  const Plane p = planeOf(kb.dims(x), node.type.dims);
  const bool isMax = node.op == Op::MaxPool2D;
  auto& ir = kb.ir();
  llvm::Type* f32 = ir.getFloatTy();
  kb.loop(kb.taskBegin(), kb.taskEnd(), [&](llvm::Value* plane) {
    llvm::Value* in = ir.CreateMul(plane, kb.i64(p.H * p.W));
    llvm::Value* out = ir.CreateMul(plane, kb.i64(p.OH * p.OW));
    llvm::AllocaInst* acc = kb.variable(f32, kb.f32(0.0));
    forEachWindow(
        kb, node, p, [&](llvm::Value*, llvm::Value*) { ir.CreateStore(kb.f32(isMax ? -INFINITY : 0.0), acc); },
        [&](llvm::Value*, llvm::Value*, llvm::Value* at) {
          llvm::Value* v = kb.load(x, ir.CreateAdd(in, at));
          llvm::Value* old = ir.CreateLoad(f32, acc);
          ir.CreateStore(isMax ? ir.CreateMaxNum(old, v) : ir.CreateFAdd(old, v), acc);
        },
        [&](llvm::Value* oh, llvm::Value* ow) {
          llvm::Value* result = ir.CreateLoad(f32, acc);
          if (!isMax) result = ir.CreateFDiv(result, unpaddedCount(kb, node, p, oh, ow));
          kb.store(id, ir.CreateAdd(out, ir.CreateAdd(ir.CreateMul(oh, kb.i64(p.OW)), ow)), result);
        });
  });
  return node.type.dims[0] * node.type.dims[1];
}

// max_pool2d_bwd (x, dy): each window's gradient goes to its first maximum.
// avg_pool2d_bwd (dy): spread evenly over the window's unpadded elements.
int64_t emitPoolBackward(KernelBuilder& kb, ValueId id) {
  const Node& node = kb.graph().node(id);
  const bool isMax = node.op == Op::MaxPool2DBackward;
  const ValueId dy = node.operands[isMax ? 1 : 0];
  const Plane p = planeOf(node.type.dims, kb.dims(dy));
  auto& ir = kb.ir();
  llvm::Type* f32 = ir.getFloatTy();
  kb.loop(kb.taskBegin(), kb.taskEnd(), [&](llvm::Value* plane) {
    llvm::Value* in = ir.CreateMul(plane, kb.i64(p.H * p.W));
    llvm::Value* out = ir.CreateMul(plane, kb.i64(p.OH * p.OW));
    zeroPlane(kb, id, in, p.H * p.W);
    llvm::AllocaInst* best = kb.variable(f32, kb.f32(0.0));
    llvm::AllocaInst* bestAt = kb.variable(ir.getInt64Ty(), kb.i64(-1));
    llvm::AllocaInst* count = kb.variable(f32, kb.f32(0.0));
    auto gradientAt = [&](llvm::Value* oh, llvm::Value* ow) {
      return kb.load(dy, ir.CreateAdd(out, ir.CreateAdd(ir.CreateMul(oh, kb.i64(p.OW)), ow)));
    };
    auto addTo = [&](llvm::Value* at, llvm::Value* g) {
      llvm::Value* index = ir.CreateAdd(in, at);
      kb.store(id, index, ir.CreateFAdd(kb.load(id, index), g));
    };
    if (isMax) {
      const ValueId x = node.operands[0];
      forEachWindow(
          kb, node, p, [&](llvm::Value*, llvm::Value*) { ir.CreateStore(kb.i64(-1), bestAt); },
          [&](llvm::Value*, llvm::Value*, llvm::Value* at) {
            llvm::Value* v = kb.load(x, ir.CreateAdd(in, at));
            llvm::Value* first = ir.CreateICmpSLT(ir.CreateLoad(ir.getInt64Ty(), bestAt), kb.i64(0));
            kb.when(ir.CreateOr(first, ir.CreateFCmpOGT(v, ir.CreateLoad(f32, best))), [&] {
              ir.CreateStore(v, best);
              ir.CreateStore(at, bestAt);
            });
          },
          [&](llvm::Value* oh, llvm::Value* ow) { addTo(ir.CreateLoad(ir.getInt64Ty(), bestAt), gradientAt(oh, ow)); });
    } else {
      forEachWindow(
          kb, node, p, [&](llvm::Value* oh, llvm::Value* ow) { ir.CreateStore(unpaddedCount(kb, node, p, oh, ow), count); },
          [&](llvm::Value* oh, llvm::Value* ow, llvm::Value* at) {
            addTo(at, ir.CreateFDiv(gradientAt(oh, ow), ir.CreateLoad(f32, count)));
          },
          [](llvm::Value*, llvm::Value*) {});
    }
  });
  return node.type.dims[0] * node.type.dims[1];
}

}  // namespace

int64_t emitPooling(KernelBuilder& kb, ValueId id) {
  const Node& node = kb.graph().node(id);
  switch (node.op) {
    case Op::MaxPool2D:
    case Op::AvgPool2D: return emitPool(kb, id);
    case Op::MaxPool2DBackward:
    case Op::AvgPool2DBackward: return emitPoolBackward(kb, id);
    default: break;
  }
  // Global average pooling: x [N,C,H,W] <-> y [N,C]; tasks: (n, c).
  auto& ir = kb.ir();
  const bool backward = node.op == Op::GlobalAvgPool2DBackward;
  const std::vector<int64_t>& image = backward ? node.type.dims : kb.dims(node.operands[0]);
  const int64_t S = image[2] * image[3];
  const ValueId in = node.operands[0];
  kb.loop(kb.taskBegin(), kb.taskEnd(), [&](llvm::Value* plane) {
    llvm::Value* base = ir.CreateMul(plane, kb.i64(S));
    if (backward) {
      llvm::Value* share = ir.CreateFDiv(kb.load(in, plane), kb.f32(static_cast<double>(S)));
      kb.loop(0, S, [&](llvm::Value* s) { kb.store(id, ir.CreateAdd(base, s), share); });
      return;
    }
    llvm::AllocaInst* total = kb.variable(ir.getFloatTy(), kb.f32(0.0));
    kb.loop(0, S, [&](llvm::Value* s) {
      ir.CreateStore(ir.CreateFAdd(ir.CreateLoad(ir.getFloatTy(), total), kb.load(in, ir.CreateAdd(base, s))), total);
    });
    kb.store(id, plane, ir.CreateFDiv(ir.CreateLoad(ir.getFloatTy(), total), kb.f32(static_cast<double>(S))));
  });
  return image[0] * image[1];
}

}  // namespace cnnc

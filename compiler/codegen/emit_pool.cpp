// Pooling, forward and backward, as vector code: windowed pooling over one
// plane per task (WindowLanes), global pooling over one channel group of one
// image per task (ChannelLanes). Windows skip padded positions: padding
// never wins a max and never counts in an average.
#include <cmath>

#include "compiler/codegen/activation.h"
#include "compiler/codegen/channel_lanes.h"
#include "compiler/codegen/emitters.h"
#include "compiler/codegen/window_lanes.h"
#include "ir/fused_activation.h"

namespace cnnc {
namespace {

// max_pool2d: each lane's maximum over its window; avg_pool2d: the mean.
// The outputs of one plane, of every row or of rows [firstRow, endRow).
void poolPlane(KernelBuilder& kb, ValueId id, WindowLanes& lanes, llvm::Value* plane, llvm::Value* firstRow = nullptr,
               llvm::Value* endRow = nullptr) {
  const Node& node = kb.graph().node(id);
  const ValueId x = node.operands[0];
  const bool isMax = node.op == Op::MaxPool2D;
  auto& ir = kb.ir();
  lanes.forEachOutput(plane, [&](const WindowLanes::Output& at) {
    llvm::AllocaInst* acc = kb.variable(lanes.vectorType(), lanes.constant(isMax ? -INFINITY : 0.0));
    lanes.forEachWindowRow(at, [&](llvm::Value*, llvm::Value* ih) {
      const std::vector<llvm::Value*> values = lanes.loadRow(x, at, ih);
      for (size_t j = 0; j < values.size(); ++j) {
        llvm::Value* value = values[j];
        // Padding loads as 0, which adds nothing to a sum but could win a max.
        if (isMax && at.inside[j]) value = ir.CreateSelect(at.inside[j], value, lanes.constant(-INFINITY));
        llvm::Value* old = ir.CreateLoad(lanes.vectorType(), acc);
        ir.CreateStore(isMax ? ir.CreateMaxNum(old, value) : ir.CreateFAdd(old, value), acc);
      }
    });
    llvm::Value* result = ir.CreateLoad(lanes.vectorType(), acc);
    if (!isMax) result = ir.CreateFDiv(result, lanes.windowSizes(at));
    lanes.storeOutput(id, at, result);
  }, firstRow, endRow);
}

int64_t emitPool(KernelBuilder& kb, ValueId id) {
  WindowLanes lanes(kb, kb.graph().node(id), kb.graph().node(id).operands[0], id);
  kb.loop(kb.taskBegin(), kb.taskEnd(), [&](llvm::Value* plane) { poolPlane(kb, id, lanes, plane); });
  return lanes.planes();
}

// The window position (WindowLanes::positions) of each lane's first maximum
// of x, and the maximum: in window order, as the reference finds it, a
// later element wins only if it is greater, so ties go to the first.
struct Maximum {
  llvm::Value* position;
  llvm::Value* value;
};

Maximum firstMaximum(KernelBuilder& kb, WindowLanes& lanes, ValueId x, const WindowLanes::Output& at) {
  auto& ir = kb.ir();
  llvm::Value* none = lanes.positions(kb.i64(0), -1);
  llvm::AllocaInst* best = kb.variable(lanes.vectorType(), lanes.constant(0.0));
  llvm::AllocaInst* bestAt = kb.variable(none->getType(), none);
  lanes.forEachWindowRow(at, [&](llvm::Value* i, llvm::Value* ih) {
    const std::vector<llvm::Value*> values = lanes.loadRow(x, at, ih);
    for (size_t j = 0; j < values.size(); ++j) {
      llvm::Value* oldBest = ir.CreateLoad(lanes.vectorType(), best);
      llvm::Value* oldAt = ir.CreateLoad(none->getType(), bestAt);
      // The first element in the image starts the search (padding never does).
      llvm::Value* wins = ir.CreateOr(ir.CreateFCmpOGT(values[j], oldBest), ir.CreateICmpEQ(oldAt, none));
      if (at.inside[j]) wins = ir.CreateAnd(wins, at.inside[j]);
      ir.CreateStore(ir.CreateSelect(wins, values[j], oldBest), best);
      ir.CreateStore(ir.CreateSelect(wins, lanes.positions(i, static_cast<int64_t>(j)), oldAt), bestAt);
    }
  });
  return {ir.CreateLoad(none->getType(), bestAt), ir.CreateLoad(lanes.vectorType(), best)};
}

// max_pool2d_bwd (x, dy): each window's gradient goes to its first maximum.
// avg_pool2d_bwd (dy): spread evenly over the window's elements in the image.
int64_t emitPoolBackward(KernelBuilder& kb, ValueId id) {
  const Node& node = kb.graph().node(id);
  const bool isMax = node.op == Op::MaxPool2DBackward;
  const ValueId dy = node.operands[isMax ? 1 : 0];
  WindowLanes lanes(kb, node, id, dy);
  // Tiling windows write each element of theirs once; overlapping windows,
  // or windows with gaps between them, add into a zeroed plane.
  const bool accumulate = !lanes.windowsTile();
  auto& ir = kb.ir();
  kb.loop(kb.taskBegin(), kb.taskEnd(), [&](llvm::Value* plane) {
    if (accumulate)
      lanes.zeroPlane(id, plane);
    else
      lanes.zeroUncovered(id, plane);
    lanes.forEachOutput(plane, [&](const WindowLanes::Output& at) {
      // 0 in lanes that are not outputs: they write nothing but zeros.
      llvm::Value* gradient = lanes.loadOutput(dy, at);
      std::function<llvm::Value*(llvm::Value*, int64_t)> share;
      if (isMax) {
        const Maximum maximum = firstMaximum(kb, lanes, node.operands[0], at);
        // A fused activation gradient (fuse-activation-gradients): x is the
        // activation's output, and the gradient lands on the maximum.
        if (std::optional<Op> activation = fusedActivationGradient(node.attrs))
          gradient = activationGradient(kb, *activation, gradient, maximum.value);
        share = [&, maximum, gradient](llvm::Value* i, int64_t j) {
          return ir.CreateSelect(ir.CreateICmpEQ(maximum.position, lanes.positions(i, j)), gradient,
                                 lanes.constant(0.0));
        };
      } else {
        llvm::Value* spread = ir.CreateFDiv(gradient, lanes.windowSizes(at));
        share = [spread](llvm::Value*, int64_t) { return spread; };
      }
      lanes.forEachWindowRow(at, [&](llvm::Value* i, llvm::Value* ih) {
        std::vector<llvm::Value*> values;
        for (int64_t j = 0; j < lanes.windowColumns(); ++j) values.push_back(share(i, j));
        lanes.writeRow(id, at, ih, values, accumulate);
      });
    });
  });
  return lanes.planes();
}

// global_avg_pool2d: y [N,C] = the mean of x [N,C,H,W] over the image;
// global_avg_pool2d_bwd: dx [N,C,H,W] = dy [N,C] / (H W) everywhere. Tasks:
// (n, channel group).
int64_t emitGlobalPool(KernelBuilder& kb, ValueId id) {
  const Node& node = kb.graph().node(id);
  const bool backward = node.op == Op::GlobalAvgPool2DBackward;
  const ValueId image = backward ? id : node.operands[0];
  const std::vector<int64_t>& d = kb.dims(image);
  const int64_t groups = ChannelLanes::groups(kb, image);
  const auto pixels = static_cast<double>(d[2] * d[3]);
  auto& ir = kb.ir();
  kb.loop(kb.taskBegin(), kb.taskEnd(), [&](llvm::Value* task) {
    llvm::Value* n = ir.CreateSDiv(task, kb.i64(groups));
    ChannelLanes lanes(kb, image, ir.CreateSRem(task, kb.i64(groups)));
    llvm::Value* row = ir.CreateMul(n, kb.i64(d[1]));
    if (backward) {
      llvm::Value* share = ir.CreateFDiv(lanes.loadPerChannel(node.operands[0], row), lanes.constant(pixels));
      lanes.forEachVector([&](const ChannelLanes::Position& at) {
        lanes.store(id, at, finishResult(kb, node, share, at.index, at.mask));
      }, lanes.image(n));
      return;
    }
    llvm::Value* total = lanes.sum([&](const ChannelLanes::Position& at) { return lanes.load(image, at); }, lanes.image(n));
    lanes.storePerChannel(id, row, ir.CreateFDiv(total, lanes.constant(pixels)));
  });
  return d[0] * groups;
}

}  // namespace

void emitPoolingRows(KernelBuilder& kb, ValueId pool, llvm::Value* plane, llvm::Value* firstRow, llvm::Value* endRow) {
  WindowLanes lanes(kb, kb.graph().node(pool), kb.graph().node(pool).operands[0], pool);
  poolPlane(kb, pool, lanes, plane, firstRow, endRow);
}

int64_t emitPooling(KernelBuilder& kb, ValueId id) {
  switch (kb.graph().node(id).op) {
    case Op::MaxPool2D:
    case Op::AvgPool2D: return emitPool(kb, id);
    case Op::MaxPool2DBackward:
    case Op::AvgPool2DBackward: return emitPoolBackward(kb, id);
    default: return emitGlobalPool(kb, id);
  }
}

}  // namespace cnnc

// Elementwise ops: activations and their gradients, add, mul, copies, the
// dropout mask and the optimizer updates, Adam's with its moments fused.
// Each is a formula applied at every element index; the elements are split
// into tasks of kChunk contiguous elements, and LLVM's loop vectorizer
// widens the loop.
#include <algorithm>
#include <array>

#include "compiler/codegen/activation.h"
#include "compiler/codegen/emitters.h"
#include "ir/fused_activation.h"
#include "ir/fused_moments.h"
#include "ir/layout.h"
#include "runtime/dropout_mask.h"

namespace cnnc {
namespace {

constexpr int64_t kChunk = 4096;

using Formula = std::function<llvm::Value*(llvm::Value* index)>;
// Operand k of a node at element `index`.
using Operand = std::function<llvm::Value*(size_t k, llvm::Value* index)>;

// The dropout mask at `index`: the same counter-based hash as the runtime's
// dropoutMaskValue, in IR.
llvm::Value* dropoutMask(KernelBuilder& kb, const Node& node, llvm::Value* index) {
  auto& ir = kb.ir();
  auto mix = [&](llvm::Value* z) {
    z = ir.CreateMul(ir.CreateXor(z, ir.CreateLShr(z, 30)), ir.getInt64(0xbf58476d1ce4e5b9ULL));
    z = ir.CreateMul(ir.CreateXor(z, ir.CreateLShr(z, 27)), ir.getInt64(0x94d049bb133111ebULL));
    return ir.CreateXor(z, ir.CreateLShr(z, 31));
  };
  const auto seed = static_cast<uint64_t>(*getInt(node.attrs, "seed"));
  const auto rate = static_cast<float>(*getFloat(node.attrs, "rate"));
  llvm::Value* step = ir.CreateFPToUI(kb.load(node.operands[0], kb.i64(0)), ir.getInt64Ty());
  llvm::Value* h = mix(ir.CreateXor(mix(ir.CreateXor(ir.getInt64(mix64(seed)), step)), index));
  llvm::Value* uniform = ir.CreateFMul(ir.CreateUIToFP(ir.CreateLShr(h, 40), ir.getFloatTy()), kb.f32(1.0 / 16777216.0));
  return ir.CreateSelect(ir.CreateFCmpOGE(uniform, kb.f32(rate)), kb.f32(1.0f / (1.0f - rate)), kb.f32(0.0));
}

// body(i) for the element indices i of the kernel's tasks, `step` apart
// (kChunk a multiple of it): task t is elements [t kChunk, (t + 1) kChunk)
// of `elements`. Returns the tasks.
int64_t forEachChunk(KernelBuilder& kb, int64_t elements, int64_t step, const std::function<void(llvm::Value*)>& body) {
  auto& ir = kb.ir();
  kb.loop(kb.taskBegin(), kb.taskEnd(), [&](llvm::Value* task) {
    llvm::Value* first = ir.CreateMul(task, kb.i64(kChunk));
    kb.loop(first, kb.smin(ir.CreateAdd(first, kb.i64(kChunk)), kb.i64(elements)), body, step);
  });
  return (elements + kChunk - 1) / kChunk;
}

// The formula of node `node` at element `i`, over its operands at `i`:
// those `in` gives, or loaded from their buffers.
Formula formulaOf(KernelBuilder& kb, const Node& node, Operand in = nullptr) {
  auto& ir = kb.ir();
  if (!in) in = [&kb, &node](size_t k, llvm::Value* i) { return kb.load(node.operands[k], i); };
  auto attr = [&](std::string_view key) { return kb.f32(*getFloat(node.attrs, key)); };
  switch (node.op) {
    case Op::Relu:
    case Op::Sigmoid:
    case Op::Tanh:
      return [&, in](llvm::Value* i) { return applyActivation(kb, node.op, in(0, i)); };
    case Op::Add:
      return [&, in](llvm::Value* i) {
        llvm::Value* total = in(0, i);
        for (size_t k = 1; k < ownOperandCount(node); ++k) total = ir.CreateFAdd(total, in(k, i));
        return total;
      };
    case Op::Mul:
      return [&, in](llvm::Value* i) { return ir.CreateFMul(in(0, i), in(1, i)); };
    case Op::ReluBackward:
    case Op::SigmoidBackward:
    case Op::TanhBackward: {
      const Op activation = *activationOfGradient(node.op);
      return [&, in, activation](llvm::Value* i) { return activationGradient(kb, activation, in(0, i), in(1, i)); };
    }
    case Op::DropoutMask:
      return [&](llvm::Value* i) { return dropoutMask(kb, node, i); };
    case Op::SgdVelocity:  // momentum v - lr g
      return [&, in, attr](llvm::Value* i) {
        return ir.CreateFSub(ir.CreateFMul(attr("momentum"), in(0, i)), ir.CreateFMul(attr("learning_rate"), in(1, i)));
      };
    case Op::SgdApply:  // w (1 - lr wd) + (v' | momentum v' - lr g | -lr g)
      return [&, in, attr](llvm::Value* i) {
        const double lr = *getFloat(node.attrs, "learning_rate");
        llvm::Value* step = ir.CreateFNeg(ir.CreateFMul(attr("learning_rate"), in(1, i)));
        if (node.operands.size() == 3)
          step = *getInt(node.attrs, "nesterov") != 0 ? ir.CreateFAdd(ir.CreateFMul(attr("momentum"), in(2, i)), step)
                                                      : in(2, i);
        llvm::Value* decayed = ir.CreateFMul(in(0, i), kb.f32(1.0 - lr * *getFloat(node.attrs, "weight_decay")));
        return ir.CreateFAdd(decayed, step);
      };
    case Op::AdamMoment:  // decay m + (1 - decay) g^power
      return [&, in](llvm::Value* i) {
        const double decay = *getFloat(node.attrs, "decay");
        llvm::Value* g = in(1, i);
        if (*getInt(node.attrs, "power") == 2) g = ir.CreateFMul(g, g);
        return ir.CreateFAdd(ir.CreateFMul(kb.f32(decay), in(0, i)), ir.CreateFMul(kb.f32(1.0 - decay), g));
      };
    case Op::AdamApply: {  // w (1 - lr wd) - lr mhat / (sqrt(vhat) + eps)
      // The bias corrections depend on the step only: computed once, before
      // the element loop (the kernel never writes the step).
      llvm::Value* t = kb.load(node.operands[3], kb.i64(0));
      auto correction = [&](std::string_view beta) {
        return ir.CreateFSub(kb.f32(1.0), ir.CreateBinaryIntrinsic(llvm::Intrinsic::pow, attr(beta), t));
      };
      llvm::Value* correction1 = correction("beta1");
      llvm::Value* correction2 = correction("beta2");
      return [&, in, attr, correction1, correction2](llvm::Value* i) {
        const double lr = *getFloat(node.attrs, "learning_rate");
        llvm::Value* mhat = ir.CreateFDiv(in(1, i), correction1);
        llvm::Value* vhat = ir.CreateFDiv(in(2, i), correction2);
        llvm::Value* denominator = ir.CreateFAdd(kb.callMath(llvm::Intrinsic::sqrt, vhat), attr("epsilon"));
        llvm::Value* decayed = ir.CreateFMul(in(0, i), kb.f32(1.0 - lr * *getFloat(node.attrs, "weight_decay")));
        return ir.CreateFSub(decayed, ir.CreateFDiv(ir.CreateFMul(attr("learning_rate"), mhat), denominator));
      };
    }
    case Op::Increment:
      return [&, in](llvm::Value* i) { return ir.CreateFAdd(in(0, i), kb.f32(1.0)); };
    case Op::Assign:
      return [in](llvm::Value* i) { return in(1, i); };
    default:  // flatten, reshape, dropout (inference: the identity): a copy
      return [in](llvm::Value* i) { return in(0, i); };
  }
}

}  // namespace

int64_t emitElementwise(KernelBuilder& kb, ValueId id) {
  const Node& node = kb.graph().node(id);
  const int64_t elements = *elementCount(node.type);
  // An assign writes the new value into its param or state.
  const ValueId destination = node.op == Op::Assign ? node.operands[0] : id;
  // Fused moments (ir/fused_moments.h): computed, and stored, at each element
  // before the node's formula, which takes them as its operands.
  const std::vector<ValueId> moments = fusedMoments(kb.graph(), node);
  std::vector<Formula> momentFormulas;
  for (ValueId moment : moments) momentFormulas.push_back(formulaOf(kb, kb.graph().node(moment)));
  std::vector<llvm::Value*> momentValues(moments.size());
  Operand in = nullptr;
  if (!moments.empty())
    in = [&](size_t k, llvm::Value* i) {
      const auto fused = std::find(moments.begin(), moments.end(), node.operands[k]);
      if (fused == moments.end()) return kb.load(node.operands[k], i);
      return momentValues[static_cast<size_t>(fused - moments.begin())];
    };
  const Formula formula = formulaOf(kb, node, in);
  return forEachChunk(kb, elements, 1, [&](llvm::Value* i) {
    for (size_t m = 0; m < moments.size(); ++m) {
      momentValues[m] = momentFormulas[m](i);
      kb.store(moments[m], i, momentValues[m]);
    }
    kb.store(destination, i, finishResult(kb, node, formula(i), i));
  });
}

// relu_mask, where no batch norm writes it beside its result
// (ir/fused_relu_mask.h): a vector of the operand's channel block at a time,
// its bits a byte or two. Tasks as emitElementwise's, of whole blocks.
int64_t emitReluMask(KernelBuilder& kb, ValueId id) {
  const Node& node = kb.graph().node(id);
  const ValueId y = node.operands[0];
  const int64_t b = layoutBlock(node.type.layout);
  return forEachChunk(kb, *elementCount(node.type), b,
                      [&](llvm::Value* i) { kb.storeBits(id, i, reluPasses(kb, kb.loadVector(y, i, b))); });
}

// relayout: out[a,b,h,w] = x[a,b,h,w] in another layout; filter_transpose:
// out[a,b,h,w] = x[b,a,KH-1-h,KW-1-w]. One vector at a time along the
// output's innermost physical axis (the lanes of its block, or w when
// plain), stored whole and gathered from wherever the operand keeps those
// elements. Tasks: (a, b), the blocked axis counted in blocks.
int64_t emitRelayout(KernelBuilder& kb, ValueId id) {
  const Node& node = kb.graph().node(id);
  const ValueId x = node.operands[0];
  const std::vector<int64_t>& d = kb.dims(id);
  const Layout layout = node.type.layout;
  const int64_t lanes = layout == Layout::Plain ? kb.width() : layoutBlock(layout);
  const size_t axis = layout == Layout::Plain ? 3 : static_cast<size_t>(blockedAxis(layout));
  auto steps = [&](size_t k) { return k == axis ? (d[k] + lanes - 1) / lanes : d[k]; };
  auto& ir = kb.ir();
  kb.loop(kb.taskBegin(), kb.taskEnd(), [&](llvm::Value* task) {
    std::array<llvm::Value*, 4> at = {ir.CreateSDiv(task, kb.i64(steps(1))), ir.CreateSRem(task, kb.i64(steps(1)))};
    kb.loop(0, steps(2), [&](llvm::Value* h) {
      kb.loop(0, steps(3), [&](llvm::Value* w) {
        at[2] = h;
        at[3] = w;
        std::array<llvm::Value*, 4> first = at, lane;
        first[axis] = ir.CreateMul(at[axis], kb.i64(lanes));
        for (size_t k = 0; k < 4; ++k) lane[k] = kb.splat(first[k], lanes);
        lane[axis] = ir.CreateAdd(lane[axis], kb.laneIds(lanes));
        auto flipped = [&](size_t k) { return ir.CreateSub(kb.splat(kb.i64(d[k] - 1), lanes), lane[k]); };
        llvm::Value* from = node.op == Op::Relayout ? kb.at(x, {lane[0], lane[1], lane[2], lane[3]})
                                                    : kb.at(x, {lane[1], lane[0], flipped(2), flipped(3)});
        llvm::Value* mask = d[axis] % lanes == 0 ? nullptr : kb.firstLanes(ir.CreateSub(kb.i64(d[axis]), first[axis]));
        kb.storeVector(id, kb.at(id, {first[0], first[1], first[2], first[3]}), kb.gatherLanes(x, from, mask), mask);
      });
    });
  });
  return steps(0) * steps(1);
}

int64_t emitDataMovement(KernelBuilder& kb, ValueId id) {
  // concat: each output channel block copies from its operand; channel_slice:
  // a block of the operand's channels. Tasks: n.
  const Node& node = kb.graph().node(id);
  const std::vector<int64_t>& out = node.type.dims;
  int64_t spatial = 1;
  for (size_t axis = 2; axis < out.size(); ++axis) spatial *= out[axis];
  auto& ir = kb.ir();
  auto copyBlock = [&](ValueId from, int64_t fromChannels, int64_t fromOffset, int64_t toChannels, int64_t toOffset,
                       int64_t channels, llvm::Value* n) {
    llvm::Value* source = ir.CreateMul(ir.CreateAdd(ir.CreateMul(n, kb.i64(fromChannels)), kb.i64(fromOffset)), kb.i64(spatial));
    llvm::Value* target = ir.CreateMul(ir.CreateAdd(ir.CreateMul(n, kb.i64(toChannels)), kb.i64(toOffset)), kb.i64(spatial));
    kb.loop(0, channels * spatial, [&](llvm::Value* k) {
      kb.store(id, ir.CreateAdd(target, k), kb.load(from, ir.CreateAdd(source, k)));
    });
  };
  kb.loop(kb.taskBegin(), kb.taskEnd(), [&](llvm::Value* n) {
    if (node.op == Op::ChannelSlice) {
      const ValueId x = node.operands[0];
      copyBlock(x, kb.dims(x)[1], *getInt(node.attrs, "offset"), out[1], 0, out[1], n);
      return;
    }
    int64_t offset = 0;
    for (ValueId operand : node.operands) {
      const int64_t channels = kb.dims(operand)[1];
      copyBlock(operand, channels, 0, out[1], offset, channels, n);
      offset += channels;
    }
  });
  return out[0];
}

}  // namespace cnnc

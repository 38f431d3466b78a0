// Algorithm: number the kernels in execution order; a computed value is live
// from the kernel that computes it to the last kernel that reads it (to the
// end for outputs), a leaf for the whole step. Assigned values that can be
// computed in their target's buffer take it and need no buffer of their
// own; so do values whose kernel may overwrite an operand that it reads
// last (readsOnlyWhereItWrites), whose buffer then serves both.
// Then place the other buffers largest first, each at the lowest
// aligned offset that overlaps no already placed buffer whose live range
// intersects its own (greedy by size, as TFLite's arena planner does).
#include "compiler/codegen/buffer_layout.h"

#include <algorithm>
#include <array>
#include <map>
#include <numeric>
#include <optional>
#include <string>

#include "compiler/codegen/activation.h"
#include "compiler/codegen/workspace.h"
#include "compiler/conv_tiles.h"
#include "ir/batch_group.h"
#include "ir/fused_activation.h"
#include "ir/inlined_norm.h"
#include "ir/kernel_results.h"

namespace cnnc {
namespace {

constexpr int64_t kAlignment = 64;

struct Interval {
  int64_t first, last;  // kernel positions, inclusive
  bool intersects(const Interval& other) const { return first <= other.last && other.first <= last; }
};

// When each computed value is written and its node's operands are read, as
// positions in `order`: at the node's own, or for a value that another
// node's kernel computes (ir/kernel_results.h), at that kernel's, which
// writes it then and reads its operands then. (A fused bias gradient's
// kernel runs before its node, fused Adam moments' after theirs.) The
// reads count at the later of the two, which is safe either way.
//
// The kernels of a batch group (ir/batch_group.h) run together, a chunk of
// the batch at a time: each writes from the group's first position and
// reads to its last, so that no value of one shares bytes with a value
// that another of them reads or writes.
struct Timing {
  std::vector<ValueId> kernel;  // computingKernels
  std::vector<int64_t> written, read;
  std::vector<std::optional<std::string>> group;  // by kernel: its batch group
};

// By position in `order`: the first and last positions of the batch group
// (`group`, by node) of the node there, or its own if it has none.
std::vector<Interval> groupSpans(const std::vector<std::optional<std::string>>& group,
                                 const std::vector<ValueId>& order) {
  std::vector<Interval> spans;
  std::map<std::string, Interval> groups;
  for (size_t p = 0; p < order.size(); ++p) {
    const auto at = static_cast<int64_t>(p);
    spans.push_back({at, at});
    if (group[order[p]]) groups.try_emplace(*group[order[p]], Interval{at, at}).first->second.last = at;
  }
  for (size_t p = 0; p < order.size(); ++p)
    if (group[order[p]]) spans[p] = groups.at(*group[order[p]]);
  return spans;
}

Timing timingOf(const Graph& graph, const std::vector<ValueId>& order) {
  std::vector<int64_t> position(graph.size(), -1);
  for (size_t p = 0; p < order.size(); ++p) position[order[p]] = static_cast<int64_t>(p);
  Timing timing{computingKernels(graph), position, position, {}};
  for (const Node& node : graph.nodes()) timing.group.push_back(batchGroupOf(node));
  const std::vector<Interval> spans = groupSpans(timing.group, order);
  for (ValueId id = 0; id < graph.size(); ++id) {
    if (position[id] < 0) continue;
    const Interval& kernel = spans[static_cast<size_t>(position[timing.kernel[id]])];
    timing.written[id] = kernel.first;
    timing.read[id] = std::max(spans[static_cast<size_t>(position[id])].last, kernel.last);
  }
  return timing;
}

std::vector<Interval> liveRanges(const Graph& graph, const std::vector<ValueId>& order) {
  const auto end = static_cast<int64_t>(order.size());
  const Timing timing = timingOf(graph, order);
  std::vector<Interval> live(graph.size(), Interval{0, end});
  for (ValueId id : order) live[id] = {timing.written[id], timing.written[id]};
  for (ValueId id : order)
    for (ValueId read : kernelReads(graph, graph.node(id)))
      if (!isLeaf(graph.node(read).op)) live[read].last = std::max(live[read].last, timing.read[id]);
  for (ValueId output : graph.outputs()) live[output].last = end;
  return live;
}

// Whether the kernel of an `op` node reads each operand of the result's
// type only at the element it is writing, so that the result may overwrite
// such an operand as it goes: the elementwise kernels (one index for all
// operands), the per-channel running statistics, and the batch norms'
// applications and data gradient (emit_norm.cpp), whose other operands are
// per-channel vectors.
bool readsOnlyTheElementItWrites(Op op) {
  static constexpr std::array kOps = {
      Op::Relu, Op::Sigmoid, Op::Tanh, Op::Add, Op::Mul, Op::ReluBackward, Op::SigmoidBackward, Op::TanhBackward,
      Op::SgdVelocity, Op::SgdApply, Op::AdamMoment, Op::AdamApply, Op::Increment, Op::BatchNormRunning,
      Op::BatchNorm, Op::BatchNormTrain, Op::BatchNormBackwardData};
  return std::find(kOps.begin(), kOps.end(), op) != kOps.end();
}

// Whether the kernel of node `id` reads `operand` only at the elements it
// writes, each before writing it, so that the result may overwrite it as it
// goes: an operand of the result's type of an elementwise kernel; or what
// a blocked convolution or data gradient reads as it finishes each result
// (its residual, its activation gradient's activation output:
// finishOperands), where it sums all channels in one pass and so stores
// each result once, and which is not one of its own operands as well (the
// input whose windows it reads: a folded batch norm's residual may be its
// convolution's input, ir/fused_norm.h).
bool readsOnlyWhereItWrites(const Graph& graph, ValueId id, ValueId operand, const Target& machine) {
  const Node& node = graph.node(id);
  if (readsOnlyTheElementItWrites(node.op)) return true;
  if (!isTiledConvolution(node) || node.op == Op::Conv2DBackwardFilter) return false;
  const std::vector<ValueId> finishing = finishOperands(graph, node);
  const auto ownEnd = node.operands.begin() + static_cast<std::ptrdiff_t>(ownOperandCount(node));
  return std::find(finishing.begin(), finishing.end(), operand) != finishing.end() &&
         std::find(node.operands.begin(), ownEnd, operand) == ownEnd &&
         channelPasses(graph, node, forwardTile(graph, node, machine)) == 1;
}

// For each value, the value whose buffer it uses: itself, or
// - for an assigned value, the param or state it is assigned to, when the
//   old value of that leaf is dead by the time the new one is written: no
//   kernel after the one that writes the new value (timingOf) reads the
//   leaf, and that kernel reads it, if at all, only at the element it is
//   writing (a leaf that is an output is read after the step, as assigned,
//   either way);
// - else, for a value of a kernel of its own, the owner of an operand of
//   its type that no later kernel reads, that the kernel reads only where
//   it writes (readsOnlyWhereItWrites) and through no other value it
//   computes, and that is neither an output nor in a leaf's buffer: the
//   kernel overwrites it as it reads it. (A batch norm's data gradient thus
//   takes the buffer of the output gradient it reads, which the cache
//   holds as it writes: no line of a fresh buffer to fetch first.)
std::vector<ValueId> bufferOwners(const Graph& graph, const std::vector<ValueId>& order, const Target& machine) {
  const Timing timing = timingOf(graph, order);
  std::vector<int64_t> lastRead(graph.size(), -1);
  for (ValueId id : order)
    for (ValueId read : kernelReads(graph, graph.node(id))) lastRead[read] = std::max(lastRead[read], timing.read[id]);
  std::vector<ValueId> owner(graph.size());
  std::iota(owner.begin(), owner.end(), ValueId{0});
  for (const Node& node : graph.nodes()) {
    if (node.op != Op::Assign) continue;
    const ValueId target = node.operands[0], value = node.operands[1];
    const Node& producer = graph.node(value);
    // A leaf keeps its own buffer, and a value assigned twice takes one. (An
    // assign's value has its target's type, layout included.) So does a
    // value with a workspace after it, which its target has no room for.
    if (isLeaf(producer.op) || owner[value] != value || workspaceFloats(graph, value, machine) > 0) continue;
    // If the kernel that writes the value reads the target, it must do so
    // only at the element it writes, in the value's formula and its own.
    const int64_t written = timing.written[value];
    const bool elementwise =
        readsOnlyTheElementItWrites(producer.op) && readsOnlyTheElementItWrites(graph.node(timing.kernel[value]).op);
    if (lastRead[target] > written || (lastRead[target] == written && !elementwise)) continue;
    owner[value] = target;
  }
  std::vector<std::vector<ValueId>> alsoComputed(graph.size());  // by kernel: the other values it computes
  std::vector<bool> output(graph.size(), false);
  for (ValueId id : order)
    if (timing.kernel[id] != id) alsoComputed[timing.kernel[id]].push_back(id);
  for (ValueId id : graph.outputs()) output[id] = true;
  // Whether another value that kernel `id` computes reads `operand`.
  auto alsoRead = [&](ValueId id, ValueId operand) {
    return std::any_of(alsoComputed[id].begin(), alsoComputed[id].end(), [&](ValueId other) {
      const std::vector<ValueId>& operands = graph.node(other).operands;
      return std::find(operands.begin(), operands.end(), operand) != operands.end();
    });
  };
  // Whether another kernel of the batch group of kernel `id` reads
  // `operand`: in a chunk after `id` has overwritten it, or in an earlier
  // chunk, where `id` has not yet.
  const KernelReads reads = readsByKernel(graph, timing.kernel);
  auto readInGroup = [&](ValueId id, ValueId operand) {
    return timing.group[id] && std::any_of(order.begin(), order.end(), [&](ValueId other) {
             return other != id && timing.group[other] == timing.group[id] &&
                    std::find(reads[other].begin(), reads[other].end(), operand) != reads[other].end();
           });
  };
  for (ValueId id : order) {
    const Node& node = graph.node(id);
    if (owner[id] != id || timing.kernel[id] != id || isInlined(node)) continue;
    for (ValueId operand : node.operands) {
      const ValueId root = owner[operand];
      if (isLeaf(graph.node(root).op) || isInlined(graph.node(operand)) || output[operand] ||
          graph.node(operand).type != node.type ||
          lastRead[operand] != timing.read[id] || !readsOnlyWhereItWrites(graph, id, operand, machine) ||
          alsoRead(id, operand) || readInGroup(id, operand))
        continue;
      owner[id] = root;
      break;
    }
  }
  return owner;
}

}  // namespace

std::vector<ValueId> executionOrder(const Graph& graph) {
  std::vector<ValueId> order, assigns;
  for (ValueId id = 0; id < graph.size(); ++id) {
    const Op op = graph.node(id).op;
    if (!isLeaf(op)) (op == Op::Assign ? assigns : order).push_back(id);
  }
  order.insert(order.end(), assigns.begin(), assigns.end());
  return order;
}

BufferLayout layoutBuffers(const Graph& graph, const Target& target) {
  const std::vector<ValueId> order = executionOrder(graph);
  std::vector<Interval> live = liveRanges(graph, order);
  const std::vector<ValueId> owner = bufferOwners(graph, order, target);
  // A buffer lives as long as all the values in it.
  for (ValueId id = 0; id < graph.size(); ++id) {
    Interval& whole = live[owner[id]];
    whole = {std::min(whole.first, live[id].first), std::max(whole.last, live[id].last)};
  }
  BufferLayout layout;
  std::vector<int64_t>& sizes = layout.sizes;
  for (ValueId id = 0; id < graph.size(); ++id) {
    // Sizes verified to fit; none for an inlined batch norm, which its
    // readers compute.
    const int64_t bytes =
        isInlined(graph.node(id)) ? 0 : *byteSize(graph.node(id).type) + workspaceFloats(graph, id, target) * 4;
    sizes.push_back((bytes + kAlignment - 1) / kAlignment * kAlignment);
  }
  // And holds the largest: a kernel's workspace after its result, where it
  // overwrites an operand.
  for (ValueId id = 0; id < graph.size(); ++id) sizes[owner[id]] = std::max(sizes[owner[id]], sizes[id]);
  std::vector<ValueId> bySize(graph.size());
  std::iota(bySize.begin(), bySize.end(), ValueId{0});
  std::stable_sort(bySize.begin(), bySize.end(), [&](ValueId a, ValueId b) { return sizes[a] > sizes[b]; });

  layout.offsets.assign(graph.size(), 0);
  std::vector<ValueId> placed;
  for (ValueId id : bySize) {
    if (owner[id] != id) continue;
    // The placed buffers live at the same time as this one, by offset.
    std::vector<ValueId> conflicts;
    for (ValueId other : placed)
      if (live[other].intersects(live[id])) conflicts.push_back(other);
    std::sort(conflicts.begin(), conflicts.end(),
              [&](ValueId a, ValueId b) { return layout.offsets[a] < layout.offsets[b]; });
    int64_t offset = 0;
    for (ValueId other : conflicts) {
      if (layout.offsets[other] >= offset + sizes[id]) break;  // the gap before `other` fits
      offset = std::max(offset, layout.offsets[other] + sizes[other]);
    }
    layout.offsets[id] = offset;
    layout.arenaBytes = std::max(layout.arenaBytes, offset + sizes[id]);
    placed.push_back(id);
  }
  for (ValueId id = 0; id < graph.size(); ++id) layout.offsets[id] = layout.offsets[owner[id]];
  return layout;
}

bool assignsInPlace(const Graph& graph, const BufferLayout& layout, ValueId id) {
  const Node& node = graph.node(id);
  return node.op == Op::Assign && layout.offsets[node.operands[0]] == layout.offsets[node.operands[1]];
}

}  // namespace cnnc

// Algorithm: number the kernels in execution order; a computed value is live
// from the kernel that computes it to the last kernel that reads it (to the
// end for outputs), a leaf for the whole step. Assigned values that can be
// computed in their target's buffer take it and need no buffer of their
// own. Then place the other buffers largest first, each at the lowest
// aligned offset that overlaps no already placed buffer whose live range
// intersects its own (greedy by size, as TFLite's arena planner does).
#include "compiler/codegen/buffer_layout.h"

#include <algorithm>
#include <array>
#include <numeric>

#include "compiler/codegen/workspace.h"
#include "ir/kernel_results.h"

namespace cnnc {
namespace {

constexpr int64_t kAlignment = 64;

struct Interval {
  int64_t first, last;  // kernel positions, inclusive
  bool intersects(const Interval& other) const { return first <= other.last && other.first <= last; }
};

std::vector<Interval> liveRanges(const Graph& graph, const std::vector<ValueId>& order) {
  const auto end = static_cast<int64_t>(order.size());
  std::vector<Interval> live(graph.size(), Interval{0, end});
  for (size_t position = 0; position < order.size(); ++position) {
    const auto p = static_cast<int64_t>(position);
    live[order[position]] = {p, p};
  }
  for (size_t position = 0; position < order.size(); ++position)
    for (ValueId operand : graph.node(order[position]).operands)
      if (!isLeaf(graph.node(operand).op))
        live[operand].last = std::max(live[operand].last, static_cast<int64_t>(position));
  for (ValueId output : graph.outputs()) live[output].last = end;
  // A value another node's kernel computes (a fused bias gradient or
  // pooling) is live from that kernel on.
  const std::vector<ValueId> kernels = computingKernels(graph);
  for (ValueId id = 0; id < graph.size(); ++id)
    if (kernels[id] != id) live[id].first = live[kernels[id]].first;
  return live;
}

// Whether the kernel of an `op` node reads each operand of the result's
// type only at the element it is writing, so that the result may overwrite
// such an operand as it goes: the elementwise kernels (one index for all
// operands) and the per-channel running statistics.
bool readsOnlyTheElementItWrites(Op op) {
  static constexpr std::array kOps = {
      Op::Relu, Op::Sigmoid, Op::Tanh, Op::Add, Op::Mul, Op::ReluBackward, Op::SigmoidBackward, Op::TanhBackward,
      Op::SgdVelocity, Op::SgdApply, Op::AdamMoment, Op::AdamApply, Op::Increment, Op::BatchNormRunning};
  return std::find(kOps.begin(), kOps.end(), op) != kOps.end();
}

// For each value, the value whose buffer it uses: itself, or for an assigned
// value the param or state it is assigned to, when the old value of that
// leaf is dead by the time the new one is written: no kernel after the new
// value's reads the leaf, and the new value's kernel reads it, if at all,
// only at the element it is writing. (A leaf that is an output is read after
// the step, as assigned, either way.)
std::vector<ValueId> bufferOwners(const Graph& graph, const std::vector<ValueId>& order, const Target& machine) {
  const auto end = static_cast<int64_t>(order.size());
  std::vector<int64_t> position(graph.size(), -1), lastRead(graph.size(), -1);
  for (int64_t p = 0; p < end; ++p) {
    const Node& node = graph.node(order[static_cast<size_t>(p)]);
    position[order[static_cast<size_t>(p)]] = p;
    // An assign writes its target (operand 0) and reads only its value.
    for (size_t k = node.op == Op::Assign ? 1 : 0; k < node.operands.size(); ++k) lastRead[node.operands[k]] = p;
  }
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
    const bool readsTarget = lastRead[target] == position[value];
    if (lastRead[target] > position[value] || (readsTarget && !readsOnlyTheElementItWrites(producer.op))) continue;
    owner[value] = target;
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
  const std::vector<Interval> live = liveRanges(graph, order);
  const std::vector<ValueId> owner = bufferOwners(graph, order, target);
  BufferLayout layout;
  std::vector<int64_t>& sizes = layout.sizes;
  for (ValueId id = 0; id < graph.size(); ++id) {
    const int64_t bytes = *byteSize(graph.node(id).type) + workspaceFloats(graph, id, target) * 4;  // verified to fit
    sizes.push_back((bytes + kAlignment - 1) / kAlignment * kAlignment);
  }
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

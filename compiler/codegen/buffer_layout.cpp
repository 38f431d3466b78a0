// Algorithm: number the kernels in execution order; a computed value is live
// from its kernel to the last kernel that reads it (to the end for outputs),
// a leaf for the whole step. Then place buffers largest first, each at the
// lowest aligned offset that overlaps no already placed buffer whose live
// range intersects its own (greedy by size, as TFLite's arena planner does).
#include "compiler/codegen/buffer_layout.h"

#include <algorithm>
#include <numeric>

namespace cnnc {
namespace {

constexpr int64_t kAlignment = 64;

struct Interval {
  int64_t first, last;  // kernel positions, inclusive
  bool intersects(const Interval& other) const { return first <= other.last && other.first <= last; }
};

std::vector<Interval> liveRanges(const Graph& graph) {
  const std::vector<ValueId> order = executionOrder(graph);
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
  return live;
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

BufferLayout layoutBuffers(const Graph& graph) {
  const std::vector<Interval> live = liveRanges(graph);
  BufferLayout layout;
  std::vector<int64_t>& sizes = layout.sizes;
  for (const Node& node : graph.nodes())
    sizes.push_back((*byteSize(node.type) + kAlignment - 1) / kAlignment * kAlignment);  // verified to fit
  std::vector<ValueId> bySize(graph.size());
  std::iota(bySize.begin(), bySize.end(), ValueId{0});
  std::stable_sort(bySize.begin(), bySize.end(), [&](ValueId a, ValueId b) { return sizes[a] > sizes[b]; });

  layout.offsets.assign(graph.size(), 0);
  std::vector<ValueId> placed;
  for (ValueId id : bySize) {
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
  return layout;
}

}  // namespace cnnc

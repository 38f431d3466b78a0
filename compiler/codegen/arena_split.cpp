// Algorithm: classify values from the graph's structure (which op made a
// value, which ops read it). Then sweep the arena's
// byte offsets over the buffers' start and end points, keeping per category
// how many buffers cover the current stretch; each stretch counts for the
// first category covering it (Workspace, the last, also takes the gaps).
#include "compiler/codegen/arena_split.h"

#include <algorithm>

namespace cnnc {
namespace {

bool isBackwardOp(Op op) {
  switch (op) {
    case Op::Conv2DBackwardData:
    case Op::Conv2DBackwardFilter:
    case Op::BiasGrad:
    case Op::DenseBackwardData:
    case Op::DenseBackwardWeight:
    case Op::MaxPool2DBackward:
    case Op::AvgPool2DBackward:
    case Op::GlobalAvgPool2DBackward:
    case Op::ReluBackward:
    case Op::SigmoidBackward:
    case Op::TanhBackward:
    case Op::BatchNormBackwardGamma:
    case Op::BatchNormBackwardData:
    case Op::SoftmaxCrossEntropyBackward: return true;
    default: return false;
  }
}

bool isOptimizerOp(Op op) {
  return op == Op::AdamMoment || op == Op::AdamApply || op == Op::SgdVelocity || op == Op::SgdApply ||
         op == Op::Increment;
}

}  // namespace

std::string_view categoryName(ArenaCategory category) {
  switch (category) {
    case ArenaCategory::Parameters: return "parameters";
    case ArenaCategory::Gradients: return "gradients";
    case ArenaCategory::OptimizerState: return "optimizer state";
    case ArenaCategory::SavedActivations: return "saved activations";
    case ArenaCategory::Workspace: return "workspace";
  }
  return "workspace";
}

std::vector<ArenaCategory> classifyValues(const Graph& graph) {
  const size_t n = graph.size();
  std::vector<bool> backward(n, false), readByBackward(n, false), readByOptimizer(n, false), output(n, false);
  for (ValueId id : graph.outputs()) output[id] = true;
  for (ValueId id = 0; id < n; ++id) {
    const Node& node = graph.node(id);
    const bool update = node.op == Op::Assign || isOptimizerOp(node.op);
    const bool fromBackward =
        std::any_of(node.operands.begin(), node.operands.end(), [&](ValueId operand) { return backward[operand]; });
    backward[id] = !update && (isBackwardOp(node.op) || fromBackward);
    for (ValueId operand : node.operands) {
      if (backward[id]) readByBackward[operand] = true;
      if (isOptimizerOp(node.op)) readByOptimizer[operand] = true;
    }
  }
  std::vector<ArenaCategory> categories;
  for (ValueId id = 0; id < n; ++id) {
    const Op op = graph.node(id).op;
    if (op == Op::Param) categories.push_back(ArenaCategory::Parameters);
    else if (op == Op::State)
      categories.push_back(readByOptimizer[id] ? ArenaCategory::OptimizerState : ArenaCategory::Parameters);
    else if (backward[id])
      categories.push_back(readByOptimizer[id] || output[id] ? ArenaCategory::Gradients : ArenaCategory::Workspace);
    else categories.push_back(readByBackward[id] ? ArenaCategory::SavedActivations : ArenaCategory::Workspace);
  }
  return categories;
}

ArenaSplit splitArena(const Graph& graph, const BufferLayout& layout) {
  const std::vector<ArenaCategory> categories = classifyValues(graph);
  ArenaSplit split;
  // (offset, +1 where a buffer starts or -1 where it ends, category)
  struct Event {
    int64_t offset;
    int delta;
    size_t category;
  };
  std::vector<Event> events;
  for (ValueId id = 0; id < graph.size(); ++id) {
    const auto category = static_cast<size_t>(categories[id]);
    split.buffers[category] += layout.sizes[id];
    events.push_back({layout.offsets[id], 1, category});
    events.push_back({layout.offsets[id] + layout.sizes[id], -1, category});
  }
  std::sort(events.begin(), events.end(), [](const Event& a, const Event& b) { return a.offset < b.offset; });
  std::array<int, kArenaCategories> covering{};
  for (size_t i = 0; i < events.size(); ++i) {
    covering[events[i].category] += events[i].delta;
    if (i + 1 == events.size()) break;
    const int64_t stretch = events[i + 1].offset - events[i].offset;
    // Gaps that the placement left unused are workspace too.
    auto first = std::find_if(covering.begin(), covering.end() - 1, [](int count) { return count > 0; });
    split.arena[static_cast<size_t>(first - covering.begin())] += stretch;
  }
  return split;
}

}  // namespace cnnc

// Memory planning: on random graphs and on the examples' training steps, no
// two values that are live at the same time share a byte of the arena.
// Liveness is recomputed here by simulating the kernels in execution order,
// independently of the planner.
#include <random>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "compiler/codegen/buffer_layout.h"
#include "compiler/pipeline.h"
#include "frontends/json_loader.h"

namespace cnnc {
namespace {

// For every value, the kernel steps during which its bytes must stay
// intact: from the kernel that writes it to the last that reads it; leaves
// and outputs for the whole step.
std::vector<std::pair<int64_t, int64_t>> mustHold(const Graph& graph) {
  const std::vector<ValueId> order = executionOrder(graph);
  const auto end = static_cast<int64_t>(order.size());
  std::vector<std::pair<int64_t, int64_t>> hold(graph.size(), {0, end});
  std::vector<bool> computed(graph.size(), false);
  for (int64_t step = 0; step < end; ++step) {
    const ValueId id = order[static_cast<size_t>(step)];
    hold[id] = {step, step};
    computed[id] = true;
  }
  for (int64_t step = 0; step < end; ++step)
    for (ValueId operand : graph.node(order[static_cast<size_t>(step)]).operands)
      if (computed[operand]) hold[operand].second = std::max(hold[operand].second, step);
  for (ValueId output : graph.outputs()) hold[output].second = end;
  return hold;
}

void expectNoLiveOverlap(const Graph& graph) {
  const BufferLayout layout = layoutBuffers(graph);
  const auto hold = mustHold(graph);
  int64_t totalBytes = 0;
  for (ValueId a = 0; a < graph.size(); ++a) {
    const int64_t aBytes = *byteSize(graph.node(a).type);
    totalBytes += aBytes;
    EXPECT_EQ(layout.offsets[a] % 64, 0);
    EXPECT_LE(layout.offsets[a] + aBytes, layout.arenaBytes);
    for (ValueId b = a + 1; b < graph.size(); ++b) {
      const bool together = hold[a].first <= hold[b].second && hold[b].first <= hold[a].second;
      const int64_t bBytes = *byteSize(graph.node(b).type);
      const bool overlap = layout.offsets[a] < layout.offsets[b] + bBytes && layout.offsets[b] < layout.offsets[a] + aBytes;
      ASSERT_FALSE(together && overlap) << graph.node(a).name << " and " << graph.node(b).name;
    }
  }
  EXPECT_LE(layout.arenaBytes, totalBytes + 64 * static_cast<int64_t>(graph.size()));
}

// A random graph of elementwise ops over a few shapes, with random fan-out,
// state updated by assign, and random outputs.
Graph randomGraph(uint64_t seed) {
  std::mt19937_64 rng(seed);
  Graph graph("random");
  std::vector<std::vector<ValueId>> byShape(3);
  const std::vector<std::vector<int64_t>> shapes = {{2, 3, 5, 5}, {4, 16}, {7}};
  std::vector<ValueId> states;
  for (size_t s = 0; s < shapes.size(); ++s) {
    byShape[s].push_back(*graph.addLeaf(Op::Input, fmt::format("in{}", s), TensorType{DType::F32, shapes[s]}));
    ValueId state = *graph.addLeaf(Op::State, fmt::format("state{}", s), TensorType{DType::F32, shapes[s]});
    byShape[s].push_back(state);
    states.push_back(state);
  }
  const int nodes = 10 + static_cast<int>(rng() % 30);
  for (int i = 0; i < nodes; ++i) {
    auto& pool = byShape[rng() % shapes.size()];
    auto pick = [&] { return pool[rng() % pool.size()]; };
    const std::string name = fmt::format("v{}", i);
    const Op op = std::array{Op::Relu, Op::Add, Op::Mul, Op::Tanh}[rng() % 4];
    std::vector<ValueId> operands = {pick()};
    if (op == Op::Add || op == Op::Mul) operands.push_back(pick());
    pool.push_back(*graph.addNode(op, name, operands));
  }
  for (size_t s = 0; s < states.size(); ++s)
    if (rng() % 2) (void)*graph.addNode(Op::Assign, fmt::format("assign{}", s), {states[s], byShape[s].back()});
  std::vector<ValueId> outputs;
  for (auto& pool : byShape) outputs.push_back(pool[rng() % pool.size()]);
  graph.setOutputs(outputs);
  return graph;
}

TEST(BufferLayout, RandomGraphsNeverOverwriteALiveBuffer) {
  for (uint64_t seed = 0; seed < 200; ++seed) {
    SCOPED_TRACE(seed);
    expectNoLiveOverlap(randomGraph(seed));
  }
}

TEST(BufferLayout, TrainingStepsOfTheExamples) {
  for (const char* example : {"seed.json", "vgg_bn.json", "resnet_small.json"}) {
    SCOPED_TRACE(example);
    Expected<Model> model = loadModelFile(std::string(CNNC_SOURCE_DIR) + "/examples/" + example, 4);
    ASSERT_TRUE(model) << model.error().message;
    Expected<CompiledGraph> step = buildGraph(*model, {GraphKind::TrainStep, 0, {}});
    ASSERT_TRUE(step) << step.error().message;
    expectNoLiveOverlap(step->graph);
  }
}

TEST(BufferLayout, ReusesMemory) {
  Expected<Model> model = loadModelFile(std::string(CNNC_SOURCE_DIR) + "/examples/seed.json", 32);
  ASSERT_TRUE(model);
  Expected<CompiledGraph> step = buildGraph(*model, {GraphKind::TrainStep, 0, {}});
  ASSERT_TRUE(step);
  int64_t total = 0;
  for (const Node& node : step->graph.nodes()) total += *byteSize(node.type);
  // The seed training step at batch 32: ~27 MiB with one buffer per value.
  EXPECT_LT(layoutBuffers(step->graph).arenaBytes, total * 2 / 3);
}

}  // namespace
}  // namespace cnnc

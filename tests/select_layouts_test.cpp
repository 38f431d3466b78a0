// Layout selection: where relayouts go, and that a graph computes the same
// before and after the pass (the reference executor on the graph before,
// generated code on the graph after).
#include <algorithm>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "compiler/passes.h"
#include "compiler/pipeline.h"
#include "frontends/json_loader.h"
#include "ir/layout.h"
#include "runtime/jit_executable.h"
#include "runtime/parameters.h"
#include "support/file_io.h"
#include "tests/graph_agreement.h"

namespace cnnc {
namespace {

// A model file of the source tree, by its path there.
Model loadModel(const std::string& path, int64_t batch) {
  Expected<Model> model = loadModelFile(std::string(CNNC_SOURCE_DIR) + "/" + path, batch);
  EXPECT_TRUE(model) << model.error().message;
  return model ? std::move(*model) : Model{};
}

int64_t countOp(const Graph& graph, Op op) {
  return std::count_if(graph.nodes().begin(), graph.nodes().end(), [&](const Node& n) { return n.op == op; });
}

class SelectLayouts : public TargetTest {
 protected:
  // The training step as the pipeline makes it for the target, up to layout selection.
  PipelineOptions beforeLayouts() const {
    PipelineOptions options{GraphKind::TrainStep, 1};
    options.optimization = {kMaxOptLevel, {"select-layouts", "choose-tiles"}, target_};
    return options;
  }

  // The training step of `model` before layout selection, and after it.
  std::pair<Graph, Graph> beforeAndAfter(const Model& model) const {
    Expected<CompiledGraph> before = buildGraph(model, beforeLayouts());
    EXPECT_TRUE(before) << before.error().message;
    if (!before) return {};
    Graph after = before->graph;
    Status selected = selectLayouts(after, {target_});
    EXPECT_TRUE(selected) << selected.error().message;
    return {before->graph, after};
  }

  // Trains `steps` steps of `model` on the reference executor (before the
  // pass) and on generated code (after it) from the same start, comparing
  // the outputs and every weight and optimizer state after each step.
  void expectSameTraining(const Model& model, int steps) {
    const auto [before, after] = beforeAndAfter(model);
    if (HasFailure()) return;
    Bindings<float> reference = initialParameters(model, 5);
    const Node& input = model.graph.node(model.input);
    Tensor x(input.type.dims), labels({input.type.dims[0]});
    for (size_t i = 0; i < x.data.size(); ++i) x.data[i] = static_cast<float>((i * 37) % 101) / 50.0f - 1.0f;
    for (size_t i = 0; i < labels.data.size(); ++i) labels.data[i] = static_cast<float>(i % 10);
    reference[input.name] = x;
    reference[model.graph.node(*model.labels).name] = labels;
    addMissingState(before, reference);
    auto oracle = referenceBackend()(before);
    ASSERT_TRUE(oracle) << oracle.error().message;
    auto jit = jitBackend(target_)(after);
    ASSERT_TRUE(jit) << jit.error().message;
    expectSameRuns(**jit, **oracle, reference, steps);
  }
};

// The graphs layout selection makes, checked for both targets on any host.
using SelectLayoutsGraphs = CompileOnly<SelectLayouts>;

TEST_P(SelectLayouts, SeedTrainingStepComputesTheSame) { expectSameTraining(loadModel("examples/seed.json", 4), 2); }
TEST_P(SelectLayouts, ResNetTrainingStepComputesTheSame) { expectSameTraining(loadModel("examples/resnet_small.json", 2), 2); }

TEST_P(SelectLayoutsGraphs, BlocksTheSeedChainEndToEnd) {
  const Graph after = beforeAndAfter(loadModel("examples/seed.json", 4)).second;
  // Every convolution is blocked, backward data included.
  for (const Node& node : after.nodes())
    if (node.op == Op::Conv2D) {
      EXPECT_NE(node.type.layout, Layout::Plain) << node.name;
    }
  EXPECT_EQ(countOp(after, Op::Conv2DBackwardData), 0);
  EXPECT_EQ(countOp(after, Op::FilterTranspose), 2);  // conv2d_2's and conv2d_4's (conv2d_0 has no dx)
  // Filters, their gradients and Adam's moments stay packed: the params are
  // stored so.
  for (const char* name : {"conv2d_0.weight", "conv2d_2.weight.adam_m", "conv2d_4.weight.grad"})
    EXPECT_EQ(after.node(*after.lookup(name)).type.layout, filterLayout(target_.vectorWidth)) << name;
  // Relayouts: only the flatten and its gradient, at the chain's end.
  EXPECT_EQ(countOp(after, Op::Relayout), 2);
}

TEST_P(SelectLayoutsGraphs, KeepsResNetsStridedBackwardDataInTheChain) {
  const Graph after = beforeAndAfter(loadModel("examples/resnet_small.json", 2)).second;
  // The four strided ones (two 3x3, two 1x1 projections) stay
  // conv2d_bwd_data, blocked, and read their output gradient without a
  // relayout; only their filters are relayouted.
  int64_t strided = 0;
  for (const Node& node : after.nodes()) {
    if (node.op != Op::Conv2DBackwardData) continue;
    ++strided;
    EXPECT_EQ(node.type.layout, activationLayout(target_.vectorWidth)) << node.name;
    EXPECT_NE(after.node(node.operands[0]).op, Op::Relayout) << node.name;
    EXPECT_EQ(after.node(node.operands[1]).op, Op::Relayout) << node.name;
    for (const Node& user : after.nodes())
      if (std::find(user.operands.begin(), user.operands.end(), *after.lookup(node.name)) != user.operands.end()) {
        EXPECT_NE(user.op, Op::Relayout) << node.name << " used by " << user.name;
      }
  }
  EXPECT_EQ(strided, 4);
  // The filters' only: the global pool's gradient, with the last relu's
  // fused, is made blocked.
  EXPECT_EQ(countOp(after, Op::Relayout), 4);
}

// A convolution right before a global pool, whose gradient has no blocked
// kernel: the output gradient is relayouted once, for the filter gradient
// (blocked) and the backward-data convolution alike.
TEST_P(SelectLayouts, GlobalPoolTrainingStepComputesTheSame) {
  expectSameTraining(loadModel("tests/golden/Inputs/global_pool.json", 3), 2);
}

TEST_P(SelectLayoutsGraphs, BlocksTheFilterGradientBeforeAGlobalPool) {
  const Graph after = beforeAndAfter(loadModel("tests/golden/Inputs/global_pool.json", 3)).second;
  const Node& gradient = after.node(*after.lookup("head.weight.grad"));
  EXPECT_EQ(gradient.type.layout, filterLayout(target_.vectorWidth));
  const Node& outputGradient = after.node(gradient.operands[1]);
  EXPECT_EQ(outputGradient.op, Op::Relayout);
  EXPECT_EQ(after.node(*after.lookup("stem.grad")).operands[0], gradient.operands[1]);
  EXPECT_EQ(countOp(after, Op::Relayout), 1);
}

CNNC_TARGET_TESTS(SelectLayouts);
CNNC_TARGET_TESTS(SelectLayoutsGraphs);

}  // namespace
}  // namespace cnnc

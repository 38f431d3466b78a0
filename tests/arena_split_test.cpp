// The arena's split by category (cnnc compile): what each kind of value of
// a training step counts as, and that the split adds up to the arena, with
// parameters, optimizer state and gradients never sharing their bytes.
#include <numeric>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "compiler/codegen/arena_split.h"
#include "compiler/pipeline.h"
#include "frontends/json_loader.h"

namespace cnnc {
namespace {

Expected<CompiledGraph> buildExample(const std::string& path, GraphKind kind) {
  Expected<Model> model = loadModelFile(std::string(CNNC_SOURCE_DIR) + "/" + path, 4);
  if (!model) return model.error();
  return buildGraph(*model, {kind, 0, {}});
}

TEST(ArenaSplit, ClassifiesTheValuesOfATrainingStep) {
  Expected<CompiledGraph> step = buildExample("tests/golden/Inputs/fusion.json", GraphKind::TrainStep);
  ASSERT_TRUE(step) << step.error().message;
  const Graph& graph = step->graph;
  const std::vector<ArenaCategory> categories = classifyValues(graph);
  const std::pair<std::string_view, std::string_view> expected[] = {
      {"conv.weight", "parameters"},
      {"conv.weight.sgd_velocity", "optimizer state"},
      {"step", "optimizer state"},
      {"conv.weight.grad", "gradients"},
      {"logits.bias.grad", "gradients"},
      // Read by conv2d_bwd_filter, relu_bwd and tanh_bwd.
      {"input", "saved activations"},
      {"conv.relu", "saved activations"},
      {"hidden.tanh", "saved activations"},
      // Forward values no backward node reads, backward values on the way
      // to the gradients, the update's new values.
      {"shared", "workspace"},
      {"loss", "workspace"},
      {"shared.grad", "workspace"},
      {"conv.weight.next", "workspace"},
      {"conv.weight.assign", "workspace"},
  };
  for (auto [name, category] : expected) EXPECT_EQ(categoryName(categories.at(*graph.lookup(name))), category) << name;
}

TEST(ArenaSplit, AddsUpToTheArena) {
  for (const char* example : {"examples/seed.json", "examples/vgg_bn.json", "examples/resnet_small.json"})
    for (GraphKind kind : {GraphKind::Inference, GraphKind::Gradient, GraphKind::TrainStep}) {
      SCOPED_TRACE(fmt::format("{}, kind {}", example, static_cast<int>(kind)));
      Expected<CompiledGraph> compiled = buildExample(example, kind);
      ASSERT_TRUE(compiled) << compiled.error().message;
      const BufferLayout layout = layoutBuffers(compiled->graph, *selectTarget("host"));
      const ArenaSplit split = splitArena(compiled->graph, layout);
      EXPECT_EQ(std::accumulate(split.arena.begin(), split.arena.end(), int64_t{0}), layout.arenaBytes);
      for (ArenaCategory whole : {ArenaCategory::Parameters, ArenaCategory::OptimizerState, ArenaCategory::Gradients})
        EXPECT_EQ(split.arena[static_cast<size_t>(whole)], split.buffers[static_cast<size_t>(whole)])
            << categoryName(whole);
      EXPECT_GT(split.arena[static_cast<size_t>(ArenaCategory::Parameters)], 0);
      EXPECT_EQ(split.arena[static_cast<size_t>(ArenaCategory::Gradients)] > 0, kind != GraphKind::Inference);
    }
}

}  // namespace
}  // namespace cnnc

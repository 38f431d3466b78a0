// Every optimisation pass keeps what a graph computes: a model's graph built
// with every pass (-O2) and with one pass disabled give the same outputs and
// write back the same values, run by the reference executor and by
// generated code (AVX-512 and AVX2), for inference, gradients and training
// steps, on the seed model, the every-op model, models made for fusion and
// residual blocks, and one whose convolutions take Winograd kernels.
#include <functional>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "compiler/pipeline.h"
#include "frontends/json_loader.h"
#include "ir/printer.h"
#include "runtime/jit_executable.h"
#include "runtime/parameters.h"
#include "tests/graph_agreement.h"
#include "tests/test_models.h"

namespace cnnc {
namespace {

constexpr std::string_view kWinogradModel = R"({
  "format": "cnnc/1",
  "name": "winograd",
  "input": {"channels": 32, "height": 7, "width": 8},
  "classes": 3,
  "layers": [
    {"op": "conv2d", "name": "first", "filters": 32, "kernel_size": 3, "padding": "same", "activation": "relu"},
    {"op": "conv2d", "name": "second", "filters": 32, "kernel_size": 3, "padding": "same"},
    {"op": "flatten", "name": "flat"},
    {"op": "dense", "name": "logits", "units": 3}
  ],
  "loss": "softmax_cross_entropy",
  "optimizer": {"type": "adam", "learning_rate": 0.01}
})";

// The Winograd model as a residual block: a batch norm between its first
// convolution and that one's relu, and another after the second whose sum
// with the first's output goes through a relu. inline-batch-norms inlines
// the first into the second's input transforms (forward and filter
// gradient), into the relu gradient and into the second batch norm, which
// adds it as its residual. Trained by SGD: the second batch norm makes some
// of its convolution's weight gradients near 0, where Adam's first steps,
// about the learning rate whatever a gradient's size, magnify rounding
// (with Adam, weights 1.4e-4 apart after a step where Winograd kernels
// replaced direct ones).
std::string winogradNormModel() {
  const std::string first = R"("padding": "same", "activation": "relu"},)";
  const std::string second = R"("name": "second", "filters": 32, "kernel_size": 3, "padding": "same"},)";
  const std::string adam = R"("type": "adam")";
  std::string text(kWinogradModel);
  text.replace(text.find(adam), adam.size(), R"("type": "sgd")");
  text.replace(text.find(first), first.size(),
               R"("padding": "same", "use_bias": false},
    {"op": "batch_norm", "name": "first_bn"},
    {"op": "relu", "name": "first_out"},)");
  text.replace(text.find(second), second.size(),
               R"("name": "second", "filters": 32, "kernel_size": 3, "padding": "same", "use_bias": false},
    {"op": "batch_norm", "name": "second_bn"},
    {"op": "add", "name": "out", "inputs": ["second_bn", "first_out"], "activation": "relu"},)");
  return text;
}

struct TestModel {
  std::string name;
  std::function<Expected<Model>(int64_t batch)> load;
};

std::vector<TestModel> testModels() {
  auto file = [](std::string path) {
    return [path](int64_t batch) { return loadModelFile(std::string(CNNC_SOURCE_DIR) + "/" + path, batch); };
  };
  return {
      {"seed", file("examples/seed.json")},
      {"every-op", [](int64_t batch) { return loadModelText(kEveryOp, "every-op.json", batch); }},
      // Fusible and unfusible patterns: conv+bias+relu, conv+sigmoid without
      // bias, dense+tanh, a conv with a second user, relu after add.
      {"fusion", file("tests/golden/Inputs/fusion.json")},
      // Two residual blocks of 16 and 32 channels, batch norm after each
      // convolution, the second strided with a 1x1 projection shortcut:
      // channel blocks on both targets, the batch statistics and the
      // residual adds fused (forward and backward).
      {"residual", file("tests/golden/Inputs/residual.json")},
      // Two 3x3 convolutions of 32 channels (two blocks on both targets) on
      // 7x8 images (odd rows), at the batch from which select-winograd takes
      // them (32) whatever the test's batch; small images keep the
      // reference executor quick. The second's filter gradient takes the
      // Winograd kernel too, its bias gradient fused in.
      {"winograd", [](int64_t) { return loadModelText(kWinogradModel, "winograd.json", 32); }},
      {"winograd-norm", [](int64_t) { return loadModelText(winogradNormModel(), "winograd-norm.json", 32); }},
  };
}

class PassEquivalenceTest : public TargetTest {
 protected:
  // For every optimisation pass and test model: builds `kind` at `batch`
  // with every pass and without that one, and runs both for `steps` steps
  // on both backends.
  // Else this test would prove nothing about the pass: it changes the graph
  // of one test model at least (a pass may leave the others alone, as
  // layout selection does with models whose channels fill no block).
  void compareEveryPass(int64_t batch, GraphKind kind, int steps) {
    for (const OptimizationPass& pass : optimizationPasses()) {
      bool changed = false;
      for (const TestModel& model : testModels()) {
        SCOPED_TRACE(fmt::format("pass {}, model {}", pass.name, model.name));
        compare(model, batch, kind, steps, std::string(pass.name), changed);
      }
      // Without a backward graph, the gradient fusions have nothing to fuse,
      // nor a relu gradient to read a mask, nor interleave-batch batch
      // norms' data gradients to group, and without batch statistics
      // (inference normalises with the running ones) neither has their
      // fusion, nor inlining; only a training step has an optimizer's
      // update; only inference has batch norms of running statistics to
      // fold, and folded (the test models' are all foldable) they leave
      // fuse-residual-norms no batch norm that makes another's residual. At
      // inference the residual model's fork has branches that write as many
      // bytes (a convolution, then a batch norm), which order-branches keeps
      // in graph order; in training the running statistics' updates move
      // (ResNet's branches move in either, tests/golden/order_branches.test).
      const bool training = pass.name == "fuse-activation-gradients" || pass.name == "fuse-bias-gradients" ||
                            pass.name == "fuse-projection-gradients" || pass.name == "fuse-batch-statistics" ||
                            pass.name == "use-relu-masks" || pass.name == "fuse-residual-norms" ||
                            pass.name == "inline-batch-norms" || pass.name == "interleave-batch";
      const bool applies = pass.name == "fuse-adam-moments"  ? kind == GraphKind::TrainStep
                           : pass.name == "fold-batch-norms" ? kind == GraphKind::Evaluation
                           : pass.name == "order-branches"   ? kind != GraphKind::Evaluation
                                                             : kind != GraphKind::Evaluation || !training;
      EXPECT_TRUE(changed || !applies) << "pass " << pass.name << " changed no test model";
    }
  }

  void compare(const TestModel& test, int64_t batch, GraphKind kind, int steps, const std::string& pass,
               bool& changed) {
    Expected<Model> model = test.load(batch);
    ASSERT_TRUE(model) << model.error().message;
    PipelineOptions options{kind, 1, {kMaxOptLevel, {}, target_}};
    Expected<CompiledGraph> with = buildGraph(*model, options);
    ASSERT_TRUE(with) << with.error().message;
    options.optimization.disabledPasses = {pass};
    Expected<CompiledGraph> without = buildGraph(*model, options);
    ASSERT_TRUE(without) << without.error().message;
    changed = changed || printGraph(with->graph) != printGraph(without->graph);
    Bindings<float> bindings = randomModelInputs(*model, 3);
    addMissingState(with->graph, bindings);
    int which = 0;
    for (const Backend& backend : {referenceBackend(), jitBackend(target_)}) {
      SCOPED_TRACE(which++);
      auto optimized = backend(with->graph);
      ASSERT_TRUE(optimized) << optimized.error().message;
      auto plain = backend(without->graph);
      ASSERT_TRUE(plain) << plain.error().message;
      expectSameRuns(**optimized, **plain, bindings, steps);
    }
  }
};

TEST_P(PassEquivalenceTest, Inference) { compareEveryPass(3, GraphKind::Evaluation, 1); }
TEST_P(PassEquivalenceTest, Gradients) { compareEveryPass(5, GraphKind::Gradient, 1); }
TEST_P(PassEquivalenceTest, TrainingSteps) { compareEveryPass(4, GraphKind::TrainStep, 3); }

// ResNet's gradients with every pass, on generated code and on the
// reference executor: fusions that only its graph has (two gamma gradients
// chained in a data gradient's kernel, whose output gradient a later
// block's data gradient makes). (Gradients, not training steps: Adam's
// first step moves each weight by about the learning rate whatever the
// size of its gradient, so that rounding in a gradient near 0 shows.)
TEST_P(PassEquivalenceTest, ResNetGradientsAgreeWithTheReference) {
  Expected<Model> model = loadModelFile(std::string(CNNC_SOURCE_DIR) + "/examples/resnet_small.json", 2);
  ASSERT_TRUE(model) << model.error().message;
  Expected<CompiledGraph> step = buildGraph(*model, {GraphKind::Gradient, 1, {kMaxOptLevel, {}, target_}});
  ASSERT_TRUE(step) << step.error().message;
  Bindings<float> bindings = randomModelInputs(*model, 5);
  addMissingState(step->graph, bindings);
  auto reference = referenceBackend()(step->graph);
  ASSERT_TRUE(reference) << reference.error().message;
  auto jit = jitBackend(target_)(step->graph);
  ASSERT_TRUE(jit) << jit.error().message;
  expectSameRuns(**jit, **reference, bindings, 1);
}

CNNC_TARGET_TESTS(PassEquivalenceTest);

}  // namespace
}  // namespace cnnc

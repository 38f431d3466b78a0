// Generated code against the reference executor: every op forward and
// backward, and whole training steps with their optimizer updates, on the
// awkward shapes of the gradient tests, for AVX-512 and AVX2 code (a target
// the host lacks is skipped, visibly).
#include <cmath>
#include <random>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "compiler/pipeline.h"
#include "compiler/target.h"
#include "frontends/json_loader.h"
#include "runtime/jit_executable.h"
#include "runtime/parameters.h"
#include "tests/graph_agreement.h"

namespace cnnc {
namespace {

// Every op of the model format, with stride 2, asymmetric same padding, a
// [3,5] kernel, odd sizes, both poolings with padding, concat, a 3-way add
// with fan-out, batch_norm on images and flat features, dropout, sigmoid,
// tanh; trained with Adam. Layers that feed batch_norm have no bias: its
// gradient is zero but for rounding, which Adam's normalised step would
// amplify into updates of opposite signs on the two backends.
const char* kEveryOp = R"({
  "format": "cnnc/1", "input": {"channels": 3, "height": 13, "width": 11}, "classes": 5,
  "layers": [
    {"op": "conv2d", "name": "stem", "filters": 6, "kernel_size": [3, 5], "strides": 2, "padding": "same",
     "use_bias": false},
    {"op": "batch_norm", "name": "bn"},
    {"op": "relu", "name": "r"},
    {"op": "conv2d", "name": "left", "filters": 3, "kernel_size": 1, "activation": "tanh"},
    {"op": "avg_pool2d", "name": "right", "inputs": ["r"], "pool_size": 3, "strides": 1, "padding": 1},
    {"op": "concat", "name": "cat", "inputs": ["left", "right"]},
    {"op": "conv2d", "name": "mix", "filters": 9, "kernel_size": 3, "padding": "same", "activation": "sigmoid"},
    {"op": "add", "name": "sum", "inputs": ["mix", "cat", "mix"], "activation": "relu"},
    {"op": "max_pool2d", "pool_size": 2, "padding": [1, 0]},
    {"op": "conv2d", "name": "down", "filters": 20, "kernel_size": 3, "strides": 2, "padding": 1},
    {"op": "global_avg_pool2d"},
    {"op": "dense", "units": 17, "activation": "relu", "use_bias": false},
    {"op": "batch_norm", "name": "bn_flat"},
    {"op": "dropout", "rate": 0.3},
    {"op": "dense", "units": 5}
  ],
  "loss": "softmax_cross_entropy",
  "optimizer": {"type": "adam", "learning_rate": 0.01}
})";

const char* kSgdModel = R"({
  "format": "cnnc/1", "input": {"channels": 3, "height": 9, "width": 9}, "classes": 4,
  "layers": [
    {"op": "conv2d", "filters": 17, "kernel_size": 3, "activation": "relu"},
    {"op": "max_pool2d", "pool_size": 2},
    {"op": "flatten"},
    {"op": "dense", "units": 4}
  ],
  "loss": "softmax_cross_entropy",
  "optimizer": {"type": "sgd", "learning_rate": 0.05, "momentum": 0.9, "nesterov": true, "weight_decay": 0.01}
})";

Bindings<float> randomInputs(const Model& model, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  Bindings<float> bindings = initialParameters(model, seed);
  const Node& input = model.graph.node(model.input);
  Tensor x(input.type.dims);
  for (float& v : x.data) v = dist(rng);
  bindings[input.name] = std::move(x);
  Tensor labels({input.type.dims[0]});
  const int64_t classes = model.graph.node(model.logits).type.dims[1];
  for (size_t i = 0; i < labels.data.size(); ++i) labels.data[i] = static_cast<float>(static_cast<int64_t>(i * 7) % classes);
  bindings[model.graph.node(*model.labels).name] = std::move(labels);
  return bindings;
}

class JitTest : public TargetTest {
 protected:

  // Runs `kind` of `json` at `batch` for `steps` steps on both backends and
  // compares every output and every leaf after each step.
  void compare(const char* json, int64_t batch, GraphKind kind, int steps) {
    Expected<Model> model = loadModelText(json, "test.json", batch);
    ASSERT_TRUE(model) << model.error().message;
    Expected<CompiledGraph> compiled = buildGraph(*model, {kind, 1, {}});
    ASSERT_TRUE(compiled) << compiled.error().message;
    Bindings<float> reference = randomInputs(*model, 3);
    addMissingState(compiled->graph, reference);
    auto jit = jitBackend(target_)(compiled->graph);
    ASSERT_TRUE(jit) << jit.error().message;
    auto oracle = referenceBackend()(compiled->graph);
    ASSERT_TRUE(oracle) << oracle.error().message;
    // Bound once: the steps update the weights that both hold.
    ASSERT_TRUE(bindAll(**jit, reference) && bindAll(**oracle, reference));
    for (int step = 0; step < steps; ++step) expectSameRun(**jit, **oracle, reference, fmt::format("step {}", step));
  }
};

TEST_P(JitTest, InferenceMatchesTheReference) { compare(kEveryOp, 3, GraphKind::Evaluation, 1); }
TEST_P(JitTest, GradientsMatchTheReference) { compare(kEveryOp, 5, GraphKind::Gradient, 1); }
TEST_P(JitTest, AdamTrainingStepsTrackTheReference) { compare(kEveryOp, 4, GraphKind::TrainStep, 3); }
TEST_P(JitTest, SgdTrainingStepsTrackTheReference) { compare(kSgdModel, 3, GraphKind::TrainStep, 3); }

INSTANTIATE_TEST_SUITE_P(Targets, JitTest, ::testing::Values("avx512", "avx2"),
                         [](const ::testing::TestParamInfo<std::string>& test) { return test.param; });

}  // namespace
}  // namespace cnnc

// Training end to end on the reference executor: whole-graph gradients
// against finite differences, optimizer updates against values computed by
// hand, a tiny model learning a separable problem, and resuming from a
// checkpoint giving exactly the weights of an unbroken run.
#include <cmath>
#include <filesystem>
#include <random>

#include <gtest/gtest.h>

#include "compiler/pipeline.h"
#include "frontends/json_loader.h"
#include "runtime/jit_executable.h"
#include "runtime/parameters.h"
#include "runtime/reference_executor.h"
#include "runtime/reference_kernels.h"
#include "runtime/trainer.h"

namespace cnnc {
namespace {

Model load(const std::string& json, int64_t batch) {
  Expected<Model> model = loadModelText(json, "test.json", batch);
  EXPECT_TRUE(model) << (model ? "" : model.error().message);
  return std::move(*model);
}

// A net with every differentiable op: same padding at stride 2 on an odd
// size, batch_norm on images and on flat features, both poolings, concat,
// an add with a fan-out, sigmoid and tanh.
const char* kEveryOpModel = R"({
  "format": "cnnc/1", "input": {"channels": 3, "height": 9, "width": 7}, "classes": 4,
  "layers": [
    {"op": "conv2d", "name": "stem", "filters": 4, "kernel_size": [3, 5], "strides": 2, "padding": "same"},
    {"op": "batch_norm", "name": "bn"},
    {"op": "relu", "name": "r"},
    {"op": "conv2d", "name": "left", "filters": 3, "kernel_size": 1, "activation": "tanh"},
    {"op": "avg_pool2d", "name": "right", "inputs": ["r"], "pool_size": 3, "strides": 1, "padding": 1},
    {"op": "concat", "name": "cat", "inputs": ["left", "right"]},
    {"op": "conv2d", "name": "mix", "filters": 7, "kernel_size": 3, "padding": "same", "activation": "sigmoid"},
    {"op": "add", "name": "sum", "inputs": ["mix", "cat", "mix"]},
    {"op": "max_pool2d", "pool_size": 2, "padding": [1, 0]},
    {"op": "flatten"},
    {"op": "dense", "units": 6},
    {"op": "batch_norm", "name": "bn_flat"},
    {"op": "dense", "units": 4, "use_bias": false}
  ],
  "loss": "softmax_cross_entropy",
  "optimizer": {"type": "adam"}
})";

Bindings<double> randomBindings(const Graph& graph, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> dist(-1.0, 1.0);
  Bindings<double> bindings;
  for (const Node& node : graph.nodes()) {
    if (!isLeaf(node.op)) continue;
    TensorOf<double> t(node.type.dims);
    for (double& v : t.data) v = dist(rng);
    if (node.type.dtype == DType::I32)  // labels
      for (size_t i = 0; i < t.data.size(); ++i) t.data[i] = static_cast<double>(i % 4);
    if (node.name == "step") t.data[0] = 0;
    bindings[node.name] = std::move(t);
  }
  return bindings;
}

TEST(Autodiff, EveryParamGradientMatchesFiniteDifferences) {
  const Model model = load(kEveryOpModel, 5);
  Expected<CompiledGraph> compiled = buildGraph(model, {GraphKind::Gradient, 0, {}});
  ASSERT_TRUE(compiled) << compiled.error().message;
  Bindings<double> bindings = randomBindings(compiled->graph, 1);
  const Bindings<double> original = bindings;
  Expected<std::vector<TensorOf<double>>> outputs = executeReference(compiled->graph, bindings);
  ASSERT_TRUE(outputs) << outputs.error().message;
  ASSERT_EQ(outputs->size(), compiled->gradientParams.size() + 1);
  // Every param of the model gets a gradient.
  EXPECT_EQ(compiled->gradientParams.size(), 13u);

  auto lossAt = [&](const std::string& name, size_t i, double delta) {
    Bindings<double> b = original;
    b[name].data[i] += delta;
    return (*executeReference(compiled->graph, b))[0].data[0];
  };
  const double h = 1e-6;
  for (size_t p = 0; p < compiled->gradientParams.size(); ++p) {
    const std::string& name = compiled->gradientParams[p];
    const TensorOf<double>& analytic = (*outputs)[p + 1];
    ASSERT_EQ(analytic.dims, original.at(name).dims) << name;
    // A spread of elements of each param, first and last included.
    for (size_t i = 0; i < analytic.data.size(); i += std::max<size_t>(1, analytic.data.size() / 7)) {
      const double numeric = (lossAt(name, i, h) - lossAt(name, i, -h)) / (2 * h);
      EXPECT_NEAR(analytic.data[i], numeric, 1e-6 * std::max(1.0, std::abs(numeric))) << name << "[" << i << "]";
    }
  }
}

TEST(Optimizers, KernelsMatchHandComputedValues) {
  const TensorOf<double> w({2}, 1.0), g({2}, 0.5), v({2}, 0.2);
  // SGD without momentum, decoupled weight decay 0.1: 1 * (1 - 0.1 * 0.1) - 0.1 * 0.5
  EXPECT_DOUBLE_EQ(ref::sgdApply<double>(w, g, nullptr, {0.1, 0.0, false, 0.1}).data[0], 0.99 - 0.05);
  // Momentum 0.9: v' = 0.9 * 0.2 - 0.1 * 0.5 = 0.13; w' = 1 + 0.13
  const ref::SgdConfig momentum{0.1, 0.9, false, 0.0};
  const TensorOf<double> v1 = ref::sgdVelocity(v, g, momentum);
  EXPECT_DOUBLE_EQ(v1.data[0], 0.13);
  EXPECT_DOUBLE_EQ(ref::sgdApply(w, g, &v1, momentum).data[0], 1.13);
  // Nesterov: w' = 1 + 0.9 * 0.13 - 0.1 * 0.5
  EXPECT_DOUBLE_EQ(ref::sgdApply(w, g, &v1, {0.1, 0.9, true, 0.0}).data[0], 1 + 0.117 - 0.05);
  // Adam, step 1 from zero moments: m = 0.1 g, v = 0.001 g^2, mhat = g, vhat = g^2,
  // w' = 1 - 0.01 * 0.5 / (0.5 + 1e-7)
  const TensorOf<double> m1 = ref::adamMoment(TensorOf<double>({2}), g, 0.9, 1);
  const TensorOf<double> v2 = ref::adamMoment(TensorOf<double>({2}), g, 0.999, 2);
  EXPECT_DOUBLE_EQ(m1.data[0], 0.05);
  EXPECT_DOUBLE_EQ(v2.data[0], 0.001 * 0.25);
  EXPECT_NEAR(ref::adamApply(w, m1, v2, 1.0, {0.01, 0.9, 0.999, 1e-7, 0.0}).data[0], 1 - 0.01 * 0.5 / (0.5 + 1e-7),
              1e-15);
}

// Two classes of 1x4x4 images: a bright left half or a bright right half.
Dataset separableData(int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> noise(0.0f, 0.3f);
  Dataset data{Tensor({n, 1, 4, 4}), {}};
  for (int64_t i = 0; i < n; ++i) {
    const int32_t label = static_cast<int32_t>(i % 2);
    data.labels.push_back(label);
    for (int64_t p = 0; p < 16; ++p)
      data.images.data[static_cast<size_t>(i * 16 + p)] = noise(rng) + ((p % 4 < 2) == (label == 0) ? 0.7f : 0.0f);
  }
  return data;
}

const char* kTinyModel = R"({
  "format": "cnnc/1", "input": {"channels": 1, "height": 4, "width": 4}, "classes": 2,
  "layers": [
    {"op": "conv2d", "filters": 4, "kernel_size": 3, "activation": "relu"},
    {"op": "batch_norm"},
    {"op": "flatten"},
    {"op": "dropout", "rate": 0.25},
    {"op": "dense", "units": 2}
  ],
  "loss": "softmax_cross_entropy",
  "optimizer": {"type": "adam", "learning_rate": 0.01}
})";

TEST(Training, TinyModelLearnsASeparableProblem) {
  const Model model = load(kTinyModel, 8);
  Bindings<float> weights = initialParameters(model, 3);
  const Dataset data = separableData(64, 4);
  TrainOptions options;
  options.epochs = 15;
  options.batchSize = 8;
  Status status = train(model, weights, data, nullptr, options, referenceBackend(),
                        [](const EpochReport&) { return Status::ok(); });
  ASSERT_TRUE(status) << status.error().message;
  Expected<Metrics> metrics = evaluate(model, weights, separableData(30, 5), 7, referenceBackend(), {});
  ASSERT_TRUE(metrics) << metrics.error().message;
  EXPECT_EQ(metrics->accuracy, 1.0);
  EXPECT_EQ(metrics->examples, 30);
}

TEST(Training, ResumingFromACheckpointGivesTheSameWeights) {
  const Model model = load(kTinyModel, 6);
  const Dataset data = separableData(20, 6);  // batches of 6, 6, 6, 2
  TrainOptions options;
  options.batchSize = 6;
  options.seed = 11;
  auto noReport = [](const EpochReport&) { return Status::ok(); };

  Bindings<float> straight = initialParameters(model, 7);
  options.epochs = 2;
  ASSERT_TRUE(train(model, straight, data, nullptr, options, referenceBackend(), noReport));

  Bindings<float> broken = initialParameters(model, 7);
  options.epochs = 1;
  ASSERT_TRUE(train(model, broken, data, nullptr, options, referenceBackend(), noReport));
  const std::string path = (std::filesystem::temp_directory_path() / "cnnc-resume-test.safetensors").string();
  ASSERT_TRUE(saveWeights(path, model, broken));
  Expected<WeightsFile> resumed = loadWeights(path, model);
  std::filesystem::remove(path);
  ASSERT_TRUE(resumed) << resumed.error().message;
  options.firstEpoch = 1;
  ASSERT_TRUE(train(model, resumed->values, data, nullptr, options, referenceBackend(), noReport));

  EXPECT_EQ(resumed->values.size(), straight.size());
  for (const auto& [name, tensor] : straight) EXPECT_EQ(resumed->values[name], tensor) << name;
  EXPECT_EQ(straight.at("step").data[0], 8.0f);
  EXPECT_NE(straight.at("conv2d_0.weight"), initialParameters(model, 7).at("conv2d_0.weight"));
}

// --tile of a gradient (here the first layer's filter gradient, blocked for
// the host's vectors) holds for the training step; the validation graph,
// which has no gradients, leaves it out, and a name neither graph has is an
// error.
TEST(Training, TilesOfGradientsAndValidation) {
  Expected<Target> host = selectTarget("host");
  ASSERT_TRUE(host) << host.error().message;
  const std::string filters = std::to_string(host->vectorWidth);
  std::string text = kTinyModel;
  text.replace(text.find("\"filters\": 4"), 12, "\"filters\": " + filters);
  const Model model = load(text.c_str(), 8);
  const Dataset data = separableData(16, 4), validation = separableData(8, 5);
  TrainOptions options;
  options.epochs = 1;
  options.batchSize = 8;
  auto noReport = [](const EpochReport&) { return Status::ok(); };
  options.optimization = {kMaxOptLevel, {}, *host, {"conv2d_0.weight.grad=1,1,3,1,2,2"}};
  Bindings<float> weights = initialParameters(model, 3);
  Status tiled = train(model, weights, data, &validation, options, jitBackend(*host), noReport);
  EXPECT_TRUE(tiled) << tiled.error().message;
  options.optimization.tiles = {"conv2d_9.weight.grad=1,1,3,1,2,2"};
  Status unknown = train(model, weights, data, &validation, options, jitBackend(*host), noReport);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().message.substr(0, 60), "--tile conv2d_9.weight.grad=1,1,3,1,2,2: the graph has no va");
}

}  // namespace
}  // namespace cnnc

// The JSON frontend: model-format v1 (../shared/spec/model-format.md) in,
// a verified forward graph out, or every problem of the file as one line each.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "frontends/json_loader.h"
#include "ir/attribute.h"
#include "ir/printer.h"

namespace cnnc {
namespace {

std::string examplePath(std::string_view file) {
  return std::string(CNNC_SOURCE_DIR) + "/examples/" + std::string(file);
}

// A model around `layers` (the body of the layers array) with a 3x8x8 input
// and `extra` top-level members.
std::string model(std::string_view layers, std::string_view extra = "") {
  std::string text = R"({"format": "cnnc/1", "input": {"channels": 3, "height": 8, "width": 8}, "layers": [)";
  text += layers;
  text += "]";
  if (!extra.empty()) text += std::string(", ") + std::string(extra);
  return text + "}";
}

Model load(const std::string& json, int64_t batch = 1) {
  Expected<Model> loaded = loadModelText(json, "m.json", batch);
  if (!loaded) {
    ADD_FAILURE() << loaded.error().message;
    return Model();
  }
  return std::move(*loaded);
}

std::string errorOf(const std::string& json, int64_t batch = 1) {
  Expected<Model> loaded = loadModelText(json, "m.json", batch);
  if (loaded) return "(loaded without error)";
  return loaded.error().message;
}

const Node& node(const Model& m, std::string_view name) {
  std::optional<ValueId> id = m.graph.lookup(name);
  if (!id) throw std::runtime_error("no value " + std::string(name));
  return m.graph.node(*id);
}

std::vector<int64_t> dims(const Model& m, std::string_view name) { return node(m, name).type.dims; }

std::vector<int64_t> layerDims(const Model& m, const Layer& layer) { return m.graph.node(layer.output).type.dims; }

int64_t parameterCount(const Model& m, std::string_view op = "") {
  int64_t total = 0;
  for (const Layer& layer : m.layers)
    if (op.empty() || layer.op == op)
      for (ValueId param : layer.params) total += *elementCount(m.graph.node(param).type);
  return total;
}

std::string readText(const std::string& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

// ---------------------------------------------------------------- examples

class JsonExampleTest : public testing::TestWithParam<std::tuple<const char*, int64_t>> {};

TEST_P(JsonExampleTest, LoadsAndVerifies) {
  auto [file, batch] = GetParam();
  Expected<Model> m = loadModelFile(examplePath(file), batch);
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->batch, batch);
  EXPECT_EQ(dims(*m, "input"), (std::vector<int64_t>{batch, 3, 32, 32}));
  EXPECT_EQ(m->graph.node(m->logits).type.dims, (std::vector<int64_t>{batch, 10}));
  ASSERT_TRUE(m->loss.has_value());
  EXPECT_EQ(m->graph.outputs(), (std::vector<ValueId>{m->logits, *m->loss}));
  EXPECT_EQ(m->sourceJson, readText(examplePath(file)));
}

INSTANTIATE_TEST_SUITE_P(Examples, JsonExampleTest,
                         testing::Combine(testing::Values("seed.json", "vgg_bn.json", "resnet_small.json"),
                                          testing::Values(int64_t{1}, int64_t{8})));

TEST(JsonFrontendTest, SeedModelShapesAndParameters) {
  Expected<Model> m = loadModelFile(examplePath("seed.json"), 8);
  ASSERT_TRUE(m) << m.error().message;
  std::vector<std::vector<int64_t>> expected = {{8, 32, 30, 30}, {8, 32, 15, 15}, {8, 64, 13, 13}, {8, 64, 6, 6},
                                                {8, 64, 4, 4},   {8, 1024},       {8, 64},         {8, 10}};
  ASSERT_EQ(m->layers.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(layerDims(*m, m->layers[i]), expected[i]) << i;
  EXPECT_EQ(parameterCount(*m), 122570);
  EXPECT_EQ(parameterCount(*m, "conv2d"), 56320);
}

TEST(JsonFrontendTest, SeedModelStructure) {
  Expected<Model> m = loadModelFile(examplePath("seed.json"), 8);
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->name, "seed-cnn");
  EXPECT_EQ(m->graph.name(), "seed-cnn");
  std::vector<std::string> names;
  for (const Layer& layer : m->layers) names.push_back(layer.name);
  EXPECT_EQ(names, (std::vector<std::string>{"conv2d_0", "max_pool2d_1", "conv2d_2", "max_pool2d_3", "conv2d_4",
                                             "flatten_5", "dense_6", "dense_7"}));
  // Leaves come right before their layer's node; the activation is a node of its own.
  std::vector<std::string> first;
  for (ValueId id = 0; id < 6; ++id) first.push_back(m->graph.node(id).name);
  EXPECT_EQ(first, (std::vector<std::string>{"input", "conv2d_0.weight", "conv2d_0.bias", "conv2d_0", "conv2d_0.relu",
                                             "max_pool2d_1"}));
  const Layer& conv = m->layers[0];
  EXPECT_EQ(conv.op, "conv2d");
  EXPECT_EQ(m->graph.node(conv.output).name, "conv2d_0.relu");
  EXPECT_EQ(dims(*m, "conv2d_0.weight"), (std::vector<int64_t>{32, 3, 3, 3}));
  EXPECT_EQ(node(*m, "conv2d_0.weight").op, Op::Param);
  EXPECT_EQ(getInts(node(*m, "conv2d_0").attrs, "pads"), (IntList{0, 0, 0, 0}));
  EXPECT_EQ(getInts(node(*m, "max_pool2d_1").attrs, "strides"), (IntList{2, 2}));
  EXPECT_EQ(dims(*m, "dense_6.weight"), (std::vector<int64_t>{64, 1024}));
  EXPECT_EQ(m->graph.node(m->logits).name, "dense_7");
  EXPECT_EQ(node(*m, "labels").type, (TensorType{DType::I32, {8}}));
  EXPECT_EQ(node(*m, "loss").type, (TensorType{DType::F32, {}}));
  EXPECT_EQ(node(*m, "loss").operands, (std::vector<ValueId>{m->logits, *m->labels}));
  ASSERT_TRUE(m->optimizer.has_value());
  EXPECT_EQ(m->optimizer->kind, OptimizerKind::Adam);
  EXPECT_DOUBLE_EQ(m->optimizer->learningRate, 0.001);
  EXPECT_DOUBLE_EQ(m->optimizer->epsilon, 1e-7);
}

TEST(JsonFrontendTest, VggOptimizerAndBatchNorm) {
  Expected<Model> m = loadModelFile(examplePath("vgg_bn.json"), 2);
  ASSERT_TRUE(m) << m.error().message;
  ASSERT_TRUE(m->optimizer.has_value());
  EXPECT_EQ(m->optimizer->kind, OptimizerKind::Sgd);
  EXPECT_DOUBLE_EQ(m->optimizer->momentum, 0.9);
  EXPECT_TRUE(m->optimizer->nesterov);
  const Node& bn = node(*m, "block1_bn1");
  EXPECT_EQ(getFloat(bn.attrs, "momentum"), 0.9);
  EXPECT_EQ(getFloat(bn.attrs, "epsilon"), 1e-5);
  EXPECT_EQ(node(*m, "block1_bn1.running_var").op, Op::State);
  const Layer& layer = m->layers[1];
  EXPECT_EQ(layer.params.size(), 2u);
  EXPECT_EQ(layer.state.size(), 2u);
  EXPECT_EQ(m->graph.node(layer.state[0]).name, "block1_bn1.running_mean");
  EXPECT_EQ(node(*m, "block1_conv1").operands.size(), 2u);  // use_bias false
}

TEST(JsonFrontendTest, ResnetSkipConnections) {
  Expected<Model> m = loadModelFile(examplePath("resnet_small.json"), 1);
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(dims(*m, "block2_proj"), (std::vector<int64_t>{1, 32, 16, 16}));
  EXPECT_EQ(dims(*m, "block3_out.relu"), (std::vector<int64_t>{1, 64, 8, 8}));
  const Node& add = node(*m, "block2_out");
  EXPECT_EQ(add.operands, (std::vector<ValueId>{*m->graph.lookup("block2_bn2"), *m->graph.lookup("block2_proj_bn")}));
  EXPECT_EQ(node(*m, "block2_proj").operands[0], *m->graph.lookup("block1_out.relu"));
}

// ---------------------------------------------------------------- shapes and defaults

TEST(JsonFrontendTest, SamePaddingWithStrideTwoIsAsymmetricOnOddSizes) {
  // H = 7: out 4, total pad 3 -> 1 top, 2 bottom. W = 8: out 4, total 2 -> 1, 1.
  Model m = load(R"({"format": "cnnc/1", "input": {"channels": 1, "height": 7, "width": 8}, "layers": [
    {"op": "conv2d", "filters": 2, "kernel_size": 4, "strides": 2, "padding": "same"},
    {"op": "max_pool2d", "pool_size": 3, "strides": 1, "padding": "same"},
    {"op": "conv2d", "filters": 2, "kernel_size": 2, "padding": "same"},
    {"op": "flatten"}]})");
  EXPECT_EQ(getInts(node(m, "conv2d_0").attrs, "pads"), (IntList{1, 1, 2, 1}));
  EXPECT_EQ(dims(m, "conv2d_0"), (std::vector<int64_t>{1, 2, 4, 4}));
  EXPECT_EQ(getInts(node(m, "max_pool2d_1").attrs, "pads"), (IntList{1, 1, 1, 1}));
  EXPECT_EQ(dims(m, "max_pool2d_1"), (std::vector<int64_t>{1, 2, 4, 4}));
  // An even kernel at stride 1 pads one more after than before.
  EXPECT_EQ(getInts(node(m, "conv2d_2").attrs, "pads"), (IntList{0, 0, 1, 1}));
  EXPECT_EQ(dims(m, "conv2d_2"), (std::vector<int64_t>{1, 2, 4, 4}));
}

TEST(JsonFrontendTest, IntAndPairPaddingAndRectangularKernels) {
  Model m = load(model(R"({"op": "conv2d", "filters": 4, "kernel_size": 3, "padding": 1},
    {"op": "conv2d", "filters": 4, "kernel_size": 3, "padding": [1, 2], "inputs": ["input"]},
    {"op": "conv2d", "filters": 5, "kernel_size": [3, 5], "strides": [1, 2], "inputs": ["input"]},
    {"op": "flatten"})"));
  EXPECT_EQ(getInts(node(m, "conv2d_0").attrs, "pads"), (IntList{1, 1, 1, 1}));
  EXPECT_EQ(dims(m, "conv2d_0"), (std::vector<int64_t>{1, 4, 8, 8}));
  EXPECT_EQ(getInts(node(m, "conv2d_1").attrs, "pads"), (IntList{1, 2, 1, 2}));
  EXPECT_EQ(dims(m, "conv2d_1"), (std::vector<int64_t>{1, 4, 8, 10}));
  EXPECT_EQ(dims(m, "conv2d_2.weight"), (std::vector<int64_t>{5, 3, 3, 5}));
  EXPECT_EQ(getInts(node(m, "conv2d_2").attrs, "strides"), (IntList{1, 2}));
  EXPECT_EQ(dims(m, "conv2d_2"), (std::vector<int64_t>{1, 5, 6, 2}));
}

TEST(JsonFrontendTest, PoolingFloorsAndDefaultsStridesToPoolSize) {
  Model m = load(R"({"format": "cnnc/1", "input": {"channels": 2, "height": 7, "width": 7}, "layers": [
    {"op": "max_pool2d", "pool_size": 2},
    {"op": "avg_pool2d", "pool_size": [2, 1], "padding": [1, 0], "inputs": ["input"]},
    {"op": "avg_pool2d", "pool_size": 3, "strides": 1, "inputs": ["input"]},
    {"op": "global_avg_pool2d"}]})");
  EXPECT_EQ(getInts(node(m, "max_pool2d_0").attrs, "strides"), (IntList{2, 2}));
  EXPECT_EQ(getInts(node(m, "max_pool2d_0").attrs, "window"), (IntList{2, 2}));
  EXPECT_EQ(dims(m, "max_pool2d_0"), (std::vector<int64_t>{1, 2, 3, 3}));
  EXPECT_EQ(getInts(node(m, "avg_pool2d_1").attrs, "strides"), (IntList{2, 1}));
  EXPECT_EQ(dims(m, "avg_pool2d_1"), (std::vector<int64_t>{1, 2, 4, 7}));
  EXPECT_EQ(dims(m, "avg_pool2d_2"), (std::vector<int64_t>{1, 2, 5, 5}));
  EXPECT_EQ(dims(m, "global_avg_pool2d_3"), (std::vector<int64_t>{1, 2}));
}

TEST(JsonFrontendTest, ConcatJoinsChannels) {
  Model m = load(model(R"({"op": "conv2d", "name": "a", "filters": 4, "kernel_size": 3},
    {"op": "conv2d", "name": "b", "filters": 6, "kernel_size": 3, "inputs": ["input"]},
    {"op": "concat", "inputs": ["a", "b"]},
    {"op": "global_avg_pool2d"})"));
  EXPECT_EQ(dims(m, "concat_2"), (std::vector<int64_t>{1, 10, 6, 6}));
  EXPECT_EQ(m.layers[3].name, "global_avg_pool2d_3");
}

TEST(JsonFrontendTest, DefaultsAndOptionalKeys) {
  Model m = load(model(R"({"op": "conv2d", "filters": 4, "kernel_size": 3, "use_bias": false, "activation": "tanh"},
    {"op": "flatten"},
    {"op": "batch_norm", "momentum": 0.5, "epsilon": 0.001},
    {"op": "dropout", "rate": 0},
    {"op": "dense", "units": 3, "activation": "sigmoid", "use_bias": false},
    {"op": "add", "inputs": ["dense_4", "dense_4"], "activation": "none"})"),
                 4);
  EXPECT_EQ(node(m, "conv2d_0").operands.size(), 2u);
  EXPECT_EQ(m.layers[0].params.size(), 1u);
  EXPECT_EQ(getInts(node(m, "conv2d_0").attrs, "strides"), (IntList{1, 1}));
  EXPECT_EQ(node(m, "conv2d_0.tanh").op, Op::Tanh);
  EXPECT_EQ(dims(m, "batch_norm_2.weight"), (std::vector<int64_t>{144}));  // per feature of a flat input
  EXPECT_EQ(getFloat(node(m, "batch_norm_2").attrs, "momentum"), 0.5);
  EXPECT_EQ(getFloat(node(m, "dropout_3").attrs, "rate"), 0.0);
  EXPECT_EQ(node(m, "dense_4").operands.size(), 2u);
  EXPECT_EQ(m.graph.node(m.layers[4].output).name, "dense_4.sigmoid");
  EXPECT_EQ(m.graph.node(m.logits).name, "add_5");
  EXPECT_EQ(m.graph.outputs(), std::vector<ValueId>{m.logits});  // no loss
  EXPECT_FALSE(m.labels.has_value());
  EXPECT_FALSE(m.optimizer.has_value());
  EXPECT_EQ(m.name, "m");  // the file's stem
}

TEST(JsonFrontendTest, LossReadsTheLogitsBeforeAFinalSoftmax) {
  Model m = load(model(R"({"op": "flatten"}, {"op": "dense", "units": 10}, {"op": "softmax"})",
                       R"("classes": 10, "loss": "softmax_cross_entropy")"),
                 2);
  EXPECT_EQ(m.graph.node(m.logits).name, "softmax_2");
  EXPECT_EQ(m.graph.outputs(), (std::vector<ValueId>{m.logits, *m.loss}));
  EXPECT_EQ(node(m, "loss").operands[0], *m.graph.lookup("dense_1"));
}

TEST(JsonFrontendTest, SgdDefaultsAndAdamKeys) {
  Model sgd = load(model(R"({"op": "flatten"})", R"("optimizer": {"type": "sgd", "learning_rate": 1})"));
  ASSERT_TRUE(sgd.optimizer.has_value());
  EXPECT_EQ(sgd.optimizer->kind, OptimizerKind::Sgd);
  EXPECT_DOUBLE_EQ(sgd.optimizer->learningRate, 1.0);
  EXPECT_DOUBLE_EQ(sgd.optimizer->momentum, 0.0);
  EXPECT_FALSE(sgd.optimizer->nesterov);
  EXPECT_DOUBLE_EQ(sgd.optimizer->weightDecay, 0.0);
  Model adam =
      load(model(R"({"op": "flatten"})",
                 R"("optimizer": {"type": "adam", "beta1": 0.5, "beta2": 0.9, "epsilon": 1e-8, "weight_decay": 0.1})"));
  ASSERT_TRUE(adam.optimizer.has_value());
  EXPECT_DOUBLE_EQ(adam.optimizer->learningRate, 0.001);
  EXPECT_DOUBLE_EQ(adam.optimizer->beta1, 0.5);
  EXPECT_DOUBLE_EQ(adam.optimizer->beta2, 0.9);
  EXPECT_DOUBLE_EQ(adam.optimizer->epsilon, 1e-8);
  EXPECT_DOUBLE_EQ(adam.optimizer->weightDecay, 0.1);
}

TEST(JsonFrontendTest, NamesThatNeedQuotingStillLoad) {
  Model m = load(model(
      R"({"op": "flatten", "name": "block 1 \"out\""}, {"op": "dense", "units": 2, "inputs": ["block 1 \"out\""]})"));
  EXPECT_EQ(m.layers[0].name, "block 1 \"out\"");
  EXPECT_NE(printGraph(m.graph).find(R"(%"block 1 \"out\"")"), std::string::npos);
}

TEST(JsonFrontendTest, ModelNameDefaultsToTheFileStem) {
  Expected<Model> m = loadModelText(model(R"({"op": "flatten"})"), "models/my-net.json", 1);
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->name, "my-net");
}

TEST(JsonFrontendTest, UnreadableFile) {
  Expected<Model> m = loadModelFile("/nonexistent/model.json", 1);
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().message, "/nonexistent/model.json: cannot read file: No such file or directory");
}

TEST(JsonFrontendTest, BatchMustBePositive) {
  EXPECT_EQ(errorOf(model(R"({"op": "flatten"})"), 0), "m.json: the batch size must be at least 1, got 0");
}

// The end of the JSON value that starts at `start` (the examples' strings
// hold no brackets, so counting them finds the end of a container).
size_t valueEnd(const std::string& text, size_t start) {
  if (text[start] != '[' && text[start] != '{') return text.find_first_of(",}]\n", start);
  int depth = 0;
  for (size_t i = start;; ++i) {
    if (text[i] == '[' || text[i] == '{') ++depth;
    if ((text[i] == ']' || text[i] == '}') && --depth == 0) return i + 1;
  }
}

// Every kind of JSON value as every member of a valid model: the loader must
// report it (or accept it), never crash or throw.
TEST(JsonFrontendTest, SurvivesAnyValueInAnyPosition) {
  const std::string base = readText(examplePath("resnet_small.json"));
  const std::vector<std::string> values = {"null", "true", "-1", "0", "3.5", "1e30", "18446744073709551615",
                                           "\"x\"", "[]", "[[1]]", "{}", "[3, 3]", "{\"op\": \"relu\"}"};
  size_t checked = 0;
  for (size_t colon = base.find(':'); colon != std::string::npos; colon = base.find(':', colon + 1)) {
    size_t start = base.find_first_not_of(' ', colon + 1);
    size_t end = valueEnd(base, start);
    for (const std::string& value : values) {
      Expected<Model> m = loadModelText(base.substr(0, start) + value + base.substr(end), "m.json", 2);
      if (!m) {
        EXPECT_EQ(m.error().message.rfind("m.json: ", 0), 0u) << m.error().message;
      }
      ++checked;
    }
  }
  EXPECT_GT(checked, 1000u);
}

// ---------------------------------------------------------------- errors

struct ErrorCase {
  const char* name;
  std::string json;
  std::string error;
};

void PrintTo(const ErrorCase& test, std::ostream* out) { *out << test.name; }

class JsonErrorTest : public testing::TestWithParam<ErrorCase> {};

TEST_P(JsonErrorTest, ReportsTheExactMessage) { EXPECT_EQ(errorOf(GetParam().json), GetParam().error); }

const std::string kFlatten = R"({"op": "flatten"})";
const std::string kTail = R"({"op": "flatten"}, {"op": "dense", "units": 10})";

std::string nested(int depth) { return std::string(depth, '[') + "3" + std::string(depth, ']'); }

INSTANTIATE_TEST_SUITE_P(
    Malformed, JsonErrorTest,
    testing::Values(
        // Wrong types and ranges of values.
        ErrorCase{"KernelSizeString", model(R"({"op": "conv2d", "filters": 4, "kernel_size": "3"})"),
                  R"(m.json: layers[0].kernel_size: expected a positive integer or [kh, kw], got "3")"},
        ErrorCase{"KernelSizeFloat", model(R"({"op": "conv2d", "filters": 4, "kernel_size": 3.0})"),
                  "m.json: layers[0].kernel_size: expected a positive integer or [kh, kw], got 3.0"},
        ErrorCase{"KernelSizeBadPair", model(R"({"op": "conv2d", "filters": 4, "kernel_size": [3, 0]})"),
                  "m.json: layers[0].kernel_size: expected a positive integer or [kh, kw], got [3,0]"},
        ErrorCase{"FiltersNull", model(R"({"op": "conv2d", "filters": null, "kernel_size": 3})"),
                  "m.json: layers[0].filters: expected a positive integer, got null"},
        ErrorCase{"FiltersNegative", model(R"({"op": "conv2d", "filters": -4, "kernel_size": 3})"),
                  "m.json: layers[0].filters: expected a positive integer, got -4"},
        ErrorCase{"UnitsZero", model(kFlatten + R"(, {"op": "dense", "units": 0})"),
                  "m.json: layers[1].units: expected a positive integer, got 0"},
        ErrorCase{"UnitsBeyondInt64", model(kFlatten + R"(, {"op": "dense", "units": 18446744073709551615})"),
                  "m.json: layers[1].units: expected a positive integer, got 18446744073709551615"},
        ErrorCase{"UnitsHugeFloat", model(kFlatten + R"(, {"op": "dense", "units": 1e30})"),
                  "m.json: layers[1].units: expected a positive integer, got 1e+30"},
        ErrorCase{"DeeplyNestedValue", model(kFlatten + R"(, {"op": "dense", "units": )" + nested(100000) + "}"),
                  "m.json: layers[1].units: expected a positive integer, got [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[..."},
        ErrorCase{"StridesObject", model(R"({"op": "max_pool2d", "pool_size": 2, "strides": {"h": 1}})"),
                  R"(m.json: layers[0].strides: expected a positive integer or [sh, sw], got {"h":1})"},
        ErrorCase{
            "PaddingWord", model(R"({"op": "max_pool2d", "pool_size": 2, "padding": "full"})"),
            R"(m.json: layers[0].padding: expected "valid", "same", a non-negative integer or [ph, pw], got "full")"},
        ErrorCase{
            "PaddingNegative", model(R"({"op": "conv2d", "filters": 1, "kernel_size": 3, "padding": [-1, 1]})"),
            R"(m.json: layers[0].padding: expected "valid", "same", a non-negative integer or [ph, pw], got [-1,1])"},
        ErrorCase{"UseBiasNumber", model(R"({"op": "conv2d", "filters": 1, "kernel_size": 3, "use_bias": 1})"),
                  "m.json: layers[0].use_bias: expected true or false, got 1"},
        ErrorCase{"UnknownActivation",
                  model(R"({"op": "conv2d", "filters": 1, "kernel_size": 3, "activation": "gelu"})"),
                  R"(m.json: layers[0].activation: expected "none", "relu", "sigmoid" or "tanh", got "gelu")"},
        ErrorCase{"DropoutRateOne", model(R"({"op": "dropout", "rate": 1.0})"),
                  "m.json: layers[0].rate: expected a number in [0, 1), got 1.0"},
        ErrorCase{"BatchNormMomentum", model(R"({"op": "batch_norm", "momentum": 1.5})"),
                  "m.json: layers[0].momentum: expected a number in [0, 1], got 1.5"},
        ErrorCase{"BatchNormEpsilonZero", model(R"({"op": "batch_norm", "epsilon": 0})"),
                  "m.json: layers[0].epsilon: expected a number in (0, 1], got 0"},
        ErrorCase{"SgdMomentum",
                  model(kFlatten, R"("optimizer": {"type": "sgd", "learning_rate": 0.1, "momentum": 1.5})"),
                  "m.json: optimizer.momentum: expected a number in [0, 1), got 1.5"},
        ErrorCase{"LearningRateZero", model(kFlatten, R"("optimizer": {"type": "adam", "learning_rate": 0})"),
                  "m.json: optimizer.learning_rate: expected a number > 0, got 0"},
        ErrorCase{"NesterovString",
                  model(kFlatten, R"("optimizer": {"type": "sgd", "learning_rate": 0.1, "nesterov": "yes"})"),
                  R"(m.json: optimizer.nesterov: expected true or false, got "yes")"},
        ErrorCase{"UnknownOptimizer", model(kFlatten, R"("optimizer": {"type": "rmsprop"})"),
                  R"(m.json: optimizer.type: expected "sgd" or "adam", got "rmsprop")"},
        ErrorCase{"UnknownLoss", model(kFlatten, R"("loss": "mse")"),
                  R"(m.json: loss: expected "softmax_cross_entropy", got "mse")"},
        ErrorCase{
            "BadFormat",
            R"({"format": "cnnc/2", "input": {"channels": 1, "height": 1, "width": 1}, "layers": [{"op": "flatten"}]})",
            R"(m.json: format: expected "cnnc/1", got "cnnc/2")"},
        ErrorCase{"InputNotObject", R"({"format": "cnnc/1", "input": [3, 32, 32], "layers": [{"op": "flatten"}]})",
                  "m.json: input: expected an object, got [3,32,32]"},
        ErrorCase{"EmptyLayers",
                  R"({"format": "cnnc/1", "input": {"channels": 1, "height": 1, "width": 1}, "layers": []})",
                  "m.json: layers: expected a non-empty array of layers, got []"},
        ErrorCase{"EmptyName", model(R"({"op": "flatten", "name": ""})"),
                  R"(m.json: layers[0].name: expected a non-empty string without control characters, got "")"},
        ErrorCase{"NameWithNewline", model(R"({"op": "flatten", "name": "a\nb"})"),
                  R"(m.json: layers[0].name: expected a non-empty string without control characters, got "a\nb")"},
        // Unknown and missing keys, unknown ops.
        ErrorCase{"UnknownOp", model(R"({"op": "conv3d", "filters": 4})"),
                  R"(m.json: layers[0].op: unknown op "conv3d")"},
        ErrorCase{"OpNotString", model(R"({"op": 7})"), "m.json: layers[0].op: expected an op name, got 7"},
        ErrorCase{"LayerNotObject", model(R"("flatten")"), R"(m.json: layers[0]: expected an object, got "flatten")"},
        ErrorCase{"UnknownTopLevelKey", model(kFlatten, R"("batch": 8)"), "m.json: batch: unknown key"},
        ErrorCase{"UnknownLayerKey", model(kFlatten + R"(, {"op": "dense", "units": 2, "foo": 1})"),
                  "m.json: layers[1].foo: unknown key"},
        ErrorCase{"KeyOfAnotherOp", model(R"({"op": "max_pool2d", "pool_size": 2, "filters": 3})"),
                  "m.json: layers[0].filters: unknown key"},
        ErrorCase{"OddKeyIsQuoted", model(R"({"op": "flatten", "bad key": 1})"),
                  R"(m.json: layers[0]["bad key"]: unknown key)"},
        ErrorCase{
            "UnknownInputKey",
            R"({"format": "cnnc/1", "input": {"channels": 1, "height": 1, "width": 1, "depth": 1}, "layers": [{"op": "flatten"}]})",
            "m.json: input.depth: unknown key"},
        ErrorCase{"UnknownOptimizerKey", model(kFlatten, R"("optimizer": {"type": "adam", "momentum": 0.9})"),
                  "m.json: optimizer.momentum: unknown key"},
        ErrorCase{"MissingFilters", model(R"({"op": "conv2d", "kernel_size": 3})"),
                  R"(m.json: layers[0]: missing required key "filters")"},
        ErrorCase{"MissingOp", model(R"({"units": 3})"), R"(m.json: layers[0]: missing required key "op")"},
        ErrorCase{"MissingDropoutRate", model(R"({"op": "dropout"})"),
                  R"(m.json: layers[0]: missing required key "rate")"},
        ErrorCase{"MissingLayers", R"({"format": "cnnc/1", "input": {"channels": 1, "height": 1, "width": 1}})",
                  R"(m.json: missing required key "layers")"},
        ErrorCase{"MissingSgdLearningRate", model(kFlatten, R"("optimizer": {"type": "sgd"})"),
                  R"(m.json: optimizer: missing required key "learning_rate")"},
        ErrorCase{"MissingOptimizerType", model(kFlatten, R"("optimizer": {"learning_rate": 0.1})"),
                  R"(m.json: optimizer: missing required key "type")"},
        ErrorCase{"DuplicateKey", model(R"({"op": "dropout", "rate": 0.1, "rate": 0.2})"),
                  "m.json: layers[0].rate: duplicate key"},
        // Names and references.
        ErrorCase{"DuplicateName", model(R"({"op": "flatten", "name": "a"}, {"op": "dense", "units": 2, "name": "a"})"),
                  R"(m.json: layers[1].name: duplicate name "a", already the name of layers[0])"},
        ErrorCase{
            "DuplicateDefaultName", model(R"({"op": "flatten", "name": "dense_1"}, {"op": "dense", "units": 2})"),
            R"(m.json: layers[1]: duplicate name "dense_1" (the default name of this layer), already the name of layers[0])"},
        ErrorCase{"NameInputIsReserved", model(R"({"op": "flatten", "name": "input"})"),
                  R"(m.json: layers[0].name: "input" is reserved for the model input)"},
        ErrorCase{"UnknownReference", model(kFlatten + R"(, {"op": "dense", "units": 2, "inputs": ["nope"]})"),
                  R"(m.json: layers[1].inputs[0]: unknown layer "nope")"},
        ErrorCase{
            "ReferenceToALaterLayer", model(R"({"op": "flatten", "inputs": ["dense_1"]}, {"op": "dense", "units": 2})"),
            R"(m.json: layers[0].inputs[0]: layer "dense_1" is defined later, at layers[1]; a layer can only read the layers before it)"},
        ErrorCase{"ReferenceToItself",
                  model(kFlatten + R"(, {"op": "add", "name": "s", "inputs": ["flatten_0", "s"]})"),
                  R"(m.json: layers[1].inputs[1]: layer "s" cannot read its own output)"},
        ErrorCase{"AddWithOneInput", model(kFlatten + R"(, {"op": "add", "inputs": ["flatten_0"]})"),
                  "m.json: layers[1].inputs: add needs at least two inputs, got 1"},
        ErrorCase{"AddWithoutInputs", model(kFlatten + R"(, {"op": "add"})"),
                  R"(m.json: layers[1]: missing required key "inputs")"},
        ErrorCase{"TwoInputsToDense",
                  model(kFlatten + R"(, {"op": "dense", "units": 2, "inputs": ["flatten_0", "input"]})"),
                  "m.json: layers[1].inputs: dense takes exactly one input, got 2"},
        ErrorCase{"SoftmaxNotLast", model(R"({"op": "softmax"}, )" + kTail),
                  "m.json: layers[0]: softmax may only be the last layer"},
        ErrorCase{"PoolPaddingNotSmallerThanPool",
                  model(R"({"op": "max_pool2d", "pool_size": [2, 3], "padding": [2, 0]})"),
                  "m.json: layers[0].padding: padding [2, 0] must be smaller than pool_size [2, 3]"},
        // Problems found while lowering, at the layer.
        ErrorCase{"AddWithMismatchedShapes",
                  model(R"({"op": "conv2d", "filters": 4, "kernel_size": 3},)"
                        R"({"op": "conv2d", "filters": 8, "kernel_size": 3, "inputs": ["input"]},)"
                        R"({"op": "add", "inputs": ["conv2d_0", "conv2d_1"]})"),
                  "m.json: layers[2]: add operands must have the same type, got f32[1,4,6,6] and f32[1,8,6,6]"},
        ErrorCase{"DenseOnAnImage", model(R"({"op": "dense", "units": 10})"),
                  "m.json: layers[0]: dense needs a flat input [N,features], but the model input gives f32[1,3,8,8]; "
                  "add a flatten layer before it"},
        ErrorCase{
            "ConvOnAFlatTensor", model(kFlatten + R"(, {"op": "conv2d", "filters": 4, "kernel_size": 1})"),
            R"(m.json: layers[1]: conv2d needs an image input [N,C,H,W], but layer "flatten_0" gives the flat f32[1,192])"},
        ErrorCase{
            "PoolOnAFlatTensor", model(kTail + R"(, {"op": "global_avg_pool2d"})"),
            R"(m.json: layers[2]: global_avg_pool2d needs an image input [N,C,H,W], but layer "dense_1" gives the flat f32[1,10])"},
        ErrorCase{"KernelLargerThanInput", model(R"({"op": "conv2d", "filters": 4, "kernel_size": [3, 9]}, )" + kTail),
                  "m.json: layers[0]: conv2d width: window 9 is larger than the padded input 8"},
        ErrorCase{"LogitsNotFlat", model(R"({"op": "conv2d", "filters": 4, "kernel_size": 3})"),
                  "m.json: layers[0]: the last layer gives the model's logits, which must be flat [N,classes], got "
                  "f32[1,4,6,6]"},
        ErrorCase{"ClassesMismatch", model(kTail, R"("classes": 12)"),
                  R"(m.json: classes: 12 does not match the 10 outputs of the last layer "dense_1")"},
        ErrorCase{"ActivationOnAnOpWithoutOne", model(R"({"op": "flatten", "activation": "relu"})"),
                  "m.json: layers[0].activation: unknown key"},
        ErrorCase{"LayerNamedLikeAnActivation",
                  model(kFlatten + R"(, {"op": "dense", "units": 2, "activation": "relu", "name": "d"},)"
                                   R"({"op": "relu", "name": "d.relu"})"),
                  "m.json: layers[2]: the value name %d.relu is already used by layers[1]; rename the layer"},
        ErrorCase{"LayerNamedLabels",
                  model(kFlatten + R"(, {"op": "dense", "units": 2, "name": "labels"})",
                        R"("loss": "softmax_cross_entropy")"),
                  "m.json: loss: the value name %labels is already used by layers[1]; rename the layer"},
        ErrorCase{"LayerNamedLikeAWeight",
                  model(R"({"op": "flatten", "name": "d.weight"}, {"op": "dense", "units": 2, "name": "d"})"),
                  "m.json: layers[1]: the value name %d.weight is already used by layers[0]; rename the layer"},
        // Absurd sizes.
        ErrorCase{"HugeFilters", model(R"({"op": "conv2d", "filters": 1099511627776, "kernel_size": 3}, )" + kTail),
                  "m.json: the tensors of graph @m need 1.8 PiB, over the memory budget of 16.0 GiB"},
        ErrorCase{"WeightOverflows",
                  model(R"({"op": "conv2d", "filters": 4611686018427387904, "kernel_size": 3}, )" + kTail),
                  "m.json: layers[0]: %conv2d_0.weight f32[4611686018427387904,3,3,3] overflows 64-bit sizes"},
        ErrorCase{
            "InputOverflows",
            R"({"format": "cnnc/1", "input": {"channels": 3, "height": 1000000000000, "width": 1000000000000}, "layers": [{"op": "flatten"}]})",
            "m.json: input: %input f32[1,3,1000000000000,1000000000000] overflows 64-bit sizes"},
        ErrorCase{
            "PaddingOverflows",
            model(R"({"op": "conv2d", "filters": 1, "kernel_size": 1, "padding": 9223372036854775807}, )" + kTail),
            "m.json: layers[0]: conv2d height: padded size overflows 64 bits"},
        // Syntax.
        ErrorCase{"SyntaxErrorLineAndColumn", "{\n  \"format\": \"cnnc/1\",\n  \"input\" 3\n}",
                  "m.json:3:11: syntax error: unexpected number literal; expected ':'"},
        ErrorCase{"TrailingComma", "{\"format\": \"cnnc/1\",}",
                  "m.json:1:21: syntax error: unexpected '}'; expected string literal"},
        ErrorCase{"TruncatedFile", "{\n  \"format\": \"cnnc/1\",\n  \"layers\": [",
                  "m.json:3:14: syntax error: unexpected end of input; expected '[', '{', or a literal"},
        ErrorCase{"EmptyFile", "",
                  "m.json:1:1: syntax error: unexpected end of input; expected '[', '{', or a literal"},
        ErrorCase{"NumberOutOfRange", model(kFlatten + R"(, {"op": "dense", "units": 1e400})"),
                  "m.json:1:128: number 1e400 is out of range"},
        ErrorCase{"TopLevelArray", "[1, 2]", "m.json: expected an object, got [1,2]"},
        ErrorCase{"TopLevelNull", "null", "m.json: expected an object, got null"},
        // Every problem of a file, in file order.
        ErrorCase{"SeveralErrorsTogether",
                  R"({"format": "cnnc/1", "input": {"channels": 0, "height": 8}, "layers": [
                      {"op": "conv2d", "filters": "32", "kernel_size": 3.5, "colour": "red"},
                      {"op": "pool"},
                      {"op": "dense", "units": 10, "inputs": ["later"]},
                      {"op": "dropout", "rate": 2, "name": "later"}],
                    "optimizer": {"type": "sgd", "learning_rate": -1}, "extra": 1})",
                  "m.json: input.channels: expected a positive integer, got 0\n"
                  "m.json: input: missing required key \"width\"\n"
                  "m.json: layers[0].filters: expected a positive integer, got \"32\"\n"
                  "m.json: layers[0].kernel_size: expected a positive integer or [kh, kw], got 3.5\n"
                  "m.json: layers[0].colour: unknown key\n"
                  "m.json: layers[1].op: unknown op \"pool\"\n"
                  "m.json: layers[2].inputs[0]: layer \"later\" is defined later, at layers[3]; a layer can only read "
                  "the layers before it\n"
                  "m.json: layers[3].rate: expected a number in [0, 1), got 2\n"
                  "m.json: optimizer.learning_rate: expected a number > 0, got -1\n"
                  "m.json: extra: unknown key"}),
    [](const testing::TestParamInfo<ErrorCase>& test) { return std::string(test.param.name); });

}  // namespace
}  // namespace cnnc

#include "tests/graph_agreement.h"

#include <algorithm>
#include <cmath>
#include <random>

#include <fmt/format.h>

#include "ir/parser.h"
#include "runtime/jit_executable.h"
#include "runtime/parameters.h"

namespace cnnc {

void expectClose(const Tensor& actual, const Tensor& expected, const std::string& what) {
  ASSERT_EQ(actual.dims, expected.dims) << what;
  float scale = 0;
  for (float v : expected.data) scale = std::max(scale, std::abs(v));
  for (size_t i = 0; i < actual.data.size(); ++i)
    ASSERT_NEAR(actual.data[i], expected.data[i], 1e-4f * std::max(1.0f, scale)) << what << "[" << i << "]";
}

std::vector<Tensor> expectSameRuns(Executable& actual, Executable& expected, const Bindings<float>& bindings,
                                   int steps) {
  Status boundActual = bindAll(actual, bindings), boundExpected = bindAll(expected, bindings);
  EXPECT_TRUE(boundActual) << boundActual.error().message;
  EXPECT_TRUE(boundExpected) << boundExpected.error().message;
  if (!boundActual || !boundExpected) return {};
  std::vector<Tensor> outputs;
  for (int step = 0; step < steps; ++step) {
    Expected<std::vector<Tensor>> want = expected.run();
    Expected<std::vector<Tensor>> got = actual.run();
    EXPECT_TRUE(want) << want.error().message;
    EXPECT_TRUE(got) << got.error().message;
    if (!want || !got) return {};
    for (size_t i = 0; i < want->size(); ++i)
      expectClose((*got)[i], (*want)[i], fmt::format("step {} output {}", step, i));
    for (const auto& [name, tensor] : bindings) {
      Expected<Tensor> a = actual.read(name);
      Expected<Tensor> b = expected.read(name);
      EXPECT_TRUE(a && b) << name;
      if (a && b) expectClose(*a, *b, fmt::format("step {} {}", step, name));
    }
    outputs = std::move(*want);
  }
  return outputs;
}

Bindings<float> randomModelInputs(const Model& model, uint64_t seed) {
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

Graph parseTestGraph(std::string_view text) {
  Expected<Graph> graph = parseGraph(text, "test.cnn");
  EXPECT_TRUE(graph) << graph.error().message;
  return graph ? std::move(*graph) : Graph();
}

void TargetTest::SetUp() {
  selectTestTarget();
  if (Status runs = checkHostRuns(target_); !runs) GTEST_SKIP() << runs.error().message;
}

void TargetTest::selectTestTarget() {
  Expected<Target> target = selectTarget(GetParam());
  ASSERT_TRUE(target) << target.error().message;
  target_ = *target;
}

std::vector<Tensor> TargetTest::expectAgreement(const Graph& graph, uint64_t seed, float center) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(center - 1.0f, center + 1.0f);
  Bindings<float> bindings;
  for (const Node& node : graph.nodes()) {
    if (!isLeaf(node.op)) continue;
    Tensor t(node.type.dims);
    if (node.type.dtype == DType::F32)
      for (float& v : t.data) v = dist(rng);
    bindings[node.name] = std::move(t);
  }
  auto jit = jitBackend(target_)(graph);
  EXPECT_TRUE(jit) << jit.error().message;
  auto oracle = referenceBackend()(graph);
  EXPECT_TRUE(oracle) << oracle.error().message;
  if (!jit || !oracle) return {};
  return expectSameRuns(**jit, **oracle, bindings, 1);
}

}  // namespace cnnc

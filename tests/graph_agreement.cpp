#include "tests/graph_agreement.h"

#include <algorithm>
#include <cmath>
#include <random>

#include <fmt/format.h>

#include "ir/parser.h"
#include "runtime/jit_executable.h"

namespace cnnc {

void expectClose(const Tensor& actual, const Tensor& expected, const std::string& what) {
  ASSERT_EQ(actual.dims, expected.dims) << what;
  float scale = 0;
  for (float v : expected.data) scale = std::max(scale, std::abs(v));
  for (size_t i = 0; i < actual.data.size(); ++i)
    ASSERT_NEAR(actual.data[i], expected.data[i], 1e-4f * std::max(1.0f, scale)) << what << "[" << i << "]";
}

std::vector<Tensor> expectSameRun(Executable& got, Executable& want, const Bindings<float>& leaves,
                                  const std::string& step) {
  Expected<std::vector<Tensor>> wanted = want.run();
  Expected<std::vector<Tensor>> gotten = got.run();
  EXPECT_TRUE(wanted) << wanted.error().message;
  EXPECT_TRUE(gotten) << gotten.error().message;
  if (!wanted || !gotten) return {};
  for (size_t i = 0; i < wanted->size(); ++i)
    expectClose((*gotten)[i], (*wanted)[i], fmt::format("{} output {}", step, i));
  for (const auto& [name, tensor] : leaves) {
    Expected<Tensor> a = got.read(name);
    Expected<Tensor> b = want.read(name);
    EXPECT_TRUE(a && b) << name;
    if (a && b) expectClose(*a, *b, fmt::format("{} {}", step, name));
  }
  return *wanted;
}

Graph parseTestGraph(std::string_view text) {
  Expected<Graph> graph = parseGraph(text, "test.cnn");
  EXPECT_TRUE(graph) << graph.error().message;
  return graph ? std::move(*graph) : Graph();
}

void TargetTest::SetUp() {
  if (!hostSupports(GetParam())) GTEST_SKIP() << "this host cannot run " << GetParam() << " code";
  Expected<Target> target = selectTarget(GetParam());
  ASSERT_TRUE(target) << target.error().message;
  target_ = *target;
}

std::vector<Tensor> TargetTest::expectAgreement(const Graph& graph, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
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
  Status boundJit = bindAll(**jit, bindings), boundOracle = bindAll(**oracle, bindings);
  EXPECT_TRUE(boundJit && boundOracle);
  if (!boundJit || !boundOracle) return {};
  return expectSameRun(**jit, **oracle, bindings, "run");
}

}  // namespace cnnc

// Shared by the tests that check one executable against another (generated
// code against the reference executor, a graph against its optimised form):
// the targets to run them on, random leaves, and the comparison.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "compiler/target.h"
#include "frontends/model.h"
#include "ir/graph.h"
#include "runtime/executable.h"
#include "runtime/tensor.h"

namespace cnnc {

// `expected` to within 1e-4 relative to its largest magnitude (at least 1).
void expectClose(const Tensor& actual, const Tensor& expected, const std::string& what);

// Binds `bindings` into `actual` and `expected` (two executables of graphs
// with the same leaves), runs both `steps` times, and expects every output,
// and every leaf's value after each run (bound, or assigned by the run), to
// agree. Returns the expected outputs of the last run.
std::vector<Tensor> expectSameRuns(Executable& actual, Executable& expected, const Bindings<float>& bindings,
                                   int steps);

// Keras-style initial weights of `model`, uniform random images in [-1, 1)
// and labels spread over the classes.
Bindings<float> randomModelInputs(const Model& model, uint64_t seed);

// The graph of an IR text, failing the test if it does not parse.
Graph parseTestGraph(std::string_view text);

// Tests parameterised by target name ("avx512", "avx2") that run the
// target's code: a target the host cannot run is skipped, visibly.
class TargetTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override;
  // Selects the target, whether or not the host can run its code.
  void selectTestTarget();
  // Binds every leaf of `graph` to uniform random values in [center - 1,
  // center + 1) (i32 leaves to 0), runs it on generated code and on the
  // reference executor, and expects every output to agree. Returns the
  // reference's outputs.
  std::vector<Tensor> expectAgreement(const Graph& graph, uint64_t seed = 1, float center = 0.0f);

  Target target_;
};

// The tests of `Fixture` (a TargetTest) that only build graphs and schedules
// for the target and run nothing: every host runs them for both targets,
// as a compiler generates code for a target it does not run on.
template <class Fixture>
class CompileOnly : public Fixture {
 protected:
  void SetUp() override { this->selectTestTarget(); }
};

// Instantiates the tests of TargetTest `fixture` for both targets, named after them.
#define CNNC_TARGET_TESTS(fixture)                                                \
  INSTANTIATE_TEST_SUITE_P(Targets, fixture, ::testing::Values("avx512", "avx2"), \
                           [](const ::testing::TestParamInfo<std::string>& test) { return test.param; })

}  // namespace cnnc

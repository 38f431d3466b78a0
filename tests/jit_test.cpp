// Generated code against the reference executor: every op forward and
// backward, and whole training steps with their optimizer updates, on the
// awkward shapes of the gradient tests, for AVX-512 and AVX2 code (a target
// the host lacks is skipped, visibly).
#include <gtest/gtest.h>

#include "compiler/pipeline.h"
#include "compiler/target.h"
#include "frontends/json_loader.h"
#include "runtime/jit_executable.h"
#include "runtime/parameters.h"
#include "tests/graph_agreement.h"
#include "tests/test_models.h"

namespace cnnc {
namespace {

class JitTest : public TargetTest {
 protected:
  // Runs `kind` of `json` at `batch` for `steps` steps on both backends and
  // compares every output and every leaf after each step. Generated code
  // runs (and is compiled) on `threads` threads, 0 for all cores.
  void compare(const char* json, int64_t batch, GraphKind kind, int steps, int threads = 0) {
    Expected<Model> model = loadModelText(json, "test.json", batch);
    ASSERT_TRUE(model) << model.error().message;
    Expected<CompiledGraph> compiled = buildGraph(*model, {kind, 1, {kMaxOptLevel, {}, target_}});
    ASSERT_TRUE(compiled) << compiled.error().message;
    Bindings<float> bindings = randomModelInputs(*model, 3);
    addMissingState(compiled->graph, bindings);
    auto jit = jitBackend(target_, nullptr, threads)(compiled->graph);
    ASSERT_TRUE(jit) << jit.error().message;
    auto oracle = referenceBackend()(compiled->graph);
    ASSERT_TRUE(oracle) << oracle.error().message;
    expectSameRuns(**jit, **oracle, bindings, steps);
  }
};

TEST_P(JitTest, InferenceMatchesTheReference) { compare(kEveryOp, 3, GraphKind::Evaluation, 1); }
TEST_P(JitTest, GradientsMatchTheReference) { compare(kEveryOp, 5, GraphKind::Gradient, 1); }
TEST_P(JitTest, AdamTrainingStepsTrackTheReference) { compare(kEveryOp, 4, GraphKind::TrainStep, 3); }
TEST_P(JitTest, SgdTrainingStepsTrackTheReference) { compare(kSgdModel, 3, GraphKind::TrainStep, 3); }
// The kernels in one module, and spread over many (runtime/parallel_compile.h).
TEST_P(JitTest, CompilingThreadsDoNotChangeResults) {
  compare(kSgdModel, 3, GraphKind::TrainStep, 2, 1);
  compare(kSgdModel, 3, GraphKind::TrainStep, 2, 3);
}

CNNC_TARGET_TESTS(JitTest);

}  // namespace
}  // namespace cnnc

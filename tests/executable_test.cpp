// The Executable interface on both backends: leaves bound once keep their
// values across runs, assigns update them, and bad bindings are refused with
// the leaf left as it was.
#include <cmath>

#include <gtest/gtest.h>

#include "runtime/jit_executable.h"
#include "tests/graph_agreement.h"

namespace cnnc {
namespace {

// A running total: each run adds the input to the state and returns the sum.
const char* kCounter = R"(graph @counter {
  %x = input : f32[4]
  %total = state : f32[4]
  %total.next = add %total, %x : f32[4]
  %total.assign = assign %total, %total.next : f32[4]
  return %total.next
})";

const char* kLoss = R"(graph @loss {
  %logits = input : f32[2,3]
  %labels = input : i32[2]
  %loss = softmax_xent %logits, %labels : f32[]
  return %loss
})";

class ExecutableTest : public ::testing::TestWithParam<std::string> {
 protected:
  std::unique_ptr<Executable> compile(const char* text) {
    const Backend backend = GetParam() == "reference" ? referenceBackend() : jitBackend(*selectTarget("host"));
    Expected<std::unique_ptr<Executable>> executable = backend(parseTestGraph(text));
    EXPECT_TRUE(executable) << executable.error().message;
    return executable ? std::move(*executable) : nullptr;
  }
};

std::vector<float> only(const Expected<std::vector<Tensor>>& outputs) {
  EXPECT_TRUE(outputs) << outputs.error().message;
  return outputs ? outputs->at(0).data : std::vector<float>{};
}

TEST_P(ExecutableTest, BoundValuesStayAcrossRunsAndAssignsUpdateThem) {
  std::unique_ptr<Executable> counter = compile(kCounter);
  ASSERT_TRUE(counter);
  ASSERT_TRUE(counter->bind("total", Tensor({4}, 1.0f)));
  ASSERT_TRUE(counter->bind("x", Tensor({4}, 2.0f)));
  EXPECT_EQ(only(counter->run()), std::vector<float>(4, 3.0f));
  EXPECT_EQ(only(counter->run()), std::vector<float>(4, 5.0f));
  Expected<Tensor> total = counter->read("total");
  ASSERT_TRUE(total) << total.error().message;
  EXPECT_EQ(total->data, std::vector<float>(4, 5.0f));
  ASSERT_TRUE(counter->bind("total", Tensor({4})));
  EXPECT_EQ(only(counter->run()), std::vector<float>(4, 2.0f));
}

TEST_P(ExecutableTest, EveryLeafMustBeBoundBeforeARun) {
  std::unique_ptr<Executable> counter = compile(kCounter);
  ASSERT_TRUE(counter);
  ASSERT_TRUE(counter->bind("x", Tensor({4})));
  Expected<std::vector<Tensor>> outputs = counter->run();
  ASSERT_FALSE(outputs);
  EXPECT_EQ(outputs.error().message, "no value given for %total");
  Expected<Tensor> total = counter->read("total");
  ASSERT_FALSE(total);
  EXPECT_EQ(total.error().message, "no value given for %total");
}

TEST_P(ExecutableTest, BadBindingsAreRefusedAndKeepTheValue) {
  std::unique_ptr<Executable> counter = compile(kCounter);
  ASSERT_TRUE(counter);
  ASSERT_TRUE(counter->bind("total", Tensor({4})));
  ASSERT_TRUE(counter->bind("x", Tensor({4}, 1.0f)));
  Status status = counter->bind("x", Tensor({3}));
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().message, "%x must be [4], got [3]");
  status = counter->bind("total.next", Tensor({4}));
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().message, "graph counter has no input, param or state %total.next");
  EXPECT_FALSE(counter->read("nowhere"));
  EXPECT_EQ(only(counter->run()), std::vector<float>(4, 1.0f));

  std::unique_ptr<Executable> loss = compile(kLoss);
  ASSERT_TRUE(loss);
  ASSERT_TRUE(loss->bind("logits", Tensor({2, 3})));
  ASSERT_TRUE(loss->bind("labels", Tensor({2}, 2.0f)));
  Tensor bad({2}, 3.0f);
  status = loss->bind("labels", bad);
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().message, "label 3 is out of range for 3 classes");
  bad.data = {0.0f, 0.5f};
  EXPECT_FALSE(loss->bind("labels", bad));
  Expected<Tensor> labels = loss->read("labels");
  ASSERT_TRUE(labels) << labels.error().message;
  EXPECT_EQ(labels->data, std::vector<float>(2, 2.0f));
  EXPECT_NEAR(only(loss->run()).at(0), std::log(3.0f), 1e-6f);
}

INSTANTIATE_TEST_SUITE_P(Backends, ExecutableTest, ::testing::Values("reference", "jit"),
                         [](const ::testing::TestParamInfo<std::string>& test) { return test.param; });

}  // namespace
}  // namespace cnnc

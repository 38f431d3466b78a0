// fuse-bias-gradients where autodiff's order is not the one the fused
// kernel needs: a bias_grad before its weight gradient moves the weight
// gradient up to it when the weight gradient's operands allow, and stays
// unfused when they do not; the fused kernels (plain convolution with a
// partial last vector, dense) agree with the reference executor.
#include <gtest/gtest.h>

#include "compiler/passes.h"
#include "ir/fused_bias_gradient.h"
#include "tests/graph_agreement.h"

namespace cnnc {
namespace {

class FuseBiasGradients : public TargetTest {
 protected:
  Graph fused(std::string_view text) {
    Graph graph = parseTestGraph(text);
    EXPECT_TRUE(fuseBiasGradients(graph, PassContext{target_}));
    return graph;
  }
  // The bias_grad value that node `weight`'s kernel computes, by name.
  static std::string biasOf(const Graph& graph, std::string_view weight) {
    return getSymbol(graph.node(*graph.lookup(weight)).attrs, kBiasGradAttr).value_or("(none)");
  }
};

// The graph the pass makes, checked for both targets on any host.
using FuseBiasGradientsGraphs = CompileOnly<FuseBiasGradients>;

TEST_P(FuseBiasGradients, WeightGradientMovesUpToAnEarlierBiasGradient) {
  const Graph graph = fused(R"(graph @g {
  %x = input : f32[2,3,6,5]
  %dy = input : f32[2,4,4,3]
  %h = input : f32[2,7]
  %dz = input : f32[2,5]
  %db = bias_grad %dy : f32[4]
  %dc = bias_grad %dz : f32[5]
  %dw = conv2d_bwd_filter %x, %dy {kernel=[3,3], pads=[0,0,0,0], strides=[1,1]} : f32[4,3,3,3]
  %dv = dense_bwd_weight %dz, %h : f32[5,7]
  return %db, %dc, %dw, %dv
}
)");
  EXPECT_EQ(biasOf(graph, "dw"), "db");
  EXPECT_EQ(biasOf(graph, "dv"), "dc");
  EXPECT_LT(*graph.lookup("dw"), *graph.lookup("db"));
  EXPECT_LT(*graph.lookup("dv"), *graph.lookup("dc"));
  expectAgreement(graph);
}

TEST_P(FuseBiasGradientsGraphs, WeightGradientOfALaterInputStaysApart) {
  const Graph graph = fused(R"(graph @g {
  %x = input : f32[2,3,6,5]
  %dy = input : f32[2,4,4,3]
  %db = bias_grad %dy : f32[4]
  %xr = relu %x : f32[2,3,6,5]
  %dw = conv2d_bwd_filter %xr, %dy {kernel=[3,3], pads=[0,0,0,0], strides=[1,1]} : f32[4,3,3,3]
  return %db, %dw
}
)");
  EXPECT_EQ(biasOf(graph, "dw"), "(none)");
  EXPECT_LT(*graph.lookup("db"), *graph.lookup("dw"));
}

CNNC_TARGET_TESTS(FuseBiasGradients);
CNNC_TARGET_TESTS(FuseBiasGradientsGraphs);

}  // namespace
}  // namespace cnnc

// Memory traffic (compiler/traffic.h), which bench's GB/s divide by: every
// value a kernel reads once, every value it writes once, strided windows
// only the cache lines they touch, inlined batch norms through their
// operands and residual norms not written.
#include <gtest/gtest.h>

#include "compiler/traffic.h"
#include "tests/graph_agreement.h"
#include "tests/test_models.h"

namespace cnnc {
namespace {

int64_t bytesOf(const Graph& graph, std::initializer_list<const char*> names) {
  int64_t total = 0;
  for (const char* name : names) {
    const std::optional<ValueId> id = graph.lookup(name);
    EXPECT_TRUE(id) << name;
    if (id) total += *byteSize(graph.node(*id).type);
  }
  return total;
}

int64_t trafficOf(const Graph& graph, const char* name) { return kernelTraffic(graph)[*graph.lookup(name)]; }

TEST(Traffic, ElementwiseKernelsReadEachOperandAndWriteTheirResult) {
  const Graph graph = parseTestGraph(R"(graph @g {
  %a = input : f32[2,16,4,4]
  %b = input : f32[2,16,4,4]
  %y = add %a, %b : f32[2,16,4,4]
  %z = add %y, %y : f32[2,16,4,4]
  return %z
}
)");
  EXPECT_EQ(trafficOf(graph, "y"), 3 * 2048);
  EXPECT_EQ(trafficOf(graph, "z"), 2 * 2048);  // %y once
  EXPECT_EQ(trafficOf(graph, "a"), 0);         // no kernel
}

TEST(Traffic, StridedWindowsReadTheLinesTheyTouch) {
  // 1x1 at stride 2 reads every other row, and in NCHW16c, whose pixels
  // fill a 64-byte line each, every other line of those: a quarter. In the
  // plain layout a row of 8 floats is one line, which the row's reads all
  // touch: half. A 3x3 window at stride 2 touches every row and line.
  const Graph graph = parseTestGraph(R"(graph @g {
  %x = input : f32[2,16,8,8]<NCHW16c>
  %w = param : f32[16,16,1,1]<OIhw16o>
  %y = conv2d %x, %w {pads=[0,0,0,0], strides=[2,2]} : f32[2,16,4,4]<NCHW16c>
  %xp = input : f32[2,16,8,8]
  %wp = param : f32[16,16,1,1]
  %yp = conv2d %xp, %wp {pads=[0,0,0,0], strides=[2,2]} : f32[2,16,4,4]
  %w3 = param : f32[16,16,3,3]<OIhw16o>
  %y3 = conv2d %x, %w3 {pads=[1,1,1,1], strides=[2,2]} : f32[2,16,4,4]<NCHW16c>
  return %y, %yp, %y3
}
)");
  EXPECT_EQ(trafficOf(graph, "y"), 8192 / 4 + 1024 + 2048);
  EXPECT_EQ(trafficOf(graph, "yp"), 8192 / 2 + 1024 + 2048);
  EXPECT_EQ(trafficOf(graph, "y3"), 8192 + 9216 + 2048);
}

TEST(Traffic, FusedKernelsOfResNet) {
  Expected<CompiledGraph> step = trainingStepOf("examples/resnet_small.json", 32);
  ASSERT_TRUE(step) << step.error().message;
  const Graph& graph = step->graph;
  // A Winograd convolution reading an inlined batch norm reads the norm's
  // operands, and writes its result and its fused statistics.
  EXPECT_EQ(trafficOf(graph, "block1_conv2"),
            bytesOf(graph, {"block1_conv1", "block1_bn1.stats", "block1_bn1.weight", "block1_bn1.bias",
                            "block1_conv2.weight", "block1_conv2", "block1_bn2.stats"}));
  EXPECT_EQ(trafficOf(graph, "block1_relu1"), 0);
  // A batch norm computing its residual norm reads that norm's operands
  // and writes its result and relu mask, not the residual.
  EXPECT_EQ(trafficOf(graph, "block2_out.relu"),
            bytesOf(graph, {"block2_conv2", "block2_bn2.stats", "block2_bn2.weight", "block2_bn2.bias", "block2_proj",
                            "block2_proj_bn.stats", "block2_proj_bn.weight", "block2_proj_bn.bias", "block2_out.relu",
                            "block2_out.relu.mask"}));
  EXPECT_EQ(trafficOf(graph, "block2_proj_bn"), 0);
}

}  // namespace
}  // namespace cnnc

// FLOP counts, which bench's GFLOP/s divide by: multiply-adds with padding
// do not count, and the three convolution kernels of one layer count alike.
#include <gtest/gtest.h>

#include "compiler/flops.h"
#include "tests/graph_agreement.h"

namespace cnnc {
namespace {

TEST(Flops, ConvolutionsCountTapsInsideTheImageOnly) {
  // 3x3 "same" on 3x3: per axis, the outputs see 2, 3 and 2 inside taps.
  const Graph graph = parseTestGraph(R"(graph @g {
  %x = input : f32[2,4,3,3]
  %w = param : f32[5,4,3,3]
  %dy = input : f32[2,5,3,3]
  %y = conv2d %x, %w {pads=[1,1,1,1], strides=[1,1]} : f32[2,5,3,3]
  %dx = conv2d_bwd_data %dy, %w {input_hw=[3,3], pads=[1,1,1,1], strides=[1,1]} : f32[2,4,3,3]
  %dw = conv2d_bwd_filter %x, %dy {kernel=[3,3], pads=[1,1,1,1], strides=[1,1]} : f32[5,4,3,3]
  return %y, %dx, %dw
}
)");
  const int64_t expected = 2 * 2 * 5 * 4 * (7 * 7);
  for (const char* name : {"y", "dx", "dw"}) EXPECT_EQ(flopsOf(graph, *graph.lookup(name)), expected) << name;
  EXPECT_EQ(flopsOf(graph), 3 * expected);
}

}  // namespace
}  // namespace cnnc

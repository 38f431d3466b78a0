// The pooling, batch norm and bias gradient kernels on images in the
// channel-blocked layouts (NCHW16c, made for AVX-512, and NCHW8c, made for
// AVX2, though either runs on both targets) and in the plain layout,
// forward and backward, against the reference executor (which sees logical
// values only). Images have 32 channels: several blocks of either size.
#include <cstdint>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>
#include <llvm/Support/raw_ostream.h>

#include "compiler/codegen/codegen.h"
#include "tests/graph_agreement.h"

namespace cnnc {
namespace {

std::string replaceAll(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
  return text;
}

class BlockedKernels : public TargetTest {
 protected:
  // Runs `graph`, IR text in which LAYOUT names the layout of its images and
  // <LAYOUT> follows their types, with images in each layout, its inputs
  // around `center`.
  void expectAgreementInLayouts(const std::string& graph, float center = 0.0f) {
    for (const std::string layout : {"NCHW16c", "NCHW8c", "plain"}) {
      SCOPED_TRACE(layout);
      const std::string typed = replaceAll(graph, "<LAYOUT>", layout == "plain" ? "" : "<" + layout + ">");
      expectAgreement(parseTestGraph(replaceAll(typed, "LAYOUT", layout)), 1, center);
    }
  }
};

struct PoolCase {
  int64_t h, w;
  std::vector<int64_t> window, strides, pads;  // pads: top, left, bottom, right
};

std::string list(const std::vector<int64_t>& values) { return fmt::format("[{}]", fmt::join(values, ",")); }

// Every pooling op on one window. The max pools see the raw input (negative
// windows, where padding read as 0 would win) and its relu (windows of
// zeros, where the first maximum must win the gradient).
std::string poolingGraph(const PoolCase& p) {
  auto out = [&](int64_t size, int64_t axis) {
    const auto a = static_cast<size_t>(axis);
    return (size + p.pads[a] + p.pads[a + 2] - p.window[a]) / p.strides[a] + 1;
  };
  const std::string x = fmt::format("f32[2,32,{},{}]<LAYOUT>", p.h, p.w);
  const std::string y = fmt::format("f32[2,32,{},{}]<LAYOUT>", out(p.h, 0), out(p.w, 1));
  const std::string window = fmt::format("pads={}, strides={}, window={}", list(p.pads), list(p.strides), list(p.window));
  const std::string plain = replaceAll(x, "<LAYOUT>", ""), plainY = replaceAll(y, "<LAYOUT>", "");
  return fmt::format(R"(graph @pool {{
  %x = input : {0}
  %dy = input : {1}
  %xb = relayout %x {{layout=LAYOUT}} : {2}
  %dyb = relayout %dy {{layout=LAYOUT}} : {3}
  %r = relu %xb : {2}
  %max = max_pool2d %xb {{{4}}} : {3}
  %avg = avg_pool2d %xb {{{4}}} : {3}
  %dmax = max_pool2d_bwd %xb, %dyb {{{4}}} : {2}
  %dties = max_pool2d_bwd %r, %dyb {{{4}}} : {2}
  %davg = avg_pool2d_bwd %dyb {{input_hw=[{5},{6}], {4}}} : {2}
  return %max, %avg, %dmax, %dties, %davg
}}
)", plain, plainY, x, y, window, p.h, p.w);
}

TEST_P(BlockedKernels, PoolingOfWindowsThatTileTheImage) {
  expectAgreementInLayouts(poolingGraph({6, 6, {2, 2}, {2, 2}, {0, 0, 0, 0}}));
  // Odd sizes: the last row and column are in no window.
  expectAgreementInLayouts(poolingGraph({7, 9, {2, 2}, {2, 2}, {0, 0, 0, 0}}));
  expectAgreementInLayouts(poolingGraph({7, 8, {2, 3}, {2, 3}, {1, 2, 0, 0}}));
  // Rows of several plain vectors, the last one partial.
  expectAgreementInLayouts(poolingGraph({4, 37, {2, 2}, {2, 2}, {0, 0, 0, 0}}));
}

TEST_P(BlockedKernels, PoolingOfOverlappingWindowsWithPadding) {
  expectAgreementInLayouts(poolingGraph({7, 7, {3, 3}, {2, 2}, {1, 1, 1, 1}}));
  expectAgreementInLayouts(poolingGraph({5, 6, {3, 3}, {1, 1}, {1, 1, 1, 1}}));
  expectAgreementInLayouts(poolingGraph({4, 35, {2, 3}, {1, 1}, {0, 1, 1, 2}}));
}

TEST_P(BlockedKernels, PoolingOfWindowsWithGapsBetweenThem) {
  expectAgreementInLayouts(poolingGraph({8, 8, {2, 2}, {3, 3}, {0, 0, 0, 0}}));
}

TEST_P(BlockedKernels, GlobalAveragePooling) {
  // The gradient's only operand is [N,C], so its result is plain (ir/layout.h).
  expectAgreementInLayouts(R"(graph @global {
  %x = input : f32[2,32,5,7]
  %dy = input : f32[2,32]
  %xb = relayout %x {layout=LAYOUT} : f32[2,32,5,7]<LAYOUT>
  %y = global_avg_pool2d %xb : f32[2,32]
  %dx = global_avg_pool2d_bwd %dy {input_hw=[5,7]} : f32[2,32,5,7]
  return %y, %dx
}
)");
}

// Every batch_norm form and bias_grad on images of `dims`, with the
// statistics of the batch (training) and of given running values
// (inference); bias_grad both on its own (%dbeta) and fused into gamma's
// gradient (%dbeta2, ir/fused_bias_gradient.h).
std::string batchNormGraph(const std::string& dims) {
  return replaceAll(R"(graph @bn {
  %x = input : f32DIMS
  %dy = input : f32DIMS
  %gamma = input : f32[32]
  %beta = input : f32[32]
  %mean = input : f32[32]
  %root = input : f32[32]
  %var = mul %root, %root : f32[32]
  %xb = relayout %x {layout=LAYOUT} : f32DIMS<LAYOUT>
  %dyb = relayout %dy {layout=LAYOUT} : f32DIMS<LAYOUT>
  %stats = batch_norm_stats %xb : f32[2,32]
  %train = batch_norm_train %xb, %stats, %gamma, %beta {epsilon=1e-05} : f32DIMS<LAYOUT>
  %infer = batch_norm %xb, %gamma, %beta, %mean, %var {epsilon=0.1, momentum=0.9} : f32DIMS<LAYOUT>
  %dbeta = bias_grad %dyb : f32[32]
  %dgamma = batch_norm_bwd_gamma %dyb, %xb, %stats {bias_grad=dbeta2, epsilon=1e-05} : f32[32]
  %dbeta2 = bias_grad %dyb : f32[32]
  %dx = batch_norm_bwd_data %dyb, %xb, %stats, %gamma, %dgamma, %dbeta {epsilon=1e-05} : f32DIMS<LAYOUT>
  %running = batch_norm_running %root, %stats {count=60, momentum=0.9, row=1} : f32[32]
  return %stats, %train, %infer, %dbeta, %dgamma, %dbeta2, %dx, %running
}
)", "DIMS", dims);
}

TEST_P(BlockedKernels, BatchNormAndBiasGradients) {
  expectAgreementInLayouts(batchNormGraph("[2,32,5,6]"));  // plain vectors with a partial last one
  expectAgreementInLayouts(batchNormGraph("[3,32,4,4]"));  // whole vectors on AVX-512
  expectAgreementInLayouts(batchNormGraph("[2,32,3,1]"));  // plain channels shorter than a vector
  // Sums over the batch split in parts of 2 images for NCHW16c's 2 channel
  // groups (workspace.h: imageParts), the last part empty, and of 3 for
  // NCHW8c's 4, the last one short.
  expectAgreementInLayouts(batchNormGraph("[5,32,2,3]"));
}

// Relu masks (ir/fused_relu_mask.h) in both blocked layouts: one a batch
// norm writes beside its result, one a kernel of its own; read by a kernel
// that loads a block of bits at a time (the pool's gradient) and by one
// that loads them bit by bit (the elementwise add). The reference takes
// masks as 1 and 0, as generated code returns them.
TEST_P(BlockedKernels, ReluMasks) {
  for (const std::string layout : {"NCHW16c", "NCHW8c"}) {
    SCOPED_TRACE(layout);
    expectAgreement(parseTestGraph(replaceAll(R"(graph @masks {
  %x = input : f32[2,32,5,6]
  %dy = input : f32[2,32,5,6]
  %g = input : f32[2,32]
  %gamma = input : f32[32]
  %beta = input : f32[32]
  %xb = relayout %x {layout=LAYOUT} : f32[2,32,5,6]<LAYOUT>
  %dyb = relayout %dy {layout=LAYOUT} : f32[2,32,5,6]<LAYOUT>
  %stats = batch_norm_stats %xb : f32[2,32]
  %y = batch_norm_train %xb, %stats, %gamma, %beta {activation=relu, epsilon=1e-05, relu_mask=y.mask} : f32[2,32,5,6]<LAYOUT>
  %y.mask = relu_mask %y : b1[2,32,5,6]<LAYOUT>
  %r = relu %xb : f32[2,32,5,6]<LAYOUT>
  %r.mask = relu_mask %r : b1[2,32,5,6]<LAYOUT>
  %dpool = global_avg_pool2d_bwd %g, %y.mask {activation_gradient=relu, input_hw=[5,6]} : f32[2,32,5,6]<LAYOUT>
  %dsum = add %dyb, %xb, %r.mask {activation_gradient=relu} : f32[2,32,5,6]<LAYOUT>
  return %y, %dpool, %dsum, %y.mask, %r.mask
}
)", "LAYOUT", layout)));
  }
}

// Blocked batch norm results larger than half the last-level cache go
// past the caches (KernelBuilder::streamVector): non-temporal stores, and a
// store fence ending each such kernel. Smaller ones, and the plain layout,
// store through the caches. The values agree either way.
TEST_P(BlockedKernels, BatchNormResultsLargerThanTheCachesStreamPastThem) {
  const int64_t imageBytes = 32 * 8 * 8 * 4;
  const int64_t large = target_.lastLevelBytes / 2 / imageBytes + 1;
  for (const int64_t images : {large, int64_t{2}}) {
    for (const std::string layout : {"NCHW16c", "plain"}) {
      SCOPED_TRACE(fmt::format("{} images, {}", images, layout));
      const std::string typed = replaceAll(batchNormGraph(fmt::format("[{},32,8,8]", images)), "<LAYOUT>",
                                           layout == "plain" ? "" : "<" + layout + ">");
      const Graph graph = parseTestGraph(replaceAll(typed, "LAYOUT", layout));
      Expected<GeneratedCode> code = generateCode(graph, target_);
      ASSERT_TRUE(code) << code.error().message;
      std::string text;
      llvm::raw_string_ostream out(text);
      for (const CodeUnit& unit : code->units) unit.module->print(out, nullptr);
      const bool streams = images == large && layout != "plain";
      EXPECT_EQ(text.find("!nontemporal") != std::string::npos, streams);
      EXPECT_EQ(text.find("@llvm.x86.sse.sfence") != std::string::npos, streams);
      expectAgreement(graph);
    }
  }
}

// Batch statistics in one pass over x, of values whose mean (1000) is large
// beside their spread (+-1): the shifted sums keep the variance exact, where
// E[x^2] - mean^2 in floats would lose it to cancellation.
TEST_P(BlockedKernels, BatchStatisticsOfValuesFarFromZero) {
  for (const char* dims : {"[3,32,4,4]", "[2,32,5,6]", "[2,32,3,1]", "[5,32,2,3]"}) {
    SCOPED_TRACE(dims);
    expectAgreementInLayouts(replaceAll(R"(graph @stats {
  %x = input : f32DIMS
  %xb = relayout %x {layout=LAYOUT} : f32DIMS<LAYOUT>
  %stats = batch_norm_stats %xb : f32[2,32]
  return %stats
}
)", "DIMS", dims), 1000.0f);
  }
}

TEST_P(BlockedKernels, FilterLayoutsAreNotImageLayouts) {
  // Type inference lets a pooling op share any layout; its kernel blocks
  // channels, so code generation refuses filter layouts.
  Expected<GeneratedCode> code = generateCode(parseTestGraph(R"(graph @filter {
  %w = input : f32[32,32,2,2]
  %wb = relayout %w {layout=OIhw16o} : f32[32,32,2,2]<OIhw16o>
  %y = max_pool2d %wb {pads=[0,0,0,0], strides=[2,2], window=[2,2]} : f32[32,32,1,1]<OIhw16o>
  return %y
}
)"), target_);
  ASSERT_FALSE(code);
  EXPECT_EQ(code.error().message, "code generation does not support %y (max_pool2d) with blocked layouts");
}

CNNC_TARGET_TESTS(BlockedKernels);

}  // namespace
}  // namespace cnnc

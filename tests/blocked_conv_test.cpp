// Channel-blocked convolution kernels against the reference executor: the
// forward kernel from a plain input (the first layer) and from a blocked
// one, with padding on every side, strides and odd sizes that leave
// interior runs and runs with border columns of every length, pads wider
// than the filter's reach and images narrower than a run; the filter
// gradient alike, with the bias gradient it computes as it goes; and
// conv2d_bwd_data written as a convolution with the transposed filter;
// fused activation gradients in both.
#include <random>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include "compiler/column_runs.h"
#include "compiler/conv_tiles.h"
#include "compiler/passes.h"
#include "ir/conv_algorithm.h"
#include "runtime/jit_executable.h"
#include "tests/graph_agreement.h"

namespace cnnc {
namespace {

class BlockedConv : public TargetTest {
 protected:
  // Layout names for the target's block.
  std::string image() const { return fmt::format("NCHW{}c", target_.vectorWidth); }
  std::string filter() const { return fmt::format("OIhw{}o", target_.vectorWidth); }
  int64_t b() const { return target_.vectorWidth; }

  // conv2d of x [N,C,H,W] with F filters of KHxKW, strides and pads, the
  // input given plain or blocked; the filter gradient of the same window;
  // and, when the input is blocked, the input gradient. F and C (when
  // blocked) are multiples of the block. The graph checked: %y = conv2d
  // with its batch statistics %ys fused (ir/fused_statistics.h), %yg the
  // same through a fused sigmoid gradient (of a random activation output
  // %mb), %dw = conv2d_bwd_filter with the bias gradient %db fused into it,
  // and %dx = conv2d_bwd_data through a fused relu gradient (of x).
  // With an `algorithm` (winograd, winograd4x4), %y and %yg take that
  // Winograd kernel (ir/conv_algorithm.h).
  Graph graphOf(int64_t C, int64_t H, int64_t W, int64_t F, int64_t KH, int64_t KW, int64_t s,
                std::array<int64_t, 4> pads, bool blockedInput, int64_t N = 2, std::string_view winograd = {}) {
    const int64_t OH = (H + pads[0] + pads[2] - KH) / s + 1, OW = (W + pads[1] + pads[3] - KW) / s + 1;
    const std::string xType = fmt::format("f32[{},{},{},{}]", N, C, H, W);
    const std::string yType = fmt::format("f32[{},{},{},{}]", N, F, OH, OW);
    const std::string window = fmt::format("pads=[{},{},{},{}], strides=[{},{}]", pads[0], pads[1], pads[2], pads[3], s, s);
    const std::string algorithm = winograd.empty() ? "" : fmt::format("algorithm={}, ", winograd);
    const std::string input = blockedInput ? fmt::format("%xb = relayout %x {{layout={0}}} : {1}<{0}>\n  ", image(), xType)
                                           : std::string();
    const std::string xUsed = blockedInput ? "%xb" : "%x";
    // The filter blocked along its input channels, as conv2d_bwd_data reads it.
    const std::string inputGradient = blockedInput ? fmt::format(R"(
  %wc = relayout %w {{layout={image}}} : f32[{F},{C},{KH},{KW}]<{image}>
  %dx = conv2d_bwd_data %dyb, %wc, %xb {{activation_gradient=relu, input_hw=[{H},{W}], {window}}} : f32[{N},{C},{H},{W}]<{image}>
  %dxp = relayout %dx {{layout=plain}} : f32[{N},{C},{H},{W}])", fmt::arg("image", image()), fmt::arg("N", N), fmt::arg("F", F), fmt::arg("C", C),
        fmt::arg("KH", KH), fmt::arg("KW", KW), fmt::arg("H", H), fmt::arg("W", W), fmt::arg("window", window))
                                                         : std::string();
    return parseTestGraph(fmt::format(R"(graph @g {{
  %x = input : {xType}
  %w = param : f32[{F},{C},{KH},{KW}]
  %bias = param : f32[{F}]
  %dy = input : {yType}
  %m = input : {yType}
  %mb = relayout %m {{layout={image}}} : {yType}<{image}>
  {input}%wb = relayout %w {{layout={filter}}} : f32[{F},{C},{KH},{KW}]<{filter}>
  %dyb = relayout %dy {{layout={image}}} : {yType}<{image}>
  %y = conv2d {xUsed}, %wb, %bias {{{algorithm}stats=ys, {window}}} : {yType}<{image}>
  %ys = batch_norm_stats %y : f32[2,{F}]
  %yg = conv2d {xUsed}, %wb, %bias, %mb {{{algorithm}activation_gradient=sigmoid, {window}}} : {yType}<{image}>
  %ygp = relayout %yg {{layout=plain}} : {yType}
  %dw = conv2d_bwd_filter {xUsed}, %dyb {{bias_grad=db, kernel=[{KH},{KW}], {window}}} : f32[{F},{C},{KH},{KW}]<{filter}>
  %db = bias_grad %dyb : f32[{F}]
  %yp = relayout %y {{layout=plain}} : {yType}
  %dwp = relayout %dw {{layout=plain}} : f32[{F},{C},{KH},{KW}]{inputGradient}
  return %yp, %ys, %ygp, %dwp, %db{dxp}
}}
)", fmt::arg("inputGradient", inputGradient), fmt::arg("dxp", blockedInput ? ", %dxp" : ""), fmt::arg("xType", xType), fmt::arg("yType", yType), fmt::arg("F", F), fmt::arg("C", C), fmt::arg("KH", KH),
        fmt::arg("KW", KW), fmt::arg("input", input), fmt::arg("filter", filter()), fmt::arg("image", image()),
        fmt::arg("xUsed", xUsed), fmt::arg("window", window), fmt::arg("algorithm", algorithm)));
  }

  // conv2d_bwd_filter %dw of x [N,C,H,W] (blocked) and its output
  // gradient, 3x3 at stride 1 with `pads`, by the Winograd kernel
  // `algorithm`; with `bias`, and the bias gradient %db fused into it
  // (ir/fused_bias_gradient.h).
  Graph winogradFilterGradient(int64_t C, int64_t H, int64_t W, int64_t F, std::array<int64_t, 4> pads, int64_t N,
                               bool bias, std::string_view algorithm = kWinograd) {
    const int64_t OH = H + pads[0] + pads[2] - 2, OW = W + pads[1] + pads[3] - 2;
    return parseTestGraph(fmt::format(R"(graph @g {{
  %x = input : f32[{N},{C},{H},{W}]
  %dy = input : f32[{N},{F},{OH},{OW}]
  %xb = relayout %x {{layout={image}}} : f32[{N},{C},{H},{W}]<{image}>
  %dyb = relayout %dy {{layout={image}}} : f32[{N},{F},{OH},{OW}]<{image}>
  %dw = conv2d_bwd_filter %xb, %dyb {{algorithm={algorithm}, {biasAttr}kernel=[3,3], pads=[{pads}], strides=[1,1]}} : f32[{F},{C},3,3]<{filter}>
  %db = bias_grad %dyb : f32[{F}]
  %dwp = relayout %dw {{layout=plain}} : f32[{F},{C},3,3]
  return %dwp{biasResult}
}}
)", fmt::arg("biasAttr", bias ? "bias_grad=db, " : ""), fmt::arg("biasResult", bias ? ", %db" : ""), fmt::arg("N", N), fmt::arg("C", C), fmt::arg("H", H), fmt::arg("W", W), fmt::arg("F", F), fmt::arg("OH", OH),
        fmt::arg("OW", OW), fmt::arg("pads", fmt::join(pads, ",")), fmt::arg("image", image()), fmt::arg("filter", filter()),
        fmt::arg("algorithm", algorithm)));
  }

  // A 3x3 stride-1 window for the Winograd kernels: C, H, W, F and pads.
  using WinogradWindow = std::tuple<int64_t, int64_t, int64_t, int64_t, std::array<int64_t, 4>>;

  // The windows both Winograd kernels are checked on (their tests say why),
  // with the two of odd sizes `oddA` and `oddB` that each picks, before the
  // seed model's second layer (13x13).
  std::vector<WinogradWindow> winogradWindows(const WinogradWindow& oddA, const WinogradWindow& oddB) const {
    return {{b(), 8, 10, 2 * b(), {1, 1, 1, 1}}, {2 * b(), 6, 6, 4 * b(), {0, 0, 0, 0}},
            {b(), 6, 12, 2 * b(), {2, 2, 2, 2}}, {b(), 7, 9, b(), {1, 0, 0, 1}},
            {b(), 4, 5, b(), {3, 4, 1, 3}},      {b(), 2, 2, b(), {1, 1, 1, 1}},
            oddA,                                oddB,
            {2 * b(), 15, 15, 4 * b(), {0, 0, 0, 0}}};
  }

  void check(int64_t C, int64_t H, int64_t W, int64_t F, int64_t KH, int64_t KW, int64_t s,
             std::array<int64_t, 4> pads, bool blockedInput) {
    expectAgreement(graphOf(C, H, W, F, KH, KW, s, pads, blockedInput));
  }

  // expectAgreement of `graph` under the tiles `tiles` (--tile NAME=a,b,...).
  void expectTiledAgreement(const Graph& graph, const std::vector<std::string>& tiles) {
    Expected<Graph> tiled = overrideTiles(graph, tiles);
    ASSERT_TRUE(tiled) << tiled.error().message;
    SCOPED_TRACE(tiles.empty() ? std::string("default tiles") : fmt::format("tiles {}", fmt::join(tiles, " ")));
    expectAgreement(*tiled);
  }
};

// The schedules and kernels that choose-tiles and select-winograd pick, and
// the tiles they refuse: graphs only, checked for both targets on any host.
using BlockedConvSchedules = CompileOnly<BlockedConv>;

TEST_P(BlockedConv, FirstLayerFromPlainInput) { check(3, 11, 13, 2 * b(), 3, 3, 1, {0, 0, 0, 0}, false); }
TEST_P(BlockedConv, SamePaddingOnEverySide) { check(b(), 9, 10, 2 * b(), 3, 3, 1, {1, 1, 1, 1}, true); }
TEST_P(BlockedConv, WideImageWithManyInteriorRuns) { check(b(), 3, 37, 4 * b(), 3, 3, 1, {1, 1, 1, 1}, true); }
TEST_P(BlockedConv, AsymmetricPaddingAndStride) { check(2 * b(), 8, 9, b(), 3, 5, 2, {1, 2, 0, 2}, true); }
TEST_P(BlockedConv, PointwiseStridedProjection) { check(b(), 8, 8, 2 * b(), 1, 1, 2, {0, 0, 0, 0}, true); }
TEST_P(BlockedConv, SmallImageManyFilters) { check(2 * b(), 6, 6, 4 * b(), 3, 3, 1, {0, 0, 0, 0}, true); }
TEST_P(BlockedConv, PlainInputWithPadding) { check(5, 7, 6, b(), 3, 3, 1, {1, 1, 1, 1}, false); }
// The backward data of a valid 3x3 convolution: two border columns a side.
TEST_P(BlockedConv, PadsOfTwo) { check(b(), 6, 13, 2 * b(), 3, 3, 1, {2, 2, 2, 2}, true); }
// A row in one run whose columns reach outside on both sides.
TEST_P(BlockedConv, ImageNarrowerThanTheRun) { check(b(), 4, 3, 4 * b(), 3, 3, 1, {2, 2, 2, 2}, true); }
// Border columns whose taps all fall outside the image.
TEST_P(BlockedConv, PadsBeyondTheFilter) { check(b(), 5, 4, b(), 3, 3, 1, {3, 4, 1, 3}, true); }
TEST_P(BlockedConv, StrideTwoWithPadsOnTheFarSide) { check(b(), 9, 11, 2 * b(), 3, 3, 2, {0, 0, 1, 1}, true); }
TEST_P(BlockedConv, StrideTwoWithPadsOnEverySide) { check(b(), 8, 10, b(), 3, 3, 2, {1, 1, 1, 1}, true); }
// Input columns that no tap of the run reads, inside the image and out.
TEST_P(BlockedConv, PointwiseStridedWithPads) { check(b(), 7, 9, b(), 1, 1, 2, {1, 1, 2, 2}, true); }

// The Winograd kernel (ir/conv_algorithm.h), its fused batch statistics and
// activation gradient: same padding; none (a 4x4 output); pads of two (a
// backward data's); uneven pads; pads beyond the filter, so that blocks of
// outputs read only padding; a 2x2 output, one block whose every input
// row and column but two is padding; odd numbers of output rows and
// columns, whose last blocks store only the outputs inside (9x11, 3x3, and
// the seed model's second layer, 13x13).
TEST_P(BlockedConv, WinogradKernelsComputeTheSame) {
  const std::vector<WinogradWindow> cases = winogradWindows({b(), 9, 11, 2 * b(), {1, 1, 1, 1}},
                                                            {b(), 3, 3, b(), {1, 1, 1, 1}});
  for (const auto& [C, H, W, F, pads] : cases) {
    SCOPED_TRACE(fmt::format("{}x{}x{} -> {}, pads [{}]", C, H, W, F, fmt::join(pads, ",")));
    for (std::string_view algorithm : {kWinograd, kWinograd4x4}) {
      SCOPED_TRACE(algorithm);
      expectAgreement(graphOf(C, H, W, F, 3, 3, 1, pads, true, 2, algorithm));
    }
  }
}

// Winograd tiles, of each kernel: runs of one block, of a whole row, and
// rows of blocks in shorter runs (5 blocks of 2x2 in runs of 2, 2, 1 and
// of 3, 2; 3 of 4x4 in 2, 1); register blocks of one and of two block
// rows, rows per task not a multiple of them (rows left over); chunks of
// input channels resuming from partial sums; one filter block and two.
// Then 7 rows and 9 columns: tasks whose last one or last block lies
// partly past the rows, and rows whose last block lies partly past the
// columns. A tile of columns not a multiple of the blocks' side is refused.
TEST_P(BlockedConv, EveryWinogradTileComputesTheSame) {
  struct Tiles {
    std::string_view algorithm;
    std::vector<std::string> even, odd;  // of 8x10 and 7x9 outputs
    std::string refused, why;
  };
  const std::vector<Tiles> kernels = {
      {kWinograd,
       {fmt::format("=1,2,{},2,2", b()), fmt::format("=2,10,{},4,4", 2 * b()), fmt::format("=1,4,{},6,4", 4 * b()),
        fmt::format("=2,6,{},8,2", b())},
       {fmt::format("=1,4,{},2,2", b()), fmt::format("=2,6,{},4,4", 2 * b()), fmt::format("=1,10,{},7,2", 2 * b())},
       fmt::format("1,3,{},2,2", b()),
       "the Winograd kernel's columns, block rows and rows per task (unless all) must be multiples of 2: it makes "
       "2x2 blocks of outputs"},
      {kWinograd4x4,
       {fmt::format("=1,4,{},4,4", b()), fmt::format("=2,12,{},8,8", 2 * b()), fmt::format("=1,8,{},4,4", 4 * b()),
        fmt::format("=2,4,{},8,4", b())},
       {fmt::format("=1,4,{},4,4", b()), fmt::format("=2,8,{},7,4", 2 * b()), fmt::format("=1,12,{},7,8", 2 * b())},
       fmt::format("1,6,{},4,4", b()),
       "the Winograd kernel's columns, block rows and rows per task (unless all) must be multiples of 4: it makes "
       "4x4 blocks of outputs"}};
  for (const Tiles& kernel : kernels) {
    SCOPED_TRACE(kernel.algorithm);
    const Graph graph = graphOf(4 * b(), 8, 10, 2 * b(), 3, 3, 1, {1, 1, 1, 1}, true, 3, kernel.algorithm);
    for (const std::string& tile : kernel.even) expectTiledAgreement(graph, {"y" + tile, "yg" + tile});
    const Graph oddGraph = graphOf(2 * b(), 7, 9, 2 * b(), 3, 3, 1, {1, 1, 1, 1}, true, 3, kernel.algorithm);
    for (const std::string& tile : kernel.odd) expectTiledAgreement(oddGraph, {"y" + tile, "yg" + tile});
    Expected<Graph> refused = overrideTiles(graph, {"y=" + kernel.refused});
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().message, fmt::format("tile [{}] of conv2d %y: {}", kernel.refused, kernel.why));
  }
}

// The Winograd filter gradients, F(3x3, 2x2) and F(3x3, 4x4)
// (ir/conv_algorithm.h), with and without the bias gradient fused into
// it, in turns: same padding; none; pads of two; uneven
// pads; pads beyond the filter, whose blocks read mostly padding; one 2x2
// block of output gradients; odd numbers of output-gradient rows and
// columns, whose last blocks are zeros past them (7x9, 1x1, and the seed
// model's second layer, 13x13). A batch of 3, so that parts of the default
// tiles run short or empty.
TEST_P(BlockedConv, WinogradFilterGradientsComputeTheSame) {
  const std::vector<WinogradWindow> cases = winogradWindows({b(), 7, 9, 2 * b(), {1, 1, 1, 1}},
                                                            {b(), 3, 3, b(), {0, 0, 0, 0}});
  for (size_t k = 0; k < cases.size(); ++k) {
    const auto& [C, H, W, F, pads] = cases[k];
    SCOPED_TRACE(fmt::format("{}x{}x{} -> {}, pads [{}]", C, H, W, F, fmt::join(pads, ",")));
    for (std::string_view algorithm : {kWinograd, kWinograd4x4}) {
      SCOPED_TRACE(algorithm);
      expectAgreement(winogradFilterGradient(C, H, W, F, pads, 3, k % 2 == 0, algorithm));
    }
  }
}

// Winograd filter-gradient tiles, of each kernel: register blocks of one
// filter block and one channel, of two and several; task channels of one
// input block (slices: the first sums the bias gradient) and of all; bands
// of one row of blocks, of two (a short one last), of one image and of
// two; the batch of 5 in one part, in parts of 2 and of 1 image. On 7 rows
// by 5: bands of one row of blocks (the last partly past the rows), of
// two, of the image (7) and of two (14). Refused: taps, rows not in whole
// blocks, task channels not in whole input blocks.
TEST_P(BlockedConv, EveryWinogradFilterGradientTileComputesTheSame) {
  struct Tiles {
    std::string_view algorithm;
    std::vector<std::string> even, odd;  // of 6x8 and 7x5 output gradients
    std::string rows;                    // refused
  };
  const std::vector<Tiles> kernels = {
      {kWinograd,
       {fmt::format("dw=1,1,1,{},2,1", b()), fmt::format("dw=2,4,1,{},4,3", 2 * b()), fmt::format("dw=4,2,1,{},6,5", b()),
        fmt::format("dw=1,8,1,{},12,2", 2 * b())},
       {fmt::format("dw=1,2,1,{},2,1", b()), fmt::format("dw=2,4,1,{},4,2", 2 * b()), fmt::format("dw=1,1,1,{},7,3", b()),
        fmt::format("dw=2,8,1,{},14,1", 2 * b())},
       fmt::format("dw=1,1,1,{},3,1", b())},
      {kWinograd4x4,
       {fmt::format("dw=1,1,1,{},4,1", b()), fmt::format("dw=2,4,1,{},4,3", 2 * b()), fmt::format("dw=4,2,1,{},6,5", b()),
        fmt::format("dw=1,8,1,{},12,2", 2 * b())},
       {fmt::format("dw=1,2,1,{},4,1", b()), fmt::format("dw=2,4,1,{},8,2", 2 * b()), fmt::format("dw=1,1,1,{},7,3", b()),
        fmt::format("dw=2,8,1,{},14,1", 2 * b())},
       fmt::format("dw=1,1,1,{},2,1", b())}};
  for (const Tiles& kernel : kernels) {
    SCOPED_TRACE(kernel.algorithm);
    const Graph graph = winogradFilterGradient(2 * b(), 6, 8, 4 * b(), {1, 1, 1, 1}, 5, true, kernel.algorithm);
    for (const std::string& tile : kernel.even) expectTiledAgreement(graph, {tile});
    const Graph odd = winogradFilterGradient(2 * b(), 7, 5, 2 * b(), {1, 1, 1, 1}, 3, false, kernel.algorithm);
    for (const std::string& tile : kernel.odd) expectTiledAgreement(odd, {tile});
    for (const std::string& tile : {fmt::format("dw=1,1,3,{},4,1", b()), kernel.rows, fmt::format("dw=1,1,1,{},4,1", b() / 2)}) {
      SCOPED_TRACE(tile);
      EXPECT_FALSE(overrideTiles(graph, {tile}));
    }
  }
}

// Tiles schedule; they change nothing but rounding: register blocks of one
// column or filter block, channel chunks that resume from partial sums, one
// row per task, register blocks of several rows (rows per task not a
// multiple of them, or all the rows of the image), and filter-gradient
// blocks of one channel, one or all filter columns (with padding: columns
// tested at run time), on bands of part of an image, one image or two, the
// batch of 5 in parts of 1 to 3 images (some parts short or empty).
TEST_P(BlockedConv, EveryTileComputesTheSame) {
  const Graph graph = graphOf(4 * b(), 7, 9, 2 * b(), 3, 3, 1, {1, 1, 1, 1}, true, 5);
  const std::vector<std::vector<std::string>> overrides = {
      {fmt::format("y=1,1,{},1,1", 4 * b()), "dw=1,1,1,1,1,1"},
      {fmt::format("y=2,3,{},2,2", b()), "dw=2,4,3,4,2,2"},
      {fmt::format("y=2,14,{},7,3", 2 * b()), "dw=1,8,1,16,9,5"},
      {fmt::format("y=1,5,{},3,2", b()), "dw=2,2,3,8,4,4"},
      {fmt::format("y=1,9,{},7,7", b()), "dw=1,1,1,4,7,3"},
      {fmt::format("y=2,9,{},7,1", b()), "dw=2,4,3,8,14,1"}};
  for (std::vector<std::string> tiles : overrides) {
    tiles.push_back("yg" + tiles[0].substr(1));  // the fused activation gradient in every chunk and block
    expectTiledAgreement(graph, tiles);
  }
}

// Filter gradients slide along the input rows in groups of the stride's
// columns, the output gradients of the last ceil(JB / stride) columns in
// registers (filterGradientLags): in runs of as many groups, then one by
// one, then the window empties past the row's end. Rows of 4 to 9 columns
// under a 5-wide filter, padded unevenly, at strides 1 to 3, leave every
// count of groups after the runs, and rows whose ends cut a group; register
// blocks of all 5 filter columns and of 1, on bands of one row and of whole
// images, and one too large to slide, which sweeps the output columns.
// The default tile fits the registers: accumulators, the window if it
// slides, and the broadcast input.
TEST_P(BlockedConv, SlidingFilterGradientsOfEveryRowLength) {
  struct Case {
    std::string tile;
    bool slides;
  };
  const std::vector<Case> cases = {{fmt::format("dw=1,1,5,{},1,1", b()), true},
                                   {fmt::format("dw=1,4,1,{},9,2", b()), true},
                                   {fmt::format("dw=2,4,5,{},2,1", b()), false}};
  for (int64_t stride = 1; stride <= 3; ++stride) {
    for (int64_t width = 4; width <= 9; ++width) {
      const Graph graph = graphOf(b(), 3 * stride, width, 2 * b(), 3, 5, stride, {1, 3, 0, 1}, true);
      const FilterGradientTile tile = filterGradientTile(graph, graph.node(*graph.lookup("dw")), target_);
      const int64_t window = filterGradientSlides(tile, stride, target_) ? filterGradientLags(tile.taps, stride) : 1;
      EXPECT_LE(tile.filterBlocks * (tile.taps * tile.channels + window) + 1, target_.vectorRegisters);
      for (const Case& c : cases) {
        Expected<Graph> tiled = overrideTiles(graph, {c.tile});
        ASSERT_TRUE(tiled) << tiled.error().message;
        SCOPED_TRACE(fmt::format("stride {}, width {}, {}", stride, width, c.tile));
        EXPECT_EQ(filterGradientSlides(filterGradientTile(*tiled, tiled->node(*tiled->lookup("dw")), target_), stride,
                                       target_),
                  c.slides);
        expectAgreement(*tiled);
      }
    }
  }
}

// The gamma and beta gradients of a batch norm fused into the kernel that
// makes its output gradient (ir/fused_statistics.h): a convolution (with
// the transposed filter, in a training step) and a strided conv2d_bwd_data.
// Each task sums dy * (x - mean) and dy over its rows, a second phase adds
// the tasks'. Tasks of whole images and of two rows, of one or two blocks.
TEST_P(BlockedConv, FusedGammaGradientComputesTheSame) {
  const int64_t F = 2 * b();
  const std::string image = this->image(), y = fmt::format("f32[3,{},7,6]", F);
  const Graph graph = parseTestGraph(fmt::format(R"(graph @g {{
  %x = input : f32[3,{b},7,6]
  %w = param : f32[{F},{b},3,3]
  %g = input : f32[3,{b},4,3]
  %v = param : f32[{b},{F},3,3]
  %bnx = input : {y}
  %xb = relayout %x {{layout={image}}} : f32[3,{b},7,6]<{image}>
  %wb = relayout %w {{layout={filter}}} : f32[{F},{b},3,3]<{filter}>
  %gb = relayout %g {{layout={image}}} : f32[3,{b},4,3]<{image}>
  %vc = relayout %v {{layout={image}}} : f32[{b},{F},3,3]<{image}>
  %bnxb = relayout %bnx {{layout={image}}} : {y}<{image}>
  %stats = batch_norm_stats %bnxb : f32[2,{F}]
  %dy = conv2d %xb, %wb {{gamma_grad=dgamma, pads=[1,1,1,1], strides=[1,1]}} : {y}<{image}>
  %dgamma = batch_norm_bwd_gamma %dy, %bnxb, %stats {{bias_grad=dbeta, epsilon=1e-05}} : f32[{F}]
  %dbeta = bias_grad %dy : f32[{F}]
  %dx = conv2d_bwd_data %gb, %vc {{gamma_grad=dgamma2, input_hw=[7,6], pads=[1,1,1,1], strides=[2,2]}} : {y}<{image}>
  %dgamma2 = batch_norm_bwd_gamma %dx, %bnxb, %stats {{bias_grad=dbeta2, epsilon=1e-05}} : f32[{F}]
  %dbeta2 = bias_grad %dx : f32[{F}]
  %dyp = relayout %dy {{layout=plain}} : {y}
  %dxp = relayout %dx {{layout=plain}} : {y}
  return %dyp, %dgamma, %dbeta, %dxp, %dgamma2, %dbeta2
}}
)", fmt::arg("b", b()), fmt::arg("F", F), fmt::arg("y", y), fmt::arg("image", image), fmt::arg("filter", filter())));
  const std::vector<std::vector<std::string>> tiles = {
      {}, {fmt::format("dy=2,6,{},7,1", b()), fmt::format("dx=2,3,{},7,1", b())},
      {fmt::format("dy=1,3,{},2,1", b()), fmt::format("dx=1,2,{},2,1", b())}};
  for (const std::vector<std::string>& tile : tiles) expectTiledAgreement(graph, tile);
}

// A projection shortcut's data gradient fused into its sibling's
// (ir/fused_projection.h): %dx sums the strided convolution's data
// gradient and the 1x1 projection's, then adds a residual and takes a relu
// gradient, and its gamma gradient is fused too. At strides 2 and 3, on
// images of odd rows and columns, under host windows that reach every
// column phase and one (a 1x1 filter padded by 1) that leaves the
// projection's phase to the kernel's path for columns without taps; tiles
// of one and two dx channel blocks, one and two passes over dy's channels,
// tasks of whole images and of two rows.
TEST_P(BlockedConv, FusedProjectionGradientComputesTheSame) {
  struct Case {
    int64_t H, W, KH, KW, s;
    std::array<int64_t, 4> pads;
  };
  const int64_t C = 2 * b(), F = 2 * b(), P = b(), N = 3;
  for (const Case& c : {Case{9, 7, 3, 3, 2, {0, 0, 1, 1}}, Case{8, 9, 3, 3, 2, {1, 1, 1, 1}},
                        Case{7, 10, 3, 3, 3, {1, 1, 1, 1}}, Case{7, 9, 1, 1, 2, {1, 1, 1, 1}}}) {
    SCOPED_TRACE(fmt::format("{}x{} image, {}x{} filter, stride {}, pads {}", c.H, c.W, c.KH, c.KW, c.s,
                             fmt::join(c.pads, ",")));
    const int64_t OH = (c.H + c.pads[0] + c.pads[2] - c.KH) / c.s + 1;
    const int64_t OW = (c.W + c.pads[1] + c.pads[3] - c.KW) / c.s + 1;
    const int64_t PH = (c.H - 1) / c.s + 1, PW = (c.W - 1) / c.s + 1;
    const std::string x = fmt::format("f32[{},{},{},{}]", N, C, c.H, c.W);
    const Graph graph = parseTestGraph(fmt::format(R"(graph @g {{
  %g = input : f32[{N},{F},{OH},{OW}]
  %v = param : f32[{F},{C},{KH},{KW}]
  %p = input : f32[{N},{P},{PH},{PW}]
  %u = param : f32[{P},{C},1,1]
  %r = input : {x}
  %a = input : {x}
  %bnx = input : {x}
  %gb = relayout %g {{layout={image}}} : f32[{N},{F},{OH},{OW}]<{image}>
  %vc = relayout %v {{layout={image}}} : f32[{F},{C},{KH},{KW}]<{image}>
  %pb = relayout %p {{layout={image}}} : f32[{N},{P},{PH},{PW}]<{image}>
  %uc = relayout %u {{layout={image}}} : f32[{P},{C},1,1]<{image}>
  %rb = relayout %r {{layout={image}}} : {x}<{image}>
  %ab = relayout %a {{layout={image}}} : {x}<{image}>
  %bnxb = relayout %bnx {{layout={image}}} : {x}<{image}>
  %stats = batch_norm_stats %bnxb : f32[2,{C}]
  %dx = conv2d_bwd_data %gb, %vc, %pb, %uc, %rb, %ab {{activation_gradient=relu, gamma_grad=dgamma, input_hw=[{H},{W}], pads=[{pads}], projection=shortcut, residual=sum, strides=[{s},{s}]}} : {x}<{image}>
  %dgamma = batch_norm_bwd_gamma %dx, %bnxb, %stats {{bias_grad=dbeta, epsilon=1e-05}} : f32[{C}]
  %dbeta = bias_grad %dx : f32[{C}]
  %dxp = relayout %dx {{layout=plain}} : {x}
  return %dxp, %dgamma, %dbeta
}}
)", fmt::arg("N", N), fmt::arg("C", C), fmt::arg("F", F), fmt::arg("P", P), fmt::arg("OH", OH), fmt::arg("OW", OW),
        fmt::arg("PH", PH), fmt::arg("PW", PW), fmt::arg("KH", c.KH), fmt::arg("KW", c.KW), fmt::arg("H", c.H),
        fmt::arg("W", c.W), fmt::arg("s", c.s), fmt::arg("pads", fmt::join(c.pads, ",")), fmt::arg("x", x),
        fmt::arg("image", image())));
    for (const std::vector<std::string>& tiles :
         std::vector<std::vector<std::string>>{{},
                                               {fmt::format("dx=1,3,{},2,1", b())},
                                               {fmt::format("dx=2,2,{},{},1", F, c.H)},
                                               {fmt::format("dx=2,5,{},3,1", b())}})
      expectTiledAgreement(graph, tiles);
  }
}

// Batch statistics fused into a convolution whose results (about 1.44e8,
// from inputs and weights about 1000, no padding) are large beside their
// spread (a variance of about 2.8e7): each task's sums are shifted by its
// first result, and the tasks' moved to a common shift, so the variance
// does not cancel away (unshifted sums gave 4.3e9). Against the statistics
// of the kernel's own result, in double: the reference's result differs by
// rounding, which moves so narrow a variance by more than the test's
// tolerance of the shifted sums.
TEST_P(BlockedConv, FusedStatisticsOfValuesFarFromZero) {
  const int64_t C = b(), N = 3, pixels = 4 * 5;
  const Graph graph = parseTestGraph(fmt::format(R"(graph @stats {{
  %x = input : f32[{3},{0},6,7]
  %w = param : f32[{0},{0},3,3]
  %xb = relayout %x {{layout={1}}} : f32[{3},{0},6,7]<{1}>
  %wb = relayout %w {{layout={2}}} : f32[{0},{0},3,3]<{2}>
  %y = conv2d %xb, %wb {{pads=[0,0,0,0], stats=ys, strides=[1,1], tile=[1,5,{0},2,1]}} : f32[{3},{0},4,5]<{1}>
  %ys = batch_norm_stats %y : f32[2,{0}]
  %yp = relayout %y {{layout=plain}} : f32[{3},{0},4,5]
  return %yp, %ys
}}
)", C, image(), filter(), N));
  std::mt19937_64 rng(1);
  std::uniform_real_distribution<float> around(999.0f, 1001.0f);
  Bindings<float> bindings;
  for (const char* name : {"x", "w"}) {
    Tensor t(graph.node(*graph.lookup(name)).type.dims);
    for (float& v : t.data) v = around(rng);
    bindings[name] = std::move(t);
  }
  Expected<std::unique_ptr<Executable>> jit = jitBackend(target_)(graph);
  ASSERT_TRUE(jit) << jit.error().message;
  ASSERT_TRUE(bindAll(**jit, bindings));
  Expected<std::vector<Tensor>> outputs = (*jit)->run();
  ASSERT_TRUE(outputs) << outputs.error().message;
  const Tensor &y = (*outputs)[0], &stats = (*outputs)[1];
  for (int64_t c = 0; c < C; ++c) {
    double sum = 0, squares = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t p = 0; p < pixels; ++p) sum += y.data[static_cast<size_t>((n * C + c) * pixels + p)];
    const double mean = sum / static_cast<double>(N * pixels);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t p = 0; p < pixels; ++p) {
        const double d = y.data[static_cast<size_t>((n * C + c) * pixels + p)] - mean;
        squares += d * d;
      }
    const double variance = squares / static_cast<double>(N * pixels);
    EXPECT_NEAR(stats.data[static_cast<size_t>(c)], mean, 1e-6 * mean) << "channel " << c;
    EXPECT_NEAR(stats.data[static_cast<size_t>(C + c)], variance, 1e-3 * variance) << "channel " << c;
  }
}

// Register blocks of every kind in an output of 7 rows and 23 columns, two
// of each border rows and columns: runs of the whole row, border runs and
// interior loops of two lengths (5: 5 5 5 4 4), runs of border columns only
// (2), single columns; blocks of one row, of two and three (their sets of
// rows reading inside differ at the borders) and a row left over; of one
// filter block and of two, whose longer runs hold one tap's filter vectors
// at a time (holdsOneTap: AVX2's 6 and 13 columns, AVX-512's 13).
TEST_P(BlockedConv, RegisterBlocksOfEveryShape) {
  const Graph graph = graphOf(b(), 5, 23, 2 * b(), 3, 3, 1, {2, 2, 2, 2}, true);
  for (const auto& [filterBlocks, run, blockRows] :
       std::vector<std::tuple<int64_t, int64_t, int64_t>>{{1, 23, 1}, {1, 5, 2}, {1, 2, 3}, {1, 1, 2}, {2, 6, 1}, {2, 13, 1}})
    expectTiledAgreement(graph, {fmt::format("y={},{},{},7,{}", filterBlocks, run, b(), blockRows)});
}

// choose-tiles' register blocks fit the target's registers (accumulators,
// the filter vectors of every tap or of one at a time (holdsOneTap), the
// broadcast input and a spare), and where one row beside every tap's
// filter vectors leaves too few accumulators to hide the FMA latency, stack
// rows or hold one tap's: a 6x6 output whose border columns read one or
// two taps of three (the seed model's max_pool2d_3.grad), not a 30-wide
// one, whose register blocks take one row.
TEST_P(BlockedConvSchedules, DefaultRegisterBlocksFitAndStackRowsOfNarrowImages) {
  const std::vector<std::tuple<int64_t, int64_t, bool>> cases = {{4, 2, true}, {32, 0, false}};
  for (const auto& [width, pads, narrow] : cases) {
    const Graph graph = graphOf(4 * b(), width, width, 4 * b(), 3, 3, 1, {pads, pads, pads, pads}, true);
    const ForwardTile tile = forwardTile(graph, graph.node(*graph.lookup("y")), target_);
    SCOPED_TRACE(fmt::format("width {}, tile [{},{},{},{},{}]", width, tile.filterBlocks, tile.run, tile.channelChunk,
                             tile.rows, tile.blockRows));
    const int64_t accumulators = tile.filterBlocks * tile.blockRows * tile.run;
    const bool oneTap = holdsOneTap(tile.filterBlocks, tile.blockRows, tile.run, 3, target_);
    EXPECT_LE(accumulators + tile.filterBlocks * (oneTap ? 1 : 3) + 2, target_.vectorRegisters);
    if (narrow)
      EXPECT_TRUE(tile.blockRows > 1 || oneTap);
    else
      EXPECT_EQ(tile.blockRows, 1);
  }
}

// choose-tiles' register blocks hold one tap's filter vectors at a time
// only in one row, of several filter blocks (each broadcast input feeding
// as many FMAs), and from a channel-blocked input: stacked rows, single
// filter blocks and the 3 channels of a first layer ran slower so.
TEST_P(BlockedConvSchedules, OneTapRegisterBlocksTakeOneRowOfSeveralFilterBlocks) {
  for (int64_t width : {6, 13, 32})
    for (bool blocked : {true, false}) {
      const Graph graph = graphOf(blocked ? 2 * b() : 3, width, width, 2 * b(), 3, 3, 1, {1, 1, 1, 1}, blocked);
      const ForwardTile tile = forwardTile(graph, graph.node(*graph.lookup("y")), target_);
      SCOPED_TRACE(fmt::format("width {}, {} input, tile [{},{},{},{},{}]", width, blocked ? "blocked" : "plain",
                               tile.filterBlocks, tile.run, tile.channelChunk, tile.rows, tile.blockRows));
      if (!holdsOneTap(tile.filterBlocks, tile.blockRows, tile.run, 3, target_)) continue;
      EXPECT_EQ(tile.blockRows, 1);
      EXPECT_GT(tile.filterBlocks, 1);
      EXPECT_TRUE(blocked);
    }
}

// choose-tiles' filter-gradient register blocks fit the target's registers:
// sliding, the accumulators and the lags of FB gradient vectors; sweeping,
// the accumulators beside the FB gradient vectors of an output position and
// the broadcast input. AVX2's 16 registers spilled 4 x 1 x 3 accumulators
// (ResNet's block2_conv1.weight.grad, stride 2, ran at a third of the FMA
// peak). Strides 1 and 2, blocked and plain inputs, 1 to 8 output blocks.
TEST_P(BlockedConvSchedules, DefaultFilterGradientRegisterBlocksFit) {
  for (int64_t stride : {1, 2})
    for (int64_t outputBlocks : {1, 2, 4, 8})
      for (bool blockedInput : {true, false}) {
        const Graph graph =
            graphOf(blockedInput ? 2 * b() : 3, 16, 16, outputBlocks * b(), 3, 3, stride, {1, 1, 1, 1}, blockedInput);
        const FilterGradientTile tile = filterGradientTile(graph, graph.node(*graph.lookup("dw")), target_);
        SCOPED_TRACE(fmt::format("stride {}, {} output blocks, {} input: tile [{},{},{},...]", stride, outputBlocks,
                                 blockedInput ? "blocked" : "plain", tile.filterBlocks, tile.channels, tile.taps));
        const int64_t accumulators = tile.filterBlocks * tile.channels * tile.taps;
        if (filterGradientSlides(tile, stride, target_)) {
          EXPECT_LE(accumulators + tile.filterBlocks * filterGradientLags(tile.taps, stride), target_.accumulatorRegisters());
        } else {
          EXPECT_LE(accumulators + tile.filterBlocks + 1, target_.vectorRegisters);
        }
      }
}

// At a stride of 2, choose-tiles' register blocks take one row (stacked
// rows ran slower, whatever their accumulators) and more accumulators than
// the FMA latency times the FMAs a cycle, 8, as the 16 output columns of
// ResNet's block2_conv1 allow: on AVX2 2 filter blocks x runs of 6 columns
// beside one tap's filter vectors, not 1 x runs of 8 beside every tap's.
TEST_P(BlockedConvSchedules, StridedRegisterBlocksOfOneRowHideTheFmaLatency) {
  const Graph graph = graphOf(b(), 32, 32, 2 * b(), 3, 3, 2, {1, 1, 1, 1}, true);
  const ForwardTile tile = forwardTile(graph, graph.node(*graph.lookup("y")), target_);
  SCOPED_TRACE(fmt::format("tile [{},{},{},{},{}]", tile.filterBlocks, tile.run, tile.channelChunk, tile.rows, tile.blockRows));
  EXPECT_EQ(tile.blockRows, 1);
  for (const RunShape& run : columnRuns(ColumnAxis{16, 32, 3, 2, 1}, tile.run))
    EXPECT_GT(tile.filterBlocks * run.count, 8) << "a run of " << run.count << " columns";
}

// A data gradient's pass over its rows takes the output-gradient channels
// whose filter rows of one row phase fit half of L1: at stride 2 a 3x3
// filter's phases read 2 and 1 of its rows. ResNet's block1_out.grad (32
// output-gradient channels, a 32 KiB L1) so takes all 32 in one pass,
// where the slice of the whole filter would have taken 16 in two, each
// storing its rows for the next to resume.
TEST_P(BlockedConvSchedules, StridedDataGradientsPassOverTheirRowPhasesFilterRows) {
  Target target = target_;
  target.l1Bytes = 32 << 10;
  const Graph graph = graphOf(16, 32, 32, 32, 3, 3, 2, {0, 0, 1, 1}, true);
  const ForwardTile tile = forwardTile(graph, graph.node(*graph.lookup("dx")), target);
  const int64_t channelBytes = tile.filterBlocks * b() * 3 * 4;  // a filter row's, of the register block's channels
  EXPECT_EQ(tile.channelChunk, 32);
  EXPECT_LE(2 * channelBytes * tile.channelChunk, target.l1Bytes / 2);
  EXPECT_GT(3 * channelBytes * tile.channelChunk, target.l1Bytes / 2);
}

// A Winograd kernel's default register block splits a row's blocks of
// outputs into runs of one length where one fits: a shorter last run is a
// second copy of the transforms' code (ResNet's block1, 8 blocks a row, on
// AVX2: runs of 4, not 3, 3 and 2).
TEST_P(BlockedConvSchedules, WinogradRunsSplitRowsEvenly) {
  const Graph graph = graphOf(b(), 32, 32, 2 * b(), 3, 3, 1, {1, 1, 1, 1}, true, 2, kWinograd4x4);
  const ForwardTile tile = forwardTile(graph, graph.node(*graph.lookup("y")), target_);
  EXPECT_EQ(8 % (tile.run / 4), 0) << "tile [" << tile.filterBlocks << "," << tile.run << ",...," << tile.blockRows << "]";
}

// A Winograd register block loads its filter vectors from L2, so it holds
// at least 4 blocks of outputs, each filter vector feeding 4 FMAs, where
// the registers allow: ResNet's block2 (32 channels, 16x16) on AVX2 as 2
// filter blocks x 4 blocks, not 4 x 2.
TEST_P(BlockedConvSchedules, WinogradRegisterBlocksReuseFilterVectors) {
  const Graph graph = graphOf(4 * b(), 16, 16, 4 * b(), 3, 3, 1, {1, 1, 1, 1}, true, 2, kWinograd4x4);
  const ForwardTile tile = forwardTile(graph, graph.node(*graph.lookup("y")), target_);
  EXPECT_GE(tile.run / 4 * (tile.blockRows / 4), 4) << "tile [" << tile.filterBlocks << "," << tile.run << ",...]";
}

// A Winograd task takes the most groups of its register block's filter
// blocks whose transformed filter, of a pass's channels, fits three
// quarters of L2 beside the register block's inputs, and transforms its
// inputs once for them all: all the output's blocks with 2 MiB of L2, and
// with 256 KiB those that fit, of 64 output channels at 8x8.
TEST_P(BlockedConvSchedules, WinogradTasksShareInputsAmongGroupsThatFitL2) {
  const Graph graph = graphOf(64, 8, 8, 64, 3, 3, 1, {1, 1, 1, 1}, true, 2, kWinograd4x4);
  const Node& y = graph.node(*graph.lookup("y"));
  for (const int64_t l2 : {int64_t{2} << 20, int64_t{256} << 10}) {
    Target target = target_;
    target.l2Bytes = l2;
    const ForwardTile tile = forwardTile(graph, y, target);
    const int64_t taskBlocks = forwardTaskBlocks(graph, y, tile, target), blocks = tile.run / 4 * (tile.blockRows / 4);
    auto filterBytes = [&](int64_t filterBlocks) { return (filterBlocks * b() + blocks) * 36 * 4 * tile.channelChunk; };
    SCOPED_TRACE(fmt::format("L2 {} KiB, {} task blocks of {} filter blocks", l2 >> 10, taskBlocks, tile.filterBlocks));
    EXPECT_EQ(taskBlocks % tile.filterBlocks, 0);
    EXPECT_EQ((64 / b()) % taskBlocks, 0);
    if (l2 == int64_t{2} << 20) {
      EXPECT_EQ(taskBlocks, 64 / b());
    }
    if (taskBlocks > tile.filterBlocks) {
      EXPECT_LE(filterBytes(taskBlocks), l2 * 3 / 4);
    }
    if (taskBlocks < 64 / b()) {  // the next group count (a power of two here) would not fit
      EXPECT_GT(filterBytes(2 * taskBlocks), l2 * 3 / 4);
    }
  }
}

// A plain input's filter gradient (a first layer's, ResNet's stem shape
// here) sweeps bands of at most 4 KiB of output gradients, whose first
// register block the hardware's prefetchers keep up with; a blocked
// input's bands fill half of L1 instead (defaultFilterGradientTile).
TEST_P(BlockedConvSchedules, PlainInputFilterGradientsInShortBands) {
  auto bandBytes = [&](bool blockedInput) {
    const Graph graph = graphOf(blockedInput ? b() : 3, 32, 32, 2 * b(), 3, 3, 1, {1, 1, 1, 1}, blockedInput);
    const FilterGradientTile tile = filterGradientTile(graph, graph.node(*graph.lookup("dw")), target_);
    EXPECT_GE(tile.rows, 1);
    return tile.rows * tile.filterBlocks * b() * 32 * 4;
  };
  EXPECT_LE(bandBytes(false), 4096);
  EXPECT_GT(bandBytes(true), 4096);
}

// A Winograd filter gradient's default bands (of 1 MiB of L2 here): whole
// images where several fit an eighth of L2 (8x8), and where fewer do, still
// enough for 16 blocks if they fit half of it; one whole image where it
// fits half of it (32x32: ResNet's block1 at F(3x3, 4x4)), or three
// quarters (the same in an L2 of 32 KiB per lane of a vector: 256 KiB on
// AVX2, 512 KiB on AVX-512, a Zen 3's), rather than a few of its rows; rows
// of one image in whole blocks where it does not, in bands of equal rows
// where a band size allows (96x96: 3 bands of 32 rows on AVX2, 6 of 16 on
// AVX-512; not 36 rows and 16 or 20 and 16).
TEST_P(BlockedConvSchedules, WinogradFilterGradientBands) {
  Target target = target_;
  target.l2Bytes = 1 << 20;
  auto rowsIn = [&](const Target& machine, int64_t size) {
    const Graph graph = winogradFilterGradient(b(), size, size, b(), {1, 1, 1, 1}, 8, false, kWinograd4x4);
    return filterGradientTile(graph, graph.node(*graph.lookup("dw")), machine).rows;
  };
  auto rows = [&](int64_t size) { return rowsIn(target, size); };
  EXPECT_GT(rows(8), 8);
  EXPECT_EQ(rows(8) % 8, 0);
  EXPECT_EQ(rows(32), 32);
  Target smallerL2 = target;
  smallerL2.l2Bytes = b() * (32 << 10);
  EXPECT_EQ(rowsIn(smallerL2, 32), 32);
  EXPECT_LT(rows(96), 96);
  EXPECT_EQ(rows(96) % 4, 0);
  EXPECT_EQ(96 % rows(96), 0) << rows(96);
  // However large L2, a band's transforms fit a thread's stack: the tiles
  // choose-tiles writes pass checkTile.
  Target largeL2 = target;
  largeL2.l2Bytes = 64 << 20;
  for (int64_t size : {32, 96}) {
    Graph graph = winogradFilterGradient(b(), size, size, b(), {1, 1, 1, 1}, 8, false, kWinograd4x4);
    ASSERT_TRUE(chooseTiles(graph, PassContext{largeL2}));
    const Node& dw = graph.node(*graph.lookup("dw"));
    const Status fits = checkTile(graph, dw, *getInts(dw.attrs, "tile"));
    EXPECT_TRUE(fits) << size << ": " << fits.error().message;
  }
  // Images of 4 blocks whose transforms fill an eighth of L2 alone (64
  // channels on AVX-512): bands of 4 images, 16 blocks (kMinBandBlocks).
  const Graph wide = winogradFilterGradient(4 * b(), 8, 8, 4 * b(), {1, 1, 1, 1}, 8, false, kWinograd4x4);
  EXPECT_EQ(filterGradientTile(wide, wide.node(*wide.lookup("dw")), target).rows, 32);
}

// A Winograd filter gradient keeps a band's transforms on the stack:
// select-winograd leaves layers whose one row of blocks would take more
// than kMaxWinogradBandBytes (224 columns of 256 channels: 3.5 MiB), and
// tiles whose bands would are refused; so are forward Winograd tiles whose
// register block's transforms would.
TEST_P(BlockedConvSchedules, WinogradTransformsFitTheStack) {
  auto selected = [&](int64_t channels, int64_t width) {
    Graph graph = parseTestGraph(fmt::format(R"(graph @g {{
  %x = input : f32[32,{C},16,{W}]<{image}>
  %dy = input : f32[32,{C},16,{W}]<{image}>
  %dw = conv2d_bwd_filter %x, %dy {{kernel=[3,3], pads=[1,1,1,1], strides=[1,1]}} : f32[{C},{C},3,3]<{filter}>
  return %dw
}}
)", fmt::arg("C", channels), fmt::arg("W", width), fmt::arg("image", image()), fmt::arg("filter", filter())));
    EXPECT_TRUE(selectWinograd(graph, PassContext{target_}));
    return graph.node(*graph.lookup("dw")).attrs.contains("algorithm");
  };
  EXPECT_TRUE(selected(256, 8));
  EXPECT_FALSE(selected(256, 224));
  const Graph graph = winogradFilterGradient(2 * b(), 6, 8, 4 * b(), {1, 1, 1, 1}, 5, true);
  Expected<Graph> tiled = overrideTiles(graph, {fmt::format("dw=1,1,1,{},384,1", 2 * b())});
  ASSERT_FALSE(tiled);
  EXPECT_NE(tiled.error().message.find("KiB of stack, more than 1024 KiB: fewer rows or task channels"), std::string::npos)
      << tiled.error().message;
  const Graph forward = graphOf(4 * b(), 8, 10, 2 * b(), 3, 3, 1, {1, 1, 1, 1}, true, 3, kWinograd);
  Expected<Graph> wide = overrideTiles(forward, {fmt::format("y=1,64,{},8,64", 4 * b())});
  ASSERT_FALSE(wide);
  EXPECT_NE(wide.error().message.find("KiB of stack, more than 1024 KiB: fewer columns, block rows or channels"),
            std::string::npos)
      << wide.error().message;
}

// select-winograd's choice of kernel for a conv2d (same padding) and its
// filter gradient: F(4x4, 3x3) on images of 4 blocks of 4x4 outputs or
// more, one output-channel block or more; F(2x2, 3x3) on smaller images,
// from two output-channel blocks; none on one block of them, nor below a
// batch of 32. A filter gradient takes blocks of 2x2 where a part of the
// batch (of 8) would have fewer than 64 blocks of 4x4 (batch 32, 8x8).
TEST_P(BlockedConvSchedules, SelectWinogradPicksTheBlocks) {
  auto selected = [&](int64_t batch, int64_t size, int64_t filters, const char* name) {
    Graph graph = parseTestGraph(fmt::format(R"(graph @g {{
  %x = input : f32[{N},{C},{S},{S}]<{image}>
  %w = param : f32[{F},{C},3,3]<{filter}>
  %dy = input : f32[{N},{F},{S},{S}]<{image}>
  %y = conv2d %x, %w {{pads=[1,1,1,1], strides=[1,1]}} : f32[{N},{F},{S},{S}]<{image}>
  %dw = conv2d_bwd_filter %x, %dy {{kernel=[3,3], pads=[1,1,1,1], strides=[1,1]}} : f32[{F},{C},3,3]<{filter}>
  return %y, %dw
}}
)", fmt::arg("N", batch), fmt::arg("C", b()), fmt::arg("S", size), fmt::arg("F", filters), fmt::arg("image", image()),
                                             fmt::arg("filter", filter())));
    EXPECT_TRUE(selectWinograd(graph, PassContext{target_}));
    return getSymbol(graph.node(*graph.lookup(name)).attrs, "algorithm").value_or("direct");
  };
  EXPECT_EQ(selected(32, 8, b(), "y"), kWinograd4x4);
  EXPECT_EQ(selected(32, 13, 2 * b(), "y"), kWinograd4x4);
  EXPECT_EQ(selected(32, 4, 2 * b(), "y"), kWinograd);
  EXPECT_EQ(selected(32, 4, b(), "y"), "direct");
  EXPECT_EQ(selected(16, 8, b(), "y"), "direct");
  EXPECT_EQ(selected(128, 8, b(), "dw"), kWinograd4x4);
  EXPECT_EQ(selected(32, 8, 2 * b(), "dw"), kWinograd);
  EXPECT_EQ(selected(32, 8, b(), "dw"), "direct");
}

TEST_P(BlockedConvSchedules, IllegalTilesAreRefusedWithTheReason) {
  const Graph graph = graphOf(2 * b(), 6, 6, 2 * b(), 3, 3, 1, {0, 0, 0, 0}, true);
  auto message = [&](const std::string& tile) {
    Expected<Graph> tiled = overrideTiles(graph, {tile});
    return tiled ? std::string("accepted") : tiled.error().message;
  };
  EXPECT_EQ(message("y=3,4,16,1,1"), fmt::format("tile [3,4,16,1,1] of conv2d %y: filter blocks must divide the 2 output blocks"));
  EXPECT_EQ(message("y=1,4,3,1,1"), fmt::format("tile [1,4,3,1,1] of conv2d %y: the channel chunk must divide the {} input "
                                             "channels in whole blocks of {}", 2 * b(), b()));
  EXPECT_EQ(message("y=1,4"), "tile [1,4] of conv2d %y: expected [filter blocks, columns, channel chunk, rows, block rows]");
  EXPECT_EQ(message("dw=1,0,1,1,1,1"), "tile [1,0,1,1,1,1] of conv2d_bwd_filter %dw: every entry must be positive");
  EXPECT_EQ(message("dw=1,1,2,1,1,1"), "tile [1,1,2,1,1,1] of conv2d_bwd_filter %dw: taps must divide the filter's 3 columns");
  EXPECT_EQ(message("dw=1,2,1,3,1,1"), fmt::format("tile [1,2,1,3,1,1] of conv2d_bwd_filter %dw: task channels must be a "
                                                   "multiple of the channels and divide the {} input channels", 2 * b()));
  EXPECT_EQ(message("dw=1,1,1,1,1,3"), "tile [1,1,1,1,1,3] of conv2d_bwd_filter %dw: parts must not exceed the batch of 2");
  EXPECT_EQ(message("dw=1,1,1"), "tile [1,1,1] of conv2d_bwd_filter %dw: expected [filter blocks, channels, taps, task "
                                 "channels, rows, parts]");
  EXPECT_EQ(message("yp=1,1"), "%yp (relayout) takes no tile: only blocked conv2d, conv2d_bwd_data and conv2d_bwd_filter do");
  EXPECT_EQ(message("nope=1"), "--tile nope=1: the graph has no value %nope");
  EXPECT_EQ(message("y=1,x"), "--tile y=1,x: expected integers separated by commas after '='");
}

// Poolings fused into the convolutions that feed them (ir/fused_pooling.h),
// each task pooling the rows it wrote: 2x2 max and 3x3 average pooling of
// 7 rows (the last rows in no window), with tasks of whole windows, and of
// all the rows; a Winograd kernel's 2x2 max pooling alike (its last task of
// 2 rows holds one); a tile whose tasks would split a window is refused.
TEST_P(BlockedConv, FusedPoolingComputesTheSame) {
  const Graph graph = parseTestGraph(fmt::format(R"(graph @g {{
  %x = input : f32[2,{C},9,10]
  %w = param : f32[{F},{C},3,3]
  %bias = param : f32[{F}]
  %xb = relayout %x {{layout={image}}} : f32[2,{C},9,10]<{image}>
  %wb = relayout %w {{layout={filter}}} : f32[{F},{C},3,3]<{filter}>
  %y = conv2d %xb, %wb, %bias {{activation=relu, fused=y.pre, pads=[0,0,0,0], pool=p, strides=[1,1]}} : f32[2,{F},7,8]<{image}>
  %p = max_pool2d %y {{pads=[0,0,0,0], strides=[2,2], window=[2,2]}} : f32[2,{F},3,4]<{image}>
  %z = conv2d %xb, %wb {{pads=[0,0,0,0], pool=q, strides=[1,1]}} : f32[2,{F},7,8]<{image}>
  %q = avg_pool2d %z {{pads=[0,0,0,0], strides=[3,3], window=[3,3]}} : f32[2,{F},2,2]<{image}>
  %v = conv2d %xb, %wb, %bias {{activation=relu, algorithm=winograd, fused=v.pre, pads=[0,0,0,0], pool=r, strides=[1,1]}} : f32[2,{F},7,8]<{image}>
  %r = max_pool2d %v {{pads=[0,0,0,0], strides=[2,2], window=[2,2]}} : f32[2,{F},3,4]<{image}>
  %pp = relayout %p {{layout=plain}} : f32[2,{F},3,4]
  %qp = relayout %q {{layout=plain}} : f32[2,{F},2,2]
  %rp = relayout %r {{layout=plain}} : f32[2,{F},3,4]
  %yp = relayout %y {{layout=plain}} : f32[2,{F},7,8]
  %vp = relayout %v {{layout=plain}} : f32[2,{F},7,8]
  return %pp, %qp, %rp, %yp, %vp
}}
)", fmt::arg("C", b()), fmt::arg("F", 2 * b()), fmt::arg("image", image()), fmt::arg("filter", filter())));
  for (const auto& [yRows, zRows] : std::vector<std::pair<int64_t, int64_t>>{{2, 3}, {4, 6}, {7, 7}})
    expectTiledAgreement(graph, {fmt::format("y=1,8,{},{},1", b(), yRows), fmt::format("z=2,4,{},{},1", b(), zRows),
                                 fmt::format("v=2,4,{},{},2", b(), yRows)});
  Expected<Graph> split = overrideTiles(graph, {fmt::format("y=1,8,{},3,1", b())});
  ASSERT_FALSE(split);
  EXPECT_EQ(split.error().message, "tile of conv2d %y: its 3 rows per task must be a multiple of 2, the stride of the "
                                   "pooling %p fused into it, or all 7 rows");
}

TEST_P(BlockedConv, BackwardDataIsAConvolutionWithTheTransposedFilter) {
  // dx of a valid 3x3 conv = conv of dy padded by 2 with the flipped filter.
  const std::vector<Tensor> outputs = expectAgreement(parseTestGraph(fmt::format(R"(graph @g {{
  %w = param : f32[{0},{1},3,3]
  %dy = input : f32[2,{0},5,6]
  %dyb = relayout %dy {{layout=NCHW{2}c}} : f32[2,{0},5,6]<NCHW{2}c>
  %wt = filter_transpose %w {{layout=OIhw{2}o}} : f32[{1},{0},3,3]<OIhw{2}o>
  %dx = conv2d %dyb, %wt {{pads=[2,2,2,2], strides=[1,1]}} : f32[2,{1},7,8]<NCHW{2}c>
  %dxp = relayout %dx {{layout=plain}} : f32[2,{1},7,8]
  %want = conv2d_bwd_data %dy, %w {{input_hw=[7,8], pads=[0,0,0,0], strides=[1,1]}} : f32[2,{1},7,8]
  return %dxp, %want
}}
)", 2 * b(), b(), b())));
  ASSERT_EQ(outputs.size(), 2u);
  expectClose(outputs[0], outputs[1], "conv2d with the transposed filter against conv2d_bwd_data");
}

// The backward-data kernel (every test above with a blocked input checks it
// too) at strides of 2 and 3: both phases of 'same' padding on odd sizes,
// the bottom-right 'same' of stride 2 on even ones, a filter narrower than
// the stride (a column phase that no tap reaches), a wide image of many
// runs; at stride 1, pads beyond the filter, whose gradient is no
// convolution; and an output gradient that stays plain.
TEST_P(BlockedConv, StridedSamePaddingOddImage) { check(2 * b(), 9, 11, b(), 3, 3, 2, {1, 1, 1, 1}, true); }
TEST_P(BlockedConv, StridedSamePaddingBottomRight) { check(b(), 8, 10, 2 * b(), 3, 3, 2, {0, 0, 1, 1}, true); }
TEST_P(BlockedConv, StrideThreeWiderThanTheFilter) { check(b(), 10, 13, b(), 2, 2, 3, {0, 1, 1, 0}, true); }
TEST_P(BlockedConv, StrideThreeWideImage) { check(b(), 7, 40, 2 * b(), 5, 5, 3, {2, 2, 2, 2}, true); }
TEST_P(BlockedConv, BackwardDataWithPadsBeyondTheFilter) { check(b(), 5, 6, b(), 1, 2, 1, {1, 2, 1, 2}, true); }

TEST_P(BlockedConv, BackwardDataFromAPlainGradient) {
  // 12 channels fill no block.
  const std::vector<Tensor> outputs = expectAgreement(parseTestGraph(fmt::format(R"(graph @g {{
  %w = param : f32[12,{0},3,3]
  %dy = input : f32[2,12,4,5]
  %wc = relayout %w {{layout=NCHW{0}c}} : f32[12,{0},3,3]<NCHW{0}c>
  %dx = conv2d_bwd_data %dy, %wc {{input_hw=[8,9], pads=[1,1,1,1], strides=[2,2]}} : f32[2,{0},8,9]<NCHW{0}c>
  %dxp = relayout %dx {{layout=plain}} : f32[2,{0},8,9]
  return %dxp
}}
)", b())));
  EXPECT_EQ(outputs.size(), 1u);
}

// Backward-data tiles at strides 1 and 2: one column or channel block,
// chunks of the output gradient's channels that resume from partial sums,
// one row per task, four blocks of few columns, and of five, which hold one
// tap's filter vectors at a time (holdsOneTap).
TEST_P(BlockedConv, EveryBackwardDataTileComputesTheSame) {
  for (int64_t stride : {1, 2}) {
    const Graph graph = graphOf(4 * b(), 7, 9, 2 * b(), 3, 3, stride, {1, 1, 1, 1}, true);
    for (const std::string& tile : {fmt::format("dx=1,1,{},1,1", b()), fmt::format("dx=2,3,{},2,1", 2 * b()),
                                    fmt::format("dx=4,2,{},7,1", b()), fmt::format("dx=1,5,{},4,1", 2 * b()),
                                    fmt::format("dx=4,5,{},7,1", b())}) {
      SCOPED_TRACE(fmt::format("stride {}", stride));
      expectTiledAgreement(graph, {tile});
    }
  }
}

TEST_P(BlockedConvSchedules, IllegalBackwardDataTilesAreRefusedWithTheReason) {
  const Graph graph = graphOf(2 * b(), 6, 6, 2 * b(), 3, 3, 2, {0, 0, 1, 1}, true);
  auto message = [&](const std::string& tile) {
    Expected<Graph> tiled = overrideTiles(graph, {tile});
    return tiled ? std::string("accepted") : tiled.error().message;
  };
  EXPECT_EQ(message("dx=1,4,3,1,1"), fmt::format("tile [1,4,3,1,1] of conv2d_bwd_data %dx: the channel chunk must divide "
                                                "the {} output-gradient channels in whole blocks of {}", 2 * b(), b()));
  EXPECT_EQ(message("dx=4,4,16,1,1"), "tile [4,4,16,1,1] of conv2d_bwd_data %dx: filter blocks must divide the 2 output blocks");
  EXPECT_EQ(message(fmt::format("dx=1,4,{},2,2", b())),
            fmt::format("tile [1,4,{},2,2] of conv2d_bwd_data %dx: block rows must be 1: the backward-data kernel blocks "
                        "one row", b()));
}

CNNC_TARGET_TESTS(BlockedConv);
CNNC_TARGET_TESTS(BlockedConvSchedules);

}  // namespace
}  // namespace cnnc

// Blocked layouts: what they mean element by element, which ops accept
// which layouts, and generated code that moves values between layouts and
// computes in them, against the reference executor (which sees values only
// logically).
#include <algorithm>
#include <numeric>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "ir/layout.h"
#include "ir/shape_inference.h"
#include "tests/graph_agreement.h"

namespace cnnc {
namespace {

TEST(Layout, BlocksTheChannelsOfImagesAndTheOutputChannelsOfFilters) {
  // x[n=1, c=17, h=1, w=2] of [2,32,3,4] in NCHW16c: block 1 of image 1, lane 1.
  const TensorType image{DType::F32, {2, 32, 3, 4}, Layout::NCHW16c};
  const int64_t logical = ((1 * 32 + 17) * 3 + 1) * 4 + 2;
  EXPECT_EQ(physicalIndex(image, logical), ((((1 * 2 + 1) * 3 + 1) * 4 + 2) * 16) + 1);
  // w[f=9, c=2, i=0, j=1] of [16,3,1,2] in OIhw8o: block 1, lane 1.
  const TensorType filter{DType::F32, {16, 3, 1, 2}, Layout::OIhw8o};
  EXPECT_EQ(physicalIndex(filter, ((9 * 3 + 2) * 1 + 0) * 2 + 1), (((1 * 3 + 2) * 1 + 0) * 2 + 1) * 8 + 1);
}

TEST(Layout, ConversionsArePermutationsThatRoundTrip) {
  for (Layout layout : {Layout::NCHW8c, Layout::NCHW16c, Layout::OIhw8o, Layout::OIhw16o}) {
    const TensorType type{DType::F32, {16, 16, 3, 5}, layout};
    std::vector<float> logical(16 * 16 * 3 * 5), physical(logical.size()), back(logical.size());
    std::iota(logical.begin(), logical.end(), 0.0f);
    toPhysical(type, logical, physical);
    std::vector<float> sorted = physical;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(sorted, logical) << layoutName(layout);
    EXPECT_NE(physical, logical) << layoutName(layout);
    toLogical(type, physical, back);
    EXPECT_EQ(back, logical) << layoutName(layout);
  }
}

TEST(Layout, OnlyFitsWhenTheBlockedAxisDividesByTheBlock) {
  EXPECT_TRUE(layoutFits(Layout::NCHW16c, {1, 32, 5, 5}));
  EXPECT_FALSE(layoutFits(Layout::NCHW16c, {1, 24, 5, 5}));
  EXPECT_TRUE(layoutFits(Layout::NCHW8c, {1, 24, 5, 5}));
  EXPECT_FALSE(layoutFits(Layout::NCHW8c, {24, 5}));
  EXPECT_TRUE(layoutFits(Layout::OIhw16o, {32, 3, 3, 3}));
  EXPECT_FALSE(layoutFits(Layout::OIhw16o, {24, 32, 3, 3}));
}

TensorType f32(std::vector<int64_t> dims, Layout layout = Layout::Plain) {
  return {DType::F32, std::move(dims), layout};
}

TEST(Layout, ElementwiseOpsKeepTheLayoutTheirOperandsShare) {
  Expected<TensorType> y = inferType(Op::Relu, {f32({2, 16, 4, 4}, Layout::NCHW16c)}, {});
  ASSERT_TRUE(y) << y.error().message;
  EXPECT_EQ(y->layout, Layout::NCHW16c);
  Expected<TensorType> mixed =
      inferType(Op::Add, {f32({2, 16, 4, 4}, Layout::NCHW16c), f32({2, 16, 4, 4}, Layout::NCHW8c)}, {});
  ASSERT_FALSE(mixed);
  EXPECT_EQ(mixed.error().message, "add does not take operands in layouts (NCHW16c, NCHW8c)");
  // Per-channel results of a blocked image are plain.
  Expected<TensorType> bias = inferType(Op::BiasGrad, {f32({2, 16, 4, 4}, Layout::NCHW16c)}, {});
  ASSERT_TRUE(bias) << bias.error().message;
  EXPECT_EQ(bias->layout, Layout::Plain);
}

TEST(Layout, ABlockedFilterMakesABlockedConvolution) {
  const AttributeMap window{{"strides", IntList{1, 1}}, {"pads", IntList{0, 0, 0, 0}}};
  Expected<TensorType> first = inferType(Op::Conv2D, {f32({2, 3, 8, 8}), f32({32, 3, 3, 3}, Layout::OIhw16o)}, window);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(toString(*first), "f32[2,32,6,6]<NCHW16c>");
  Expected<TensorType> wrongInput =
      inferType(Op::Conv2D, {f32({2, 16, 8, 8}, Layout::NCHW8c), f32({32, 16, 3, 3}, Layout::OIhw16o)}, window);
  ASSERT_FALSE(wrongInput);
  EXPECT_EQ(wrongInput.error().message, "conv2d does not take operands in layouts (NCHW8c, OIhw16o)");
  Expected<TensorType> gradient =
      inferType(Op::Conv2DBackwardFilter, {f32({2, 16, 8, 8}, Layout::NCHW16c), f32({2, 32, 6, 6}, Layout::NCHW16c)},
                {{"strides", IntList{1, 1}}, {"pads", IntList{0, 0, 0, 0}}, {"kernel", IntList{3, 3}}});
  ASSERT_TRUE(gradient) << gradient.error().message;
  EXPECT_EQ(gradient->layout, Layout::OIhw16o);
}

TEST(Layout, OpsWithoutLayoutRulesTakePlainOperandsOnly) {
  Expected<TensorType> flat = inferType(Op::Flatten, {f32({2, 16, 4, 4}, Layout::NCHW16c)}, {});
  ASSERT_FALSE(flat);
  EXPECT_EQ(flat.error().message, "flatten does not take operands in layouts (NCHW16c)");
  Expected<TensorType> relayout = inferType(Op::Relayout, {f32({2, 24, 4, 4})}, {{"layout", Symbol{"NCHW16c"}}});
  ASSERT_FALSE(relayout);
  EXPECT_EQ(relayout.error().message, "relayout result [2,24,4,4] does not fit layout NCHW16c");
}

class LayoutCodegen : public TargetTest {};

TEST_P(LayoutCodegen, RelayoutsAndElementwiseKernelsInBlockedLayouts) {
  const std::string block = target_.vectorWidth == 16 ? "16" : "8";
  expectAgreement(parseTestGraph(fmt::format(R"(graph @g {{
  %x = input : f32[2,32,3,5]
  %y = input : f32[2,32,3,5]
  %xb = relayout %x {{layout=NCHW{0}c}} : f32[2,32,3,5]<NCHW{0}c>
  %yb = relayout %y {{layout=NCHW{0}c}} : f32[2,32,3,5]<NCHW{0}c>
  %s = add %xb, %yb : f32[2,32,3,5]<NCHW{0}c>
  %r = relu %s : f32[2,32,3,5]<NCHW{0}c>
  %out = relayout %r {{layout=plain}} : f32[2,32,3,5]
  return %out, %r
}}
)", block)));
}

CNNC_TARGET_TESTS(LayoutCodegen);

}  // namespace
}  // namespace cnnc

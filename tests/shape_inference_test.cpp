// Shape inference of every op against shapes computed by hand: strides,
// asymmetric padding, pooling floors, concat channel sums, and the errors
// that guard each op's contract, fused activations included.
#include <gtest/gtest.h>

#include "ir/shape_inference.h"

namespace cnnc {
namespace {

TensorType f32(std::vector<int64_t> dims) { return TensorType{DType::F32, std::move(dims)}; }

AttributeMap window2d(IntList strides, IntList pads) {
  return {{"strides", std::move(strides)}, {"pads", std::move(pads)}};
}

AttributeMap pool(IntList window, IntList strides, IntList pads) {
  AttributeMap attrs = window2d(std::move(strides), std::move(pads));
  attrs["window"] = std::move(window);
  return attrs;
}

std::vector<int64_t> inferDims(Op op, std::vector<TensorType> operands, const AttributeMap& attrs = {}) {
  Expected<TensorType> type = inferType(op, operands, attrs);
  EXPECT_TRUE(type) << (type ? "" : type.error().message);
  return type ? type->dims : std::vector<int64_t>{};
}

std::string inferError(Op op, std::vector<TensorType> operands, const AttributeMap& attrs = {}) {
  Expected<TensorType> type = inferType(op, operands, attrs);
  return type ? "no error" : type.error().message;
}

TEST(ShapeInference, Conv2DValidStride1) {
  // 32 - 3 + 1 = 30
  EXPECT_EQ(inferDims(Op::Conv2D, {f32({8, 3, 32, 32}), f32({32, 3, 3, 3}), f32({32})},
                      window2d({1, 1}, {0, 0, 0, 0})),
            (std::vector<int64_t>{8, 32, 30, 30}));
}

TEST(ShapeInference, Conv2DStride2AsymmetricPads) {
  // H: (17 + 0 + 1 - 3) / 2 + 1 = 8; W: (19 + 2 + 2 - 5) / 2 + 1 = 10
  EXPECT_EQ(inferDims(Op::Conv2D, {f32({1, 3, 17, 19}), f32({4, 3, 3, 5})}, window2d({2, 2}, {0, 2, 1, 2})),
            (std::vector<int64_t>{1, 4, 8, 10}));
}

TEST(ShapeInference, Conv2DFloorsTheLastPartialWindow) {
  // (13 - 3) / 3 + 1 = 4 (the window at offset 12 would need rows 12..14)
  EXPECT_EQ(inferDims(Op::Conv2D, {f32({2, 5, 13, 13}), f32({7, 5, 3, 3})}, window2d({3, 3}, {0, 0, 0, 0})),
            (std::vector<int64_t>{2, 7, 4, 4}));
}

TEST(ShapeInference, MaxPoolFloors) {
  // (13 - 2) / 2 + 1 = 6: the last row and column are dropped.
  EXPECT_EQ(inferDims(Op::MaxPool2D, {f32({4, 64, 13, 13})}, pool({2, 2}, {2, 2}, {0, 0, 0, 0})),
            (std::vector<int64_t>{4, 64, 6, 6}));
}

TEST(ShapeInference, AvgPoolOverlappingWithPadding) {
  // (15 + 1 + 1 - 3) / 2 + 1 = 8
  EXPECT_EQ(inferDims(Op::AvgPool2D, {f32({1, 2, 15, 15})}, pool({3, 3}, {2, 2}, {1, 1, 1, 1})),
            (std::vector<int64_t>{1, 2, 8, 8}));
}

TEST(ShapeInference, GlobalAvgPoolFlattenDense) {
  EXPECT_EQ(inferDims(Op::GlobalAvgPool2D, {f32({3, 128, 8, 8})}), (std::vector<int64_t>{3, 128}));
  EXPECT_EQ(inferDims(Op::Flatten, {f32({3, 64, 4, 4})}), (std::vector<int64_t>{3, 1024}));
  EXPECT_EQ(inferDims(Op::Dense, {f32({3, 1024}), f32({64, 1024}), f32({64})}), (std::vector<int64_t>{3, 64}));
  EXPECT_EQ(inferDims(Op::Dense, {f32({3, 64}), f32({10, 64})}), (std::vector<int64_t>{3, 10}));
}

TEST(ShapeInference, ElementwiseAndNormalisation) {
  AttributeMap bn = {{"epsilon", 1e-5}, {"momentum", 0.9}};
  EXPECT_EQ(inferDims(Op::BatchNorm, {f32({2, 16, 5, 5}), f32({16}), f32({16}), f32({16}), f32({16})}, bn),
            (std::vector<int64_t>{2, 16, 5, 5}));
  EXPECT_EQ(inferDims(Op::BatchNorm, {f32({2, 10}), f32({10}), f32({10}), f32({10}), f32({10})}, bn),
            (std::vector<int64_t>{2, 10}));
  EXPECT_EQ(inferDims(Op::Dropout, {f32({2, 10})}, {{"rate", 0.5}}), (std::vector<int64_t>{2, 10}));
  for (Op op : {Op::Relu, Op::Sigmoid, Op::Tanh, Op::Softmax})
    EXPECT_EQ(inferDims(op, {f32({2, 10})}), (std::vector<int64_t>{2, 10})) << mnemonic(op);
  EXPECT_EQ(inferDims(Op::Add, {f32({2, 8, 3, 3}), f32({2, 8, 3, 3}), f32({2, 8, 3, 3})}),
            (std::vector<int64_t>{2, 8, 3, 3}));
}

TEST(ShapeInference, ConcatSumsChannels) {
  EXPECT_EQ(inferDims(Op::Concat, {f32({2, 8, 7, 7}), f32({2, 3, 7, 7}), f32({2, 5, 7, 7})}),
            (std::vector<int64_t>{2, 16, 7, 7}));
}

TEST(ShapeInference, SoftmaxCrossEntropyIsAScalar) {
  EXPECT_EQ(inferDims(Op::SoftmaxCrossEntropy, {f32({5, 10}), TensorType{DType::I32, {5}}}),
            (std::vector<int64_t>{}));
}

TEST(ShapeInference, ContractViolations) {
  EXPECT_EQ(inferError(Op::Conv2D, {f32({1, 3, 8, 8}), f32({4, 2, 3, 3})}, window2d({1, 1}, {0, 0, 0, 0})),
            "conv2d weight [4,2,3,3] expects 2 input channels, input [1,3,8,8] has 3");
  EXPECT_EQ(inferError(Op::Conv2D, {f32({1, 3, 2, 8}), f32({4, 3, 3, 3})}, window2d({1, 1}, {0, 0, 0, 0})),
            "conv2d height: window 3 is larger than the padded input 2");
  EXPECT_EQ(inferError(Op::Conv2D, {f32({1, 3, 8, 8}), f32({4, 3, 3, 3})}, window2d({0, 1}, {0, 0, 0, 0})),
            "conv2d attribute strides must have entries >= 1, got [0,1]");
  EXPECT_EQ(inferError(Op::Conv2D, {f32({1, 3, 8, 8}), f32({4, 3, 3, 3})}, {{"pads", IntList{0, 0, 0, 0}}}),
            "conv2d needs attribute strides as a list of 2 integers");
  EXPECT_EQ(inferError(Op::Conv2D, {f32({1, 3, 8, 8})}), "conv2d takes 2 or 3 operands, got 1");
  EXPECT_EQ(inferError(Op::MaxPool2D, {f32({1, 3, 8, 8})}, pool({2, 2}, {2, 2}, {2, 0, 0, 0})),
            "max_pool2d padding [2,0,0,0] must be smaller than the window [2,2]");
  EXPECT_EQ(inferError(Op::Dense, {f32({2, 3, 4, 4}), f32({10, 48})}),
            "dense input must have rank 2, got f32[2,3,4,4]");
  EXPECT_EQ(inferError(Op::Add, {f32({2, 8}), f32({2, 9})}),
            "add operands must have the same type, got f32[2,8] and f32[2,9]");
  EXPECT_EQ(inferError(Op::Add, {f32({2, 8})}), "add takes at least 2 operands, got 1");
  EXPECT_EQ(inferError(Op::Concat, {f32({2, 8, 7, 7}), f32({2, 3, 6, 7})}),
            "concat operands must agree in all but the channel axis, got [2,8,7,7] and [2,3,6,7]");
  EXPECT_EQ(inferError(Op::Dropout, {f32({2, 8})}, {{"rate", 1.0}}), "dropout attribute rate must be in [0, 1), got 1");
  EXPECT_EQ(inferError(Op::Relu, {f32({2, 8})}, {{"rate", 1.0}}), "relu has no attribute rate");
  EXPECT_EQ(inferError(Op::SoftmaxCrossEntropy, {f32({5, 10}), f32({5})}),
            "softmax_xent labels must be i32[5] or i64[5], got f32[5]");
  EXPECT_EQ(inferError(Op::Input, {}), "input is a leaf: its type is declared, not inferred");
}

// The attributes fuse-activations adds: the activation's name, and the
// absorbed layer, which only makes sense with an activation.
TEST(ShapeInference, FusedActivationAttributes) {
  const std::vector<TensorType> dense = {f32({2, 8}), f32({4, 8})};
  EXPECT_EQ(inferDims(Op::Dense, dense, {{"activation", Symbol{"tanh"}}, {"fused", Symbol{"fc"}}}),
            (std::vector<int64_t>{2, 4}));
  AttributeMap conv = window2d({1, 1}, {0, 0, 0, 0});
  conv["activation"] = Symbol{"sigmoid"};
  EXPECT_EQ(inferDims(Op::Conv2D, {f32({1, 3, 8, 8}), f32({4, 3, 3, 3})}, conv), (std::vector<int64_t>{1, 4, 6, 6}));
  EXPECT_EQ(inferError(Op::Dense, dense, {{"activation", Symbol{"softmax"}}}),
            "dense attribute activation must be relu, sigmoid or tanh, got softmax");
  EXPECT_EQ(inferError(Op::Dense, dense, {{"activation", int64_t{1}}}),
            "dense attribute activation must be relu, sigmoid or tanh, got 1");
  EXPECT_EQ(inferError(Op::Dense, dense, {{"fused", Symbol{"fc"}}}),
            "dense attribute fused needs an activation or activation_gradient attribute");
  EXPECT_EQ(inferError(Op::Dense, dense, {{"activation", Symbol{"relu"}}, {"fused", IntList{1}}}),
            "dense attribute fused must name a layer, got [1]");
  EXPECT_EQ(inferError(Op::Relu, {f32({2, 8})}, {{"activation", Symbol{"relu"}}}), "relu has no attribute activation");
}

// The attribute fuse-activation-gradients adds, with the activation's
// output as an extra last operand of the result's type (but for
// max_pool2d_bwd, whose pooled input is that output).
TEST(ShapeInference, FusedActivationGradientAttributes) {
  const AttributeMap relu = {{"activation_gradient", Symbol{"relu"}}, {"fused", Symbol{"fc.grad"}}};
  const TensorType dy = f32({2, 4}), w = f32({4, 8}), y = f32({2, 8});
  EXPECT_EQ(inferDims(Op::DenseBackwardData, {dy, w, y}, relu), (std::vector<int64_t>{2, 8}));
  AttributeMap conv = window2d({1, 1}, {1, 1, 1, 1});
  conv.insert(relu.begin(), relu.end());
  // conv2d (x, w, y) and (x, w, bias, y): operand 2 is a bias only with four.
  const TensorType x = f32({1, 3, 8, 8}), filter = f32({4, 3, 3, 3}), out = f32({1, 4, 8, 8});
  EXPECT_EQ(inferDims(Op::Conv2D, {x, filter, out}, conv), (std::vector<int64_t>{1, 4, 8, 8}));
  EXPECT_EQ(inferDims(Op::Conv2D, {x, filter, f32({4}), out}, conv), (std::vector<int64_t>{1, 4, 8, 8}));
  EXPECT_EQ(inferError(Op::Conv2D, {x, filter, f32({4})}, conv),
            "conv2d operand 2 (the activation's output) must be f32[1,4,8,8], got f32[4]");
  EXPECT_EQ(inferError(Op::DenseBackwardData, {dy, w}, relu),
            "dense_bwd_data with attribute activation_gradient takes the activation's output besides its own operands, "
            "got 2 operands");
  EXPECT_EQ(inferError(Op::DenseBackwardData, {dy, w, f32({2, 7})}, relu),
            "dense_bwd_data operand 2 (the activation's output) must be f32[2,8], got f32[2,7]");
  EXPECT_EQ(inferError(Op::Dense, {y, w, y}, relu), "dense takes no attribute activation_gradient");
  EXPECT_EQ(inferError(Op::DenseBackwardData, {dy, w, y}, {{"activation_gradient", Symbol{"softmax"}}}),
            "dense_bwd_data attribute activation_gradient must be relu, sigmoid or tanh, got softmax");
  EXPECT_EQ(inferError(Op::Conv2D, {x, filter, out},
                       {{"activation", Symbol{"relu"}}, {"activation_gradient", Symbol{"relu"}}, {"strides", IntList{1, 1}},
                        {"pads", IntList{1, 1, 1, 1}}}),
            "conv2d cannot take both activation and activation_gradient");
}

TEST(ShapeInference, RejectsSizesThatOverflow64Bits) {
  EXPECT_EQ(inferError(Op::Flatten, {f32({2, int64_t{1} << 40, int64_t{1} << 40, 1 << 20})}),
            "flatten size overflows 64 bits");
  EXPECT_EQ(inferError(Op::Conv2D, {f32({int64_t{1} << 40, 3, 8, 8}), f32({int64_t{1} << 30, 3, 1, 1})},
                       window2d({1, 1}, {0, 0, 0, 0})),
            "conv2d result [1099511627776,1073741824,8,8] overflows 64-bit sizes");
}

}  // namespace
}  // namespace cnnc

#include "ir/shape_inference_training.h"

#include <limits>

#include <fmt/format.h>

#include "ir/conv_algorithm.h"
#include "ir/fused_activation.h"
#include "ir/fused_bias_gradient.h"
#include "ir/fused_moments.h"
#include "ir/fused_projection.h"
#include "ir/fused_relu_mask.h"
#include "ir/fused_residual.h"
#include "ir/fused_statistics.h"
#include "ir/inlined_norm.h"
#include "ir/kernel_results.h"
#include "ir/op_checks.h"
#include "ir/shape_inference.h"

namespace cnnc {
namespace {

using namespace checks;

// The upper bound of attributes whose only constraint is to be non-negative.
constexpr double kUnbounded = std::numeric_limits<double>::max();

// The attributes of `attrs` named in `keys`: what the forward op of a
// backward op takes.
AttributeMap subset(const AttributeMap& attrs, std::initializer_list<std::string_view> keys) {
  AttributeMap out;
  for (std::string_view key : keys)
    if (auto it = attrs.find(key); it != attrs.end()) out.insert(*it);
  return out;
}

// A backward op's dy must have the shape its forward op gives for the
// forward operands the backward op describes.
Status matchesForward(Op op, Op forward, const std::vector<TensorType>& forwardOperands, const AttributeMap& attrs,
                      const TensorType& dy) {
  Expected<TensorType> y = inferType(forward, forwardOperands, attrs);
  if (!y) return fail(fmt::format("{}: {}", mnemonic(op), y.error().message));
  if (y->dims != dy.dims)
    return fail(fmt::format("{} gradient {} does not match the forward result {}", mnemonic(op),
                            dimsToString(dy.dims), dimsToString(y->dims)));
  return Status::ok();
}

// [N,C,H,W] of the forward input, from dy's batch, a channel count and the
// attribute input_hw=[H,W].
Expected<TensorType> forwardImage(Op op, const TensorType& dy, int64_t channels, const AttributeMap& attrs) {
  CNNC_TRY(floatOperand(op, dy, "gradient", op == Op::GlobalAvgPool2DBackward ? 2 : 4));
  Expected<IntList> hw = intsAttr(op, attrs, "input_hw", 2, 1);
  if (!hw) return hw.error();
  return TensorType{dy.dtype, {dy.dims[0], channels, (*hw)[0], (*hw)[1]}};
}

Expected<TensorType> inferConvBackward(Op op, const std::vector<TensorType>& in, const AttributeMap& attrs) {
  const AttributeMap forwardAttrs = subset(attrs, {"strides", "pads"});
  if (op == Op::Conv2DBackwardData) {
    CNNC_TRY(attributeNames(op, attrs,
                            {"strides", "pads", "input_hw", "tile", kActivationGradientAttr, kFusedAttr, kResidualAttr,
                             kGammaGradAttr, kProjectionAttr}));
    CNNC_TRY(checkFusedActivation(op, attrs));
    CNNC_TRY(checkValueAttr(op, attrs, kGammaGradAttr));
    CNNC_TRY(checkProjection(attrs, in.size()));
    CNNC_TRY(floatOperand(op, in[1], "weight", 4));
    Expected<TensorType> x = forwardImage(op, in[0], in[1].dims[1], attrs);
    if (!x) return x.error();
    CNNC_TRY(matchesForward(op, Op::Conv2D, {*x, in[1]}, forwardAttrs, in[0]));
    if (in.size() == 4) {
      // The projection: a 1x1 convolution of the same input (ir/fused_projection.h).
      CNNC_TRY(floatOperand(op, in[3], "projection weight", 4));
      if (in[3].dims[2] != 1 || in[3].dims[3] != 1)
        return fail(
            fmt::format("{} projection weight must be [P,C,1,1], got {}", mnemonic(op), dimsToString(in[3].dims)));
      CNNC_TRY(matchesForward(op, Op::Conv2D, {*x, in[3]}, projectionWindow(attrs), in[2]));
    }
    return *x;
  }
  CNNC_TRY(attributeNames(op, attrs, {"strides", "pads", "kernel", "tile", kAlgorithmAttr, kBiasGradAttr}));
  CNNC_TRY(checkValueAttr(op, attrs, kBiasGradAttr));
  CNNC_TRY(floatOperand(op, in[0], "input", 4));
  CNNC_TRY(floatOperand(op, in[1], "gradient", 4));
  Expected<IntList> kernel = intsAttr(op, attrs, "kernel", 2, 1);
  if (!kernel) return kernel.error();
  TensorType w{in[0].dtype, {in[1].dims[1], in[0].dims[1], (*kernel)[0], (*kernel)[1]}};
  CNNC_TRY(matchesForward(op, Op::Conv2D, {in[0], w}, forwardAttrs, in[1]));
  return w;
}

Expected<TensorType> inferPoolBackward(Op op, const std::vector<TensorType>& in, const AttributeMap& attrs) {
  const AttributeMap forwardAttrs = subset(attrs, {"window", "strides", "pads"});
  if (op == Op::MaxPool2DBackward) {
    CNNC_TRY(attributeNames(op, attrs, {"window", "strides", "pads", kActivationGradientAttr, kFusedAttr}));
    CNNC_TRY(checkFusedActivation(op, attrs));
    CNNC_TRY(floatOperand(op, in[0], "input", 4));
    CNNC_TRY(sameDType(op, in));
    CNNC_TRY(matchesForward(op, Op::MaxPool2D, {in[0]}, forwardAttrs, in[1]));
    return in[0];
  }
  const bool global = op == Op::GlobalAvgPool2DBackward;
  CNNC_TRY(global ? attributeNames(op, attrs, {"input_hw", kActivationGradientAttr, kFusedAttr})
                  : attributeNames(op, attrs, {"window", "strides", "pads", "input_hw"}));
  CNNC_TRY(checkFusedActivation(op, attrs));
  Expected<TensorType> x = forwardImage(op, in[0], in[0].dims.size() > 1 ? in[0].dims[1] : 0, attrs);
  if (!x) return x.error();
  CNNC_TRY(matchesForward(op, global ? Op::GlobalAvgPool2D : Op::AvgPool2D, {*x}, forwardAttrs, in[0]));
  return *x;
}

// A per-channel vector [C] of the channel axis of x.
TensorType perChannel(const TensorType& x) { return TensorType{x.dtype, {x.dims[1]}}; }

Status checkStats(Op op, const TensorType& x, const TensorType& stats) {
  CNNC_TRY(floatOperand(op, x, "input"));
  if (x.rank() != 2 && x.rank() != 4)
    return fail(fmt::format("{} input must be [N,C,H,W] or [N,F], got {}", mnemonic(op), toString(x)));
  if (stats.dims != std::vector<int64_t>{2, x.dims[1]})
    return fail(fmt::format("{} statistics must be [2,{}], got {}", mnemonic(op), x.dims[1], toString(stats)));
  return Status::ok();
}

// Operands from `first` on must all be [C] vectors of x's channels.
Status checkPerChannel(Op op, const std::vector<TensorType>& in, size_t first, const TensorType& x) {
  for (size_t i = first; i < in.size(); ++i)
    if (in[i] != perChannel(x))
      return fail(fmt::format("{} operand {} must be {}, got {}", mnemonic(op), i, toString(perChannel(x)),
                              toString(in[i])));
  return Status::ok();
}

Expected<TensorType> inferBatchNormTraining(Op op, const std::vector<TensorType>& in, const AttributeMap& attrs) {
  switch (op) {
    case Op::BatchNormStats:
      CNNC_TRY(attributeNames(op, attrs, {}));
      CNNC_TRY(checkStats(op, in[0], TensorType{in[0].dtype, {2, in[0].rank() > 1 ? in[0].dims[1] : 0}}));
      return TensorType{in[0].dtype, {2, in[0].dims[1]}};
    case Op::BatchNormTrain:
      CNNC_TRY(attributeNames(op, attrs,
                              {"epsilon", kActivationAttr, kFusedAttr, kResidualAttr, kReluMaskAttr, kResidualNormAttr,
                               kInlineAttr}));
      if (attrs.contains(kInlineAttr) && getInt(attrs, kInlineAttr) != 1)
        return fail(fmt::format("{} attribute {} must be 1", mnemonic(op), kInlineAttr));
      CNNC_TRY(checkValueAttr(op, attrs, kResidualNormAttr));
      CNNC_TRY(checkFusedActivation(op, attrs));
      CNNC_TRY(checkValueAttr(op, attrs, kReluMaskAttr));
      CNNC_TRY(checkStats(op, in[0], in[1]));
      CNNC_TRY(checkPerChannel(op, in, 2, in[0]));
      break;
    case Op::BatchNormRunning: {
      CNNC_TRY(attributeNames(op, attrs, {"momentum", "row", "count"}));
      CNNC_TRY(floatOperand(op, in[0], "running statistic", 1));
      TensorType stats{in[0].dtype, {2, in[0].dims[0]}};
      if (in[1] != stats)
        return fail(fmt::format("{} statistics must be {}, got {}", mnemonic(op), toString(stats), toString(in[1])));
      if (auto m = floatAttr(op, attrs, "momentum", 0.0, 1.0); !m) return m.error();
      if (auto count = intAttr(op, attrs, "count", 1); !count) return count.error();
      Expected<int64_t> row = intAttr(op, attrs, "row", 0);
      if (!row) return row.error();
      if (*row > 1) return fail(fmt::format("{} attribute row must be 0 (mean) or 1 (variance)", mnemonic(op)));
      return in[0];
    }
    case Op::BatchNormBackwardGamma:
      CNNC_TRY(attributeNames(op, attrs, {"epsilon", kBiasGradAttr, kGammaGradAttr}));
      CNNC_TRY(checkValueAttr(op, attrs, kBiasGradAttr));
      CNNC_TRY(checkValueAttr(op, attrs, kGammaGradAttr));
      CNNC_TRY(checkStats(op, in[1], in[2]));
      CNNC_TRY(sameTypes(op, {in[0], in[1]}));
      return perChannel(in[1]);
    case Op::BatchNormBackwardData:
      CNNC_TRY(attributeNames(op, attrs, {"epsilon"}));
      CNNC_TRY(checkStats(op, in[1], in[2]));
      CNNC_TRY(sameTypes(op, {in[0], in[1]}));
      CNNC_TRY(checkPerChannel(op, in, 3, in[1]));
      break;
    default:
      return fail(fmt::format("{} is not a batch_norm op", mnemonic(op)));
  }
  if (auto eps = floatAttr(op, attrs, "epsilon", 0.0, 1.0); !eps) return eps.error();
  return in[0];
}

Expected<TensorType> inferDropoutMask(const std::vector<TensorType>& in, const AttributeMap& attrs) {
  const Op op = Op::DropoutMask;
  CNNC_TRY(attributeNames(op, attrs, {"rate", "seed", "shape"}));
  CNNC_TRY(floatOperand(op, in[0], "step", 0));
  if (auto rate = floatAttr(op, attrs, "rate", 0.0, 1.0, false); !rate) return rate.error();
  if (auto seed = intAttr(op, attrs, "seed", 0); !seed) return seed.error();
  std::optional<IntList> shape = getInts(attrs, "shape");
  if (!shape || shape->empty())
    return fail(fmt::format("{} needs attribute shape as a non-empty list of integers", mnemonic(op)));
  for (int64_t dim : *shape)
    if (dim < 1) return fail(fmt::format("{} attribute shape must have entries >= 1", mnemonic(op)));
  return TensorType{in[0].dtype, *shape};
}

Expected<TensorType> inferReshape(const std::vector<TensorType>& in, const AttributeMap& attrs) {
  const Op op = Op::Reshape;
  CNNC_TRY(attributeNames(op, attrs, {"shape"}));
  CNNC_TRY(floatOperand(op, in[0], "input"));
  std::optional<IntList> shape = getInts(attrs, "shape");
  if (!shape) return fail("reshape needs attribute shape as a list of integers");
  TensorType out{in[0].dtype, *shape};
  for (int64_t dim : *shape)
    if (dim < 1) return fail("reshape attribute shape must have entries >= 1");
  if (elementCount(out) != elementCount(in[0]))
    return fail(fmt::format("reshape cannot turn {} into {}", dimsToString(in[0].dims), dimsToString(*shape)));
  return out;
}

Expected<TensorType> inferChannelSlice(const std::vector<TensorType>& in, const AttributeMap& attrs) {
  const Op op = Op::ChannelSlice;
  CNNC_TRY(attributeNames(op, attrs, {"offset", "channels"}));
  CNNC_TRY(floatOperand(op, in[0], "input"));
  Expected<int64_t> offset = intAttr(op, attrs, "offset", 0);
  if (!offset) return offset.error();
  Expected<int64_t> channels = intAttr(op, attrs, "channels", 1);
  if (!channels) return channels.error();
  if (in[0].rank() < 2 || *offset > in[0].dims[1] - *channels)
    return fail(fmt::format("channel_slice of {} channels at offset {} is outside the channels of {}", *channels,
                            *offset, toString(in[0])));
  TensorType out = in[0];
  out.dims[1] = *channels;
  return out;
}

Expected<TensorType> inferDenseBackward(Op op, const std::vector<TensorType>& in, const AttributeMap& attrs) {
  CNNC_TRY(op == Op::DenseBackwardData ? attributeNames(op, attrs, {kActivationGradientAttr, kFusedAttr})
                                       : attributeNames(op, attrs, {kBiasGradAttr}));
  CNNC_TRY(checkFusedActivation(op, attrs));
  CNNC_TRY(checkValueAttr(op, attrs, kBiasGradAttr));
  CNNC_TRY(floatOperand(op, in[0], "gradient", 2));
  CNNC_TRY(floatOperand(op, in[1], op == Op::DenseBackwardData ? "weight" : "input", 2));
  CNNC_TRY(sameDType(op, in));
  const auto& dy = in[0].dims;
  const auto& other = in[1].dims;
  // dense_bwd_data: dy [N,U] with w [U,F]; dense_bwd_weight: dy [N,U] with x [N,F].
  const size_t shared = op == Op::DenseBackwardData ? 1 : 0;
  if (dy[shared] != other[0])
    return fail(fmt::format("{} operands {} and {} do not fit", mnemonic(op), dimsToString(dy), dimsToString(other)));
  if (op == Op::DenseBackwardData) return TensorType{in[0].dtype, {dy[0], other[1]}};
  return TensorType{in[0].dtype, {dy[1], other[1]}};
}

Expected<TensorType> inferSoftmaxCrossEntropyBackward(const std::vector<TensorType>& in, const AttributeMap& attrs) {
  CNNC_TRY(attributeNames(Op::SoftmaxCrossEntropyBackward, attrs, {}));
  Expected<TensorType> loss = inferType(Op::SoftmaxCrossEntropy, in, {});
  if (!loss) return fail(fmt::format("softmax_xent_bwd: {}", loss.error().message));
  return in[0];
}

Expected<TensorType> inferOptimizerOp(Op op, const std::vector<TensorType>& in, const AttributeMap& attrs) {
  switch (op) {
    case Op::SgdVelocity:
      CNNC_TRY(attributeNames(op, attrs, {"momentum", "learning_rate"}));
      if (auto m = floatAttr(op, attrs, "momentum", 0.0, 1.0); !m) return m.error();
      break;
    case Op::SgdApply:
      CNNC_TRY(attributeNames(op, attrs, {"learning_rate", "momentum", "nesterov", "weight_decay"}));
      if (auto m = floatAttr(op, attrs, "momentum", 0.0, 1.0); !m) return m.error();
      if (auto n = intAttr(op, attrs, "nesterov", 0); !n || *n > 1)
        return fail(fmt::format("{} needs attribute nesterov as 0 or 1", mnemonic(op)));
      if (auto wd = floatAttr(op, attrs, "weight_decay", 0.0, kUnbounded); !wd) return wd.error();
      break;
    case Op::AdamMoment: {
      CNNC_TRY(attributeNames(op, attrs, {"decay", "power"}));
      if (auto d = floatAttr(op, attrs, "decay", 0.0, 1.0); !d) return d.error();
      Expected<int64_t> power = intAttr(op, attrs, "power", 1);
      if (!power || *power > 2) return fail(fmt::format("{} needs attribute power as 1 or 2", mnemonic(op)));
      CNNC_TRY(sameTypes(op, in));
      return in[0];
    }
    case Op::AdamApply: {
      CNNC_TRY(attributeNames(op, attrs,
                              {"learning_rate", "beta1", "beta2", "epsilon", "weight_decay", kFusedMomentsAttr}));
      if (attrs.contains(kFusedMomentsAttr) && getInt(attrs, kFusedMomentsAttr) != 1)
        return fail(fmt::format("{} attribute {} must be 1", mnemonic(op), kFusedMomentsAttr));
      CNNC_TRY(sameTypes(op, {in[0], in[1], in[2]}));
      CNNC_TRY(floatOperand(op, in[3], "step", 0));
      for (std::string_view beta : {"beta1", "beta2"})
        if (auto b = floatAttr(op, attrs, beta, 0.0, 1.0, false); !b) return b.error();
      for (std::string_view key : {"epsilon", "weight_decay", "learning_rate"})
        if (auto value = floatAttr(op, attrs, key, 0.0, kUnbounded); !value) return value.error();
      return in[0];
    }
    default:
      return fail(fmt::format("{} is not an optimizer op", mnemonic(op)));
  }
  CNNC_TRY(sameTypes(op, in));
  if (auto lr = floatAttr(op, attrs, "learning_rate", 0.0, kUnbounded); !lr) return lr.error();
  return in[0];
}

}  // namespace

Expected<TensorType> inferTrainingOp(Op op, const std::vector<TensorType>& in, const AttributeMap& attrs) {
  switch (op) {
    case Op::BatchNormStats:
    case Op::BatchNormTrain:
    case Op::BatchNormRunning:
    case Op::BatchNormBackwardGamma:
    case Op::BatchNormBackwardData:
      return inferBatchNormTraining(op, in, attrs);
    case Op::DropoutMask:
      return inferDropoutMask(in, attrs);
    case Op::ReluMask:
      CNNC_TRY(attributeNames(op, attrs, {}));
      CNNC_TRY(floatOperand(op, in[0], "operand"));
      return reluMaskType(in[0]);
    case Op::Mul:
    case Op::ReluBackward:
    case Op::SigmoidBackward:
    case Op::TanhBackward:
    case Op::Assign:
      CNNC_TRY(attributeNames(op, attrs, {}));
      CNNC_TRY(sameTypes(op, in));
      return in[0];
    case Op::Conv2DBackwardData:
    case Op::Conv2DBackwardFilter:
      return inferConvBackward(op, in, attrs);
    case Op::BiasGrad:
      CNNC_TRY(attributeNames(op, attrs, {}));
      CNNC_TRY(floatOperand(op, in[0], "gradient"));
      if (in[0].rank() < 2) return fail(fmt::format("bias_grad needs a channel axis, got {}", toString(in[0])));
      return perChannel(in[0]);
    case Op::DenseBackwardData:
    case Op::DenseBackwardWeight:
      return inferDenseBackward(op, in, attrs);
    case Op::MaxPool2DBackward:
    case Op::AvgPool2DBackward:
    case Op::GlobalAvgPool2DBackward:
      return inferPoolBackward(op, in, attrs);
    case Op::Reshape:
      return inferReshape(in, attrs);
    case Op::ChannelSlice:
      return inferChannelSlice(in, attrs);
    case Op::SoftmaxCrossEntropyBackward:
      return inferSoftmaxCrossEntropyBackward(in, attrs);
    case Op::Increment:
      CNNC_TRY(attributeNames(op, attrs, {}));
      CNNC_TRY(floatOperand(op, in[0], "step", 0));
      return in[0];
    default:
      return inferOptimizerOp(op, in, attrs);
  }
}

}  // namespace cnnc

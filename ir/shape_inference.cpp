#include "ir/shape_inference.h"

#include <fmt/format.h>

#include "ir/batch_group.h"
#include "ir/conv_algorithm.h"
#include "ir/fused_activation.h"
#include "ir/fused_norm.h"
#include "ir/fused_pooling.h"
#include "ir/fused_relu_mask.h"
#include "ir/fused_residual.h"
#include "ir/fused_statistics.h"
#include "ir/kernel_results.h"
#include "ir/layout.h"
#include "ir/op_checks.h"
#include "ir/shape_inference_training.h"

namespace cnnc {
namespace {

using namespace checks;

Expected<TensorType> inferConv2D(const std::vector<TensorType>& in, const AttributeMap& attrs) {
  const Op op = Op::Conv2D;
  CNNC_TRY(attributeNames(op, attrs,
                          {"strides", "pads", "tile", kAlgorithmAttr, kActivationAttr, kActivationGradientAttr, kFusedAttr,
                           kPoolAttr, kStatsAttr, kGammaGradAttr, kResidualAttr, kNormAttr, "epsilon"}));
  CNNC_TRY(checkFoldedNorm(attrs));
  CNNC_TRY(checkValueAttr(op, attrs, kPoolAttr));
  CNNC_TRY(checkValueAttr(op, attrs, kStatsAttr));
  CNNC_TRY(checkValueAttr(op, attrs, kGammaGradAttr));
  CNNC_TRY(checkFusedActivation(op, attrs));
  CNNC_TRY(floatOperand(op, in[0], "input", 4));
  CNNC_TRY(floatOperand(op, in[1], "weight", 4));
  CNNC_TRY(sameDType(op, in));
  const auto& x = in[0].dims;
  const auto& w = in[1].dims;
  if (w[1] != x[1])
    return fail(fmt::format("conv2d weight {} expects {} input channels, input {} has {}", dimsToString(w),
                            w[1], dimsToString(x), x[1]));
  if (in.size() == 3 && in[2].dims != std::vector<int64_t>{w[0]})
    return fail(fmt::format("conv2d bias must be [{}], got {}", w[0], dimsToString(in[2].dims)));
  auto out = windowOutput(op, in[0], w[2], w[3], attrs);
  if (!out) return out.error();
  return TensorType{in[0].dtype, {x[0], w[0], out->first, out->second}};
}

Expected<TensorType> inferPool(Op op, const std::vector<TensorType>& in, const AttributeMap& attrs) {
  CNNC_TRY(attributeNames(op, attrs, {"window", "strides", "pads"}));
  CNNC_TRY(floatOperand(op, in[0], "input", 4));
  Expected<IntList> window = intsAttr(op, attrs, "window", 2, 1);
  if (!window) return window.error();
  if (IntList pads = getInts(attrs, "pads").value_or(IntList{}); pads.size() == 4)
    for (size_t i = 0; i < 4; ++i)
      if (pads[i] >= (*window)[i % 2])
        return fail(fmt::format("{} padding {} must be smaller than the window {}", mnemonic(op),
                                toString(Attribute(pads)), toString(Attribute(*window))));
  auto out = windowOutput(op, in[0], (*window)[0], (*window)[1], attrs);
  if (!out) return out.error();
  const auto& x = in[0].dims;
  return TensorType{in[0].dtype, {x[0], x[1], out->first, out->second}};
}

Expected<TensorType> inferDense(const std::vector<TensorType>& in, const AttributeMap& attrs) {
  const Op op = Op::Dense;
  CNNC_TRY(attributeNames(op, attrs, {kActivationAttr, kFusedAttr}));
  CNNC_TRY(checkFusedActivation(op, attrs));
  CNNC_TRY(floatOperand(op, in[0], "input", 2));
  CNNC_TRY(floatOperand(op, in[1], "weight", 2));
  CNNC_TRY(sameDType(op, in));
  const auto& x = in[0].dims;
  const auto& w = in[1].dims;
  if (w[1] != x[1])
    return fail(fmt::format("dense weight {} expects {} input features, input {} has {}", dimsToString(w),
                            w[1], dimsToString(x), x[1]));
  if (in.size() == 3 && in[2].dims != std::vector<int64_t>{w[0]})
    return fail(fmt::format("dense bias must be [{}], got {}", w[0], dimsToString(in[2].dims)));
  return TensorType{in[0].dtype, {x[0], w[0]}};
}

Expected<TensorType> inferBatchNorm(const std::vector<TensorType>& in, const AttributeMap& attrs) {
  const Op op = Op::BatchNorm;
  CNNC_TRY(attributeNames(op, attrs,
                          {"epsilon", "momentum", kActivationAttr, kFusedAttr, kResidualAttr, kResidualNormAttr}));
  CNNC_TRY(checkValueAttr(op, attrs, kResidualNormAttr));
  CNNC_TRY(checkFusedActivation(op, attrs));
  if (auto eps = floatAttr(op, attrs, "epsilon", 0.0, 1.0, true); !eps) return eps.error();
  if (auto m = floatAttr(op, attrs, "momentum", 0.0, 1.0, true); !m) return m.error();
  CNNC_TRY(floatOperand(op, in[0], "input"));
  if (in[0].rank() != 2 && in[0].rank() != 4)
    return fail(fmt::format("batch_norm input must be [N,C,H,W] or [N,F], got {}", toString(in[0])));
  CNNC_TRY(sameDType(op, in));
  const std::vector<int64_t> perChannel{in[0].dims[1]};
  for (size_t i = 1; i < in.size(); ++i)
    if (in[i].dims != perChannel)
      return fail(fmt::format("batch_norm operand {} must be {}, got {}", i, dimsToString(perChannel),
                              dimsToString(in[i].dims)));
  return in[0];
}

Expected<TensorType> inferSameShape(Op op, const std::vector<TensorType>& in) {
  CNNC_TRY(sameTypes(op, in));
  return in[0];
}

Expected<TensorType> inferConcat(const std::vector<TensorType>& in) {
  const Op op = Op::Concat;
  CNNC_TRY(sameDType(op, in));
  std::vector<int64_t> dims = in[0].dims;
  CNNC_TRY(floatOperand(op, in[0], "operand 0"));
  if (dims.size() < 2) return fail(fmt::format("concat operands need a channel axis, got {}", toString(in[0])));
  dims[1] = 0;
  for (const TensorType& t : in) {
    bool compatible = t.rank() == in[0].rank();
    for (size_t d = 0; compatible && d < dims.size(); ++d) compatible = d == 1 || t.dims[d] == dims[d];
    if (!compatible)
      return fail(fmt::format("concat operands must agree in all but the channel axis, got {} and {}",
                              dimsToString(in[0].dims), dimsToString(t.dims)));
    if (__builtin_add_overflow(dims[1], t.dims[1], &dims[1])) return fail("concat channel count overflows");
  }
  return TensorType{in[0].dtype, dims};
}

Expected<TensorType> inferSoftmaxCrossEntropy(const std::vector<TensorType>& in) {
  const Op op = Op::SoftmaxCrossEntropy;
  CNNC_TRY(floatOperand(op, in[0], "logits", 2));
  const TensorType& labels = in[1];
  if (!isInteger(labels.dtype) || labels.dims != std::vector<int64_t>{in[0].dims[0]})
    return fail(fmt::format("softmax_xent labels must be i32[{0}] or i64[{0}], got {1}", in[0].dims[0],
                            toString(labels)));
  return TensorType{in[0].dtype, {}};
}

Expected<TensorType> inferUnchecked(Op op, const std::vector<TensorType>& in, const AttributeMap& attrs) {
  switch (op) {
    case Op::Input:
    case Op::Param:
    case Op::State:
      return fail(fmt::format("{} is a leaf: its type is declared, not inferred", mnemonic(op)));
    case Op::Conv2D:
      return inferConv2D(in, attrs);
    case Op::MaxPool2D:
    case Op::AvgPool2D:
      return inferPool(op, in, attrs);
    case Op::GlobalAvgPool2D:
      CNNC_TRY(attributeNames(op, attrs, {}));
      CNNC_TRY(floatOperand(op, in[0], "input", 4));
      return TensorType{in[0].dtype, {in[0].dims[0], in[0].dims[1]}};
    case Op::Flatten: {
      CNNC_TRY(attributeNames(op, attrs, {}));
      CNNC_TRY(floatOperand(op, in[0], "input"));
      if (in[0].rank() < 2) return fail(fmt::format("flatten input needs a batch axis and more, got {}", toString(in[0])));
      TensorType row{in[0].dtype, {in[0].dims.begin() + 1, in[0].dims.end()}};
      std::optional<int64_t> features = elementCount(row);
      if (!features) return fail("flatten size overflows 64 bits");
      return TensorType{in[0].dtype, {in[0].dims[0], *features}};
    }
    case Op::Dense:
      return inferDense(in, attrs);
    case Op::BatchNorm:
      return inferBatchNorm(in, attrs);
    case Op::Dropout:
      CNNC_TRY(attributeNames(op, attrs, {"rate"}));
      if (auto rate = floatAttr(op, attrs, "rate", 0.0, 1.0, false); !rate) return rate.error();
      return inferSameShape(op, in);
    case Op::Relu:
    case Op::Sigmoid:
    case Op::Tanh:
      CNNC_TRY(attributeNames(op, attrs, {}));
      return inferSameShape(op, in);
    case Op::Add:
      CNNC_TRY(attributeNames(op, attrs, {kActivationAttr, kActivationGradientAttr, kFusedAttr}));
      CNNC_TRY(checkFusedActivation(op, attrs));
      return inferSameShape(op, in);
    case Op::Concat:
      CNNC_TRY(attributeNames(op, attrs, {}));
      return inferConcat(in);
    case Op::Relayout:
      CNNC_TRY(attributeNames(op, attrs, {"layout"}));
      return in[0];
    case Op::FilterTranspose: {
      CNNC_TRY(attributeNames(op, attrs, {"layout"}));
      CNNC_TRY(floatOperand(op, in[0], "filter", 4));
      const std::vector<int64_t>& w = in[0].dims;
      return TensorType{in[0].dtype, {w[1], w[0], w[2], w[3]}};
    }
    case Op::Softmax:
      CNNC_TRY(attributeNames(op, attrs, {}));
      CNNC_TRY(floatOperand(op, in[0], "input", 2));
      return in[0];
    case Op::SoftmaxCrossEntropy:
      CNNC_TRY(attributeNames(op, attrs, {}));
      return inferSoftmaxCrossEntropy(in);
    default:
      return inferTrainingOp(op, in, attrs);
  }
}

Expected<TensorType> inferOwnOperands(Op op, const std::vector<TensorType>& operands, const AttributeMap& attrs) {
  CNNC_TRY(arity(op, operands.size()));
  // Shapes are logical: inferred without layouts, whose rules come after.
  std::vector<TensorType> logical = operands;
  for (TensorType& t : logical) t.layout = Layout::Plain;
  Expected<TensorType> result = inferUnchecked(op, logical, attrs);
  if (!result) return result;
  if (!byteSize(*result))
    return fail(fmt::format("{} result {} overflows 64-bit sizes", mnemonic(op), dimsToString(result->dims)));
  Expected<Layout> layout = inferLayout(op, operands, attrs, *result);
  if (!layout) return layout.error();
  result->layout = *layout;
  return result;
}

}  // namespace

Expected<int64_t> windowOutputSize(int64_t in, int64_t window, int64_t stride, int64_t padBefore,
                                   int64_t padAfter) {
  int64_t padded = 0;
  if (__builtin_add_overflow(in, padBefore, &padded) || __builtin_add_overflow(padded, padAfter, &padded))
    return fail("padded size overflows 64 bits");
  if (window > padded)
    return fail(fmt::format("window {} is larger than the padded input {}", window, padded));
  return (padded - window) / stride + 1;
}

Expected<TensorType> inferType(Op op, const std::vector<TensorType>& operands, const AttributeMap& attrs) {
  // A scheduling attribute that any kernel may carry, which the verifier
  // checks graph-wide (ir/batch_group.h): no op's rule sees it.
  if (attrs.contains(kBatchGroupAttr)) {
    CNNC_TRY(checkValueAttr(op, attrs, kBatchGroupAttr));
    AttributeMap others = attrs;
    others.erase(others.find(kBatchGroupAttr));
    return inferType(op, operands, others);
  }
  // The extra operands after the op's own: a folded batch norm's gamma,
  // beta, running mean and variance (per output channel), a fused add's
  // residual, then a fused activation gradient's activation output (each of
  // the result's type). The op's own rule sees the others. An op whose
  // operands share one layout shares it with them too, which gives the
  // layout where none of its own is an image (the [N,C] gradient of
  // global_avg_pool2d_bwd).
  struct Extras {
    std::string_view attribute, brings;
    size_t count;
  };
  std::vector<Extras> extras;
  if (op == Op::Conv2D && attrs.contains(kNormAttr))
    extras.push_back({kNormAttr, "the batch norm's gamma, beta, mean and variance", kNormOperands});
  if (attrs.contains(kResidualAttr)) extras.push_back({kResidualAttr, "the residual", 1});
  if (readsActivationOutput(op, attrs)) extras.push_back({kActivationGradientAttr, "the activation's output", 1});
  if (extras.empty()) return inferOwnOperands(op, operands, attrs);
  CNNC_TRY(checkResidual(op, attrs));
  CNNC_TRY(checkFusedActivation(op, attrs));
  size_t extraCount = 0;
  for (const Extras& extra : extras) extraCount += extra.count;
  if (operands.size() < extraCount || !arity(op, operands.size() - extraCount)) {
    std::string attributes, brought;
    for (const Extras& extra : extras) {
      attributes += fmt::format("{}{}", attributes.empty() ? "" : " and ", extra.attribute);
      brought += fmt::format("{}{}", brought.empty() ? "" : " and ", extra.brings);
    }
    return fail(fmt::format("{} with {} {} takes {} besides its own operands, got {} operands", mnemonic(op),
                            extras.size() == 1 ? "attribute" : "attributes", attributes, brought, operands.size()));
  }
  const size_t own = operands.size() - extraCount;
  const std::vector<TensorType> ownOperands(operands.begin(), operands.begin() + static_cast<std::ptrdiff_t>(own));
  Expected<TensorType> result = inferOwnOperands(op, ownOperands, attrs);
  if (result && sharesOneLayout(op)) {
    Expected<Layout> layout = inferLayout(op, operands, attrs, *result);
    if (!layout) return layout.error();
    result->layout = *layout;
  }
  size_t k = own;
  for (const Extras& extra : extras) {
    for (size_t i = 0; result && i < extra.count; ++i, ++k) {
      if (extra.attribute == kNormAttr) {
        const TensorType perChannel{result->dtype, {result->dims[1]}};
        if (operands[k] == perChannel) continue;
        return fail(fmt::format("conv2d operand {} ({}) must be {}, got {}", k, extra.brings, toString(perChannel),
                                toString(operands[k])));
      }
      // A relu gradient's activation output may be its relu mask, which only
      // blocked values have (ir/fused_relu_mask.h).
      const bool relu = extra.attribute == kActivationGradientAttr && fusedActivationGradient(attrs) == Op::Relu &&
                        isActivationLayout(result->layout);
      if (operands[k] == *result || (relu && operands[k] == reluMaskType(*result))) continue;
      return fail(fmt::format("{} operand {} ({}) must be {}{}, got {}", mnemonic(op), k, extra.brings,
                              toString(*result), relu ? " or its relu mask " + toString(reluMaskType(*result)) : "",
                              toString(operands[k])));
    }
  }
  return result;
}

}  // namespace cnnc

// An inference batch norm folded into the convolution before it (by the
// fold-batch-norms pass). At inference a batch norm is a fixed affine map
// per channel, (y - mean) gamma / sqrt(var + epsilon) + beta, of the
// convolution's result: a blocked conv2d with attribute `norm` applies it
// to each output vector before storing it (then the batch norm's residual
// and activation, which it takes too), where the convolution's kernel
// wrote its result and the batch norm's read it back and wrote another.
// The batch norm's gamma, beta, running mean and running variance come
// right after the convolution's own operands (x, w and its bias, if any),
// before a residual; `epsilon` is the batch norm's.
//
// The node takes the batch norm's name and attributes; `norm` names the
// convolution it absorbed, so that dumps and profiles still show that layer:
//
//   %block1_relu1 = conv2d %stem_out, %block1_conv1.weight, %block1_bn1.weight, %block1_bn1.bias,
//                     %block1_bn1.running_mean, %block1_bn1.running_var
//                     {activation=relu, epsilon=1e-05, fused=block1_bn1, norm=block1_conv1, ...}
//
// Its kernel is the blocked forward kernel: on plain results the verifier
// rejects it.
#pragma once

#include <optional>
#include <string_view>

#include "ir/error.h"
#include "ir/graph.h"

namespace cnnc {

inline constexpr std::string_view kNormAttr = "norm";

// The operands a folded batch norm brings, in that order.
inline constexpr size_t kNormOperands = 4;
struct NormOperands {
  ValueId gamma, beta, mean, variance;
};

// The batch norm operands of a conv2d with attribute norm, if it has it.
std::optional<NormOperands> foldedNormOf(const Node& node);

// Where a batch norm's per-channel values lie: a value, and the element
// offset of its first channel's (a row of batch statistics [2,C]).
struct PerChannel {
  ValueId value;
  int64_t offset;
};
struct NormParameters {
  PerChannel mean, variance, gamma, beta;
  double epsilon;
};
// Those of a batch_norm (running statistics), a batch_norm_train (batch
// statistics) or a conv2d with a folded batch norm: which operand holds
// what, for every kernel that applies one.
NormParameters normParameters(const Node& node);

// The attribute's contract, for conv2d's shape rule: a symbol (the name of
// the convolution absorbed), with a float epsilon in [0, 1] beside it, and
// epsilon only with it.
Status checkFoldedNorm(const AttributeMap& attrs);

// The graph-wide contract (verifier.h): a conv2d with a folded batch norm
// has a channel-blocked result.
Status verifyFoldedNorms(const Graph& graph);

}  // namespace cnnc

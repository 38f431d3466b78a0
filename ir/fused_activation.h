// Activations and their gradients fused into the node next to them.
//
// Forward (fuse-activations): attribute `activation` of a conv2d, dense,
// batch norm or add node names the activation it applies to its result
// (relu, sigmoid or tanh).
//
// Backward (fuse-activation-gradients): attribute `activation_gradient` of
// a node that computes a gradient names the activation whose gradient it
// applies to its result, given the activation's output y: an extra last
// operand, of the result's type (conv2d, conv2d_bwd_data, dense_bwd_data,
// add, global_avg_pool2d_bwd), or, for max_pool2d_bwd, its pooled input,
// which is y.
//
// Attribute `fused` names the node it absorbed, so that dumps and profiles
// still show every layer of the model:
//
//   %conv2d_0.relu = conv2d %input, %conv2d_0.weight, %conv2d_0.bias
//                      {activation=relu, fused=conv2d_0, pads=[0,0,0,0], strides=[1,1]}
//   %dense_6.grad = dense_bwd_data %dense_7.grad, %dense_7.weight, %dense_6.relu
//                      {activation_gradient=relu, fused=dense_6.relu.grad}
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "ir/attribute.h"
#include "ir/error.h"
#include "ir/graph.h"
#include "ir/op.h"

namespace cnnc {

inline constexpr std::string_view kActivationAttr = "activation";
inline constexpr std::string_view kActivationGradientAttr = "activation_gradient";
inline constexpr std::string_view kFusedAttr = "fused";

// relu, sigmoid and tanh: the ops that fuse into the node before them.
bool isActivation(Op op);

// conv2d, dense, batch_norm, batch_norm_train and add: the ops that apply a
// fused activation to their result.
bool appliesActivations(Op op);

// max_pool2d_bwd, conv2d, conv2d_bwd_data, dense_bwd_data, add (the sum
// of a value's gradients) and global_avg_pool2d_bwd: the ops that apply a
// fused activation gradient to their result.
bool appliesActivationGradients(Op op);

// The activation whose gradient `op` computes (relu for relu_bwd, ...), if any.
std::optional<Op> activationOfGradient(Op op);

// The activation a node applies to its result, if any.
std::optional<Op> fusedActivation(const AttributeMap& attrs);

// The activation whose gradient a node applies to its result, if any.
std::optional<Op> fusedActivationGradient(const AttributeMap& attrs);

// Whether a node of `op` with `attrs` reads the activation's output as an
// extra last operand (a fused activation gradient, but for max_pool2d_bwd).
bool readsActivationOutput(Op op, const AttributeMap& attrs);

// The activation's output that a node with a fused activation gradient reads.
ValueId activationOutputOf(const Node& node);

// The operands of the node's op itself: all but a folded batch norm's
// (ir/fused_norm.h), the residual of a fused add (ir/fused_residual.h) and
// the activation's output that a fused activation gradient adds, which
// come after them in that order; so a conv2d's bias is operand 2 when this
// is 3.
size_t ownOperandCount(const Node& node);

// Whether `node` applies anything to its result before storing it, which
// a fusion that adds to the result must come before: a folded batch norm, a
// fused activation or activation gradient, residual, pooling, statistics,
// gamma gradient or relu mask.
bool finishesItsResult(const Node& node);

// "conv2d", or "conv2d+relu" for a node with a fused activation,
// "conv2d+batch_norm+relu" with a folded batch norm (ir/fused_norm.h),
// "batch_norm_train+relu+inline" for one inlined into its readers
// (ir/inlined_norm.h),
// "dense_bwd_data+relu_bwd" with a fused activation gradient (and
// "conv2d_bwd_filter+bias_grad" for one with a fused bias gradient,
// ir/fused_bias_gradient.h, "conv2d+relu+pool" with a fused pooling,
// ir/fused_pooling.h, "batch_norm_train+add+relu" with a fused residual
// add, ir/fused_residual.h, "conv2d_bwd_data+projection+relu_bwd" with a
// fused projection, ir/fused_projection.h): how reports and profiles name a
// node's kernel.
std::string opLabel(Op op, const AttributeMap& attrs);

// The contract of the three attributes, for `op`'s shape rule: activation
// and activation_gradient name one of the activations, on ops that apply
// them, not both; fused is a symbol that comes with one of them.
Status checkFusedActivation(Op op, const AttributeMap& attrs);

}  // namespace cnnc

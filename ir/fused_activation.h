// Activations fused into the conv2d, dense or batch norm node that feeds
// them (by the fuse-activations pass): attribute `activation` names the op
// the node applies to its result (relu, sigmoid or tanh), and attribute
// `fused` the layer whose node it absorbed, so that dumps and profiles
// still show every layer of the model:
//
//   %conv2d_0.relu = conv2d %input, %conv2d_0.weight, %conv2d_0.bias
//                      {activation=relu, fused=conv2d_0, pads=[0,0,0,0], strides=[1,1]}
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "ir/attribute.h"
#include "ir/error.h"
#include "ir/op.h"

namespace cnnc {

inline constexpr std::string_view kActivationAttr = "activation";
inline constexpr std::string_view kFusedAttr = "fused";

// relu, sigmoid and tanh: the ops that fuse into a conv2d, dense or batch
// norm node.
bool isActivation(Op op);

// conv2d, dense, batch_norm and batch_norm_train: the ops that apply a
// fused activation to their result.
bool appliesActivations(Op op);

// The activation whose gradient `op` computes (relu for relu_bwd, ...), if any.
std::optional<Op> activationOfGradient(Op op);

// The activation a node applies to its result (appliesActivations), or
// applies the gradient of (max_pool2d_bwd), if any.
std::optional<Op> fusedActivation(const AttributeMap& attrs);

// "conv2d", or "conv2d+relu" for a node with a fused activation (and
// "conv2d_bwd_filter+bias_grad" for one with a fused bias gradient,
// ir/fused_bias_gradient.h): how reports and profiles name a node's kernel.
std::string opLabel(Op op, const AttributeMap& attrs);

// The contract of the two attributes, for `op`'s shape rule: activation is
// one of the activations, fused a symbol that comes with an activation.
Status checkFusedActivation(Op op, const AttributeMap& attrs);

}  // namespace cnnc

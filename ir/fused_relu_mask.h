// Relu masks (by the use-relu-masks pass): a fused relu gradient reads,
// in place of the relu's f32 output, a bit per element saying where that
// output is positive, which is all the gradient needs of it: a 32nd of the
// bytes, where each such kernel otherwise read a whole image-sized tensor
// beside its sums. The blocked batch norm that applies the relu writes the
// mask beside its result; attribute `relu_mask` names it:
//
//   %block1_relu1 = batch_norm_train %block1_conv1, ... {activation=relu, relu_mask=block1_relu1.mask, ...}
//   %block1_relu1.mask = relu_mask %block1_relu1 : b1[128,16,32,32]<NCHW16c>
//   %block1_bn1.grad = conv2d %block1_conv2.grad, %block1_conv2.weight.transposed, %block1_relu1.mask
//                        {activation_gradient=relu, ...}
//
// The mask node stays in the graph, as the value's definition, but gets no
// kernel of its own. A mask has its value's dims and layout, and must be
// channel-blocked: kernels read it a block of channels (8 or 16 bits, a
// byte or two) at a time.
#pragma once

#include <optional>
#include <string_view>

#include "ir/error.h"
#include "ir/graph.h"

namespace cnnc {

inline constexpr std::string_view kReluMaskAttr = "relu_mask";

// The type of the relu mask of a value of type `type`.
TensorType reluMaskType(const TensorType& type);

// Whether relu_mask node `mask` can be computed by the kernel of `node`:
// a blocked batch_norm_train that applies a relu, the mask of its result.
bool reluMaskFusesInto(const Node& node, ValueId id, const Node& mask);

// Whether value `id` is a relu mask: what a relu gradient reads bits of.
inline bool isReluMask(const Graph& graph, ValueId id) { return graph.node(id).op == Op::ReluMask; }

// The relu mask the kernel of `node` writes as well, if any.
std::optional<ValueId> fusedReluMask(const Graph& graph, const Node& node);

// The graph-wide contract (verifier.h): attribute relu_mask names a mask
// that reluMaskFusesInto accepts, and a fused relu gradient reads a mask of
// a value of its result's type.
Status verifyReluMasks(const Graph& graph);

}  // namespace cnnc

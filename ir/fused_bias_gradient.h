// Bias gradients fused into the weight-gradient kernel that reads the same
// output gradient (by the fuse-bias-gradients pass). Attribute `bias_grad`
// of a conv2d_bwd_filter, dense_bwd_weight or batch_norm_bwd_gamma (the
// gradient of batch norm's weight) node names a bias_grad value that its
// kernel computes as well, as it sweeps the output gradient:
//
//   %conv2d_4.weight.grad = conv2d_bwd_filter %x, %conv2d_4.grad {bias_grad=conv2d_4.bias.grad, ...}
//   %conv2d_4.bias.grad = bias_grad %conv2d_4.grad
//
// The bias_grad node stays in the graph, as the value's definition (the
// reference executor computes it as ever), but gets no kernel of its own.
// The attribute is a schedule: it never changes what the graph computes.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "ir/error.h"
#include "ir/graph.h"

namespace cnnc {

inline constexpr std::string_view kBiasGradAttr = "bias_grad";

// Whether `op` computes a weight gradient into whose kernel a bias_grad fuses.
bool isWeightGradient(Op op);

// The output gradient a weight-gradient node reads: conv2d_bwd_filter's
// operand 1, the others' operand 0.
ValueId outputGradientOf(const Node& weightGradient);

// The bias_grad value the kernel of `node` computes as well, if any.
std::optional<ValueId> fusedBiasGradient(const Graph& graph, const Node& node);

// The graph-wide contract (verifier.h): each named value exists, is a
// bias_grad of the node's output gradient, comes after the node, and is
// named by no other node.
Status verifyFusedBiasGradients(const Graph& graph);

}  // namespace cnnc

// A projection shortcut's data gradient fused into the data gradient of its
// sibling (by the fuse-projection-gradients pass). In a residual block that
// changes shape, one input feeds a strided convolution and a 1x1 projection
// of the same stride; backward, the input's gradient is the sum of their
// two data gradients. A conv2d_bwd_data with attribute `projection` is that
// sum: after its own output gradient and filter it takes the projection's,
// [N,P,OH,OW] and [P,C,1,1], and its kernel adds the projection's taps
// (1x1, the node's strides, no padding) into the same accumulators as its
// own, where otherwise both would write their result and an add read them
// back. `projection` names the 1x1 node it absorbed; the fused node takes
// the add's name and attributes (its fused relu gradient):
//
//   %block1_out.grad = conv2d_bwd_data %block2_conv1.grad, %block2_conv1.weight.NCHW16c,
//                        %block2_proj.grad, %block2_proj.weight.NCHW16c, %block1_out.relu
//                        {activation_gradient=relu, projection=block1_out.relu.grad.0, strides=[2,2], ...}
//
// Channel-blocked layouts only: the blocked kernel is the one that adds it.
#pragma once

#include <optional>
#include <string_view>

#include "ir/error.h"
#include "ir/graph.h"

namespace cnnc {

inline constexpr std::string_view kProjectionAttr = "projection";

// The projection's output gradient and filter that a node adds, if any.
struct ProjectionOperands {
  ValueId gradient, filter;
};
std::optional<ProjectionOperands> projectionOf(const Node& node);

// The projection's window: a 1x1 filter at the strides of `attrs`, unpadded.
AttributeMap projectionWindow(const AttributeMap& attrs);

// The attribute's contract, for conv2d_bwd_data's shape rule: naming the
// node it absorbed (a symbol), given exactly when the projection's two
// operands are (`operands` in all).
Status checkProjection(const AttributeMap& attrs, size_t operands);

}  // namespace cnnc

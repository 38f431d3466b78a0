// A batch norm computed by the kernels that read its result, as they load
// it (by the inline-batch-norms pass), in the manner of Halide's
// compute_inline: a training batch norm with a relu, whose statistics are
// known once the convolution before it has run, is an affine map and a max
// per element of its input. Its readers load the input instead of the
// result and apply them; the node keeps its place as the value's
// definition but gets no kernel and no buffer, where its kernel read an
// image and wrote another (and a relu mask) that the readers read back.
//
//   %block1_relu1 = batch_norm_train %block1_conv1, %block1_bn1.stats, %block1_bn1.weight, %block1_bn1.bias
//                     {activation=relu, epsilon=1e-05, fused=block1_bn1, inline=1}
//
// Its readers, each reading it once: a Winograd conv2d or conv2d_bwd_filter
// as its input (their input transforms apply it), a blocked conv2d whose
// fused relu gradient reads it as the activation's output (its store
// decides from the input, which its fused gamma gradient reads too), and a
// batch_norm_train as its residual (a residual block's shortcut: the batch
// norm computes it as it adds it).
#pragma once

#include <string_view>

#include "ir/error.h"
#include "ir/graph.h"

namespace cnnc {

inline constexpr std::string_view kInlineAttr = "inline";

// Whether `node` is inlined into its readers (attribute inline=1).
bool isInlined(const Node& node);

// Whether batch norm `id` can be inlined: a blocked batch_norm_train with
// a relu and nothing else fused (no residual, relu mask), not an output of
// the graph, read by at least one node and only by the readers above.
bool inlinable(const Graph& graph, ValueId id);

// The graph-wide contract (verifier.h): every inlined node is inlinable.
Status verifyInlinedNorms(const Graph& graph);

}  // namespace cnnc

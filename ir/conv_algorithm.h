// How a convolution's kernel computes it: directly (no attribute), or by
// Winograd's minimal filtering F(2x2, 3x3) (attribute algorithm=winograd,
// set by the select-winograd pass), which makes each 2x2 block of outputs
// from a 4x4 block of inputs with 16 multiplications per input and output
// channel where the direct kernel takes 36.
//
//   %block2_conv2 = conv2d %block2_relu1, %block2_conv2.weight {algorithm=winograd, pads=[1,1,1,1], ...}
//
// A conv2d_bwd_filter may take it too, as F(3x3, 2x2): each 2x2 block of
// output gradients and the 4x4 block of inputs it reads make their 16
// products, A dy A' . B' d B, summed over the batch and the blocks; the 3x3
// filter gradient is G' (sum) G, once per pair of channels at the end.
//
// It computes the same convolution, rounded differently: the transforms
// add and subtract inputs (and halve filter taps) before multiplying.
#pragma once

#include <string_view>

#include "ir/error.h"
#include "ir/graph.h"

namespace cnnc {

inline constexpr std::string_view kAlgorithmAttr = "algorithm";
inline constexpr std::string_view kWinograd = "winograd";

// Whether `node` asks for the Winograd kernel.
bool usesWinograd(const Node& node);

// Whether the Winograd kernel can compute conv2d `node`, or why not: a 3x3
// filter at stride 1, input and result in the same channel blocks. (An odd
// number of output rows or columns ends in blocks of which the kernel
// stores only the outputs inside.) Or conv2d_bwd_filter `node`: the same,
// with input, output gradient and result in the same blocks. (An odd
// number of output-gradient rows or columns ends in blocks whose gradients
// past them are zeros; a fused bias gradient sums the gradients as they
// are transformed.)
Status winogradApplies(const Graph& graph, const Node& node);

// The graph-wide contract (verifier.h): every algorithm attribute names
// the Winograd kernel, on a node it applies to.
Status verifyConvAlgorithms(const Graph& graph);

}  // namespace cnnc

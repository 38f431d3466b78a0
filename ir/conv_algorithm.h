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
// Either may take F(4x4, 3x3) (F(3x3, 4x4)) instead, algorithm=winograd4x4:
// each 4x4 block of outputs (output gradients) with a 6x6 block of inputs,
// 36 multiplications per block and pair of channels where F(2x2, 3x3)
// takes 64 and the direct kernel 144, for larger transforms.
//
// It computes the same convolution, rounded differently: the transforms
// add and subtract inputs (and scale filter taps) before multiplying;
// F(4x4, 3x3)'s also multiply by 2 to 8, so its rounding errors are some
// times larger.
#pragma once

#include <string_view>

#include "ir/error.h"
#include "ir/graph.h"

namespace cnnc {

inline constexpr std::string_view kAlgorithmAttr = "algorithm";
inline constexpr std::string_view kWinograd = "winograd";
inline constexpr std::string_view kWinograd4x4 = "winograd4x4";

// The side of the blocks of outputs (or output gradients) that `node`'s
// Winograd kernel makes: 2, 4 (winograd4x4), or 0 if it asks for none.
int64_t winogradBlockSide(const Node& node);

// The products per pair of channels of a Winograd kernel of blocks of
// side x side outputs, from blocks of (side + 2)^2 inputs.
inline int64_t winogradProducts(int64_t side) { return (side + 2) * (side + 2); }

// Whether `node` asks for a Winograd kernel.
inline bool usesWinograd(const Node& node) { return winogradBlockSide(node) > 0; }

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
// a Winograd kernel, on a node it applies to.
Status verifyConvAlgorithms(const Graph& graph);

}  // namespace cnnc

// Batch sums fused into the blocked convolution whose result they sum over
// (by the fuse-batch-statistics pass): each task sums the rows it has just
// written, while they are in cache, into partial sums of its own, and a
// second phase of the kernel adds them up, instead of a pass that reads the
// whole result again.
//
// Forward, attribute `stats` of a conv2d names the batch_norm_stats value of
// its result:
//
//   %block1_conv1 = conv2d %stem_out, %block1_conv1.weight {pads=[1,1,1,1], stats=block1_bn1.stats, ...}
//   %block1_bn1.stats = batch_norm_stats %block1_conv1 : f32[2,16]
//
// Backward, attribute `gamma_grad` names the batch_norm_bwd_gamma whose
// output gradient the convolution makes (a data gradient: a convolution
// with the transposed filter, or a strided conv2d_bwd_data), and with it
// the beta gradient fused into that (ir/fused_bias_gradient.h): the sums
// of dy * (x - mean) and of dy, reading the batch norm's input x beside
// the rows written.
//
//   %block1_bn1.grad = conv2d %block1_conv2.grad, %block1_conv2.weight.transposed {gamma_grad=block1_bn1.weight.grad, ...}
//   %block1_bn1.weight.grad = batch_norm_bwd_gamma %block1_bn1.grad, %block1_conv1, %block1_bn1.stats {bias_grad=..., ...}
//
// A batch_norm_bwd_gamma may name by its own attribute gamma_grad a later
// one of the same output gradient, whose sums the kernel that computes it
// (a convolution's, or its own) then adds in the same pass over dy: in a
// residual block with a projection shortcut, the gradient at the add is
// both batch norms' output gradient. The chain may go on.
//
//   %block2_out.grad = conv2d_bwd_data ... {gamma_grad=block2_proj_bn.weight.grad, ...}
//   %block2_proj_bn.weight.grad = batch_norm_bwd_gamma %block2_out.grad, %block2_proj, ...
//                                   {bias_grad=..., gamma_grad=block2_bn2.weight.grad, ...}
//   %block2_bn2.weight.grad = batch_norm_bwd_gamma %block2_out.grad, %block2_conv2, ... {bias_grad=..., ...}
//
// The named nodes stay in the graph, as the values' definitions, but get
// no kernel of their own. The attributes are schedules: the sums are the
// same but for rounding.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "ir/error.h"
#include "ir/graph.h"

namespace cnnc {

inline constexpr std::string_view kStatsAttr = "stats";
inline constexpr std::string_view kGammaGradAttr = "gamma_grad";

// Whether batch_norm_stats node `stats` can be computed by the kernel of
// `conv`: the statistics of the result of a blocked conv2d.
bool statisticsFuseInto(const Node& conv, ValueId convId, const Node& stats);

// Whether batch_norm_bwd_gamma node `gamma` can be computed by the kernel
// of `node`: a blocked conv2d or conv2d_bwd_data that makes its output
// gradient and sums nothing else (no statistics, no pooling); or another
// batch_norm_bwd_gamma of the same output gradient (whose kernel computes
// it too, the verifier adds, if `gamma` comes after it).
bool gammaGradientFusesInto(const Node& node, ValueId id, const Node& gamma);

// The statistics, or the gamma gradient, the kernel of `node` computes as
// well, if any.
std::optional<ValueId> fusedStatistics(const Graph& graph, const Node& node);
std::optional<ValueId> fusedGammaGradient(const Graph& graph, const Node& node);
// All the gamma gradients the kernel of `node` computes besides its own
// result: the one it names, then the one that one names, and so on.
std::vector<ValueId> fusedGammaGradients(const Graph& graph, const Node& node);
// Those that the kernel of batch_norm_bwd_gamma `id` computes: its own
// result, then fusedGammaGradients.
std::vector<ValueId> gammaGradientsOfKernel(const Graph& graph, ValueId id);

// The graph-wide contract (verifier.h): each named value exists and can be
// computed by its kernel (statisticsFuseInto, gammaGradientFusesInto); a
// gamma gradient is named by one node at most, and by a gamma gradient
// only from before it.
Status verifyFusedStatistics(const Graph& graph);

}  // namespace cnnc

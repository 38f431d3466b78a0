// The graph passes of cnnc. Each is a free function with one job; the
// pipeline (pipeline.h) runs them in order and verifies the graph after each.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "compiler/target.h"
#include "frontends/model.h"
#include "ir/error.h"
#include "ir/graph.h"

namespace cnnc {

// What an optimisation pass may consult besides the graph.
struct PassContext {
  Target target;  // the machine the code is for: vector width, ...
  // --tile NAME=a,b,...: tiles that choose-tiles takes instead of its own;
  // with tilesOfLargerGraph, those of values the graph lacks are left out.
  std::vector<std::string> tileOverrides{};
  bool tilesOfLargerGraph = false;
};

// The name of the step counter state that training graphs carry.
inline constexpr std::string_view kStepName = "step";

// Training mode for the forward graph: batch_norm uses batch statistics and
// updates its running statistics (assigned at the end of the step), dropout
// multiplies by a mask drawn from (seed, step). Adds the f32[] state %step.
Expected<Graph> lowerForTraining(const Graph& graph, uint64_t seed);

// Appends the backward graph of `loss` (a scalar) to `graph`, one gradient
// rule per op, and returns the gradient value of every param, in graph order.
Expected<std::vector<std::pair<ValueId, ValueId>>> differentiate(Graph& graph, ValueId loss);

// Appends the optimizer update of every (param, gradient) pair, the
// optimizer's state tensors (Adam moments, SGD velocities) and the step
// increment, each written back with `assign`.
Status appendOptimizer(Graph& graph, const std::vector<std::pair<ValueId, ValueId>>& gradients,
                       const OptimizerConfig& config);

// Keeps only the nodes that `outputs` (and any assign) depend on, and makes
// `outputs` the graph's outputs.
Expected<Graph> pruneToOutputs(const Graph& graph, const std::vector<ValueId>& outputs);

// The optimisation passes, in the order the pipeline runs them
// (kOptimizationPasses in pipeline.cpp). Each rewrites `graph` in place and
// never changes what the graph computes.

// Reorders the forward graph (before autodiff, which mirrors its order in
// the backward) so that where a value forks into branches, the branch that
// writes fewer bytes on its way to the graph's end runs first.
Status orderBranches(Graph& graph, const PassContext& context);

// conv2d, dense, batch norm or add followed by relu, sigmoid or tanh
// becomes one node of the first with that activation
// (ir/fused_activation.h), named as the activation, where the activation is
// the only user of its result.
Status fuseActivations(Graph& graph, const PassContext& context);

// relu_bwd, sigmoid_bwd or tanh_bwd of a max_pool2d_bwd whose pooled input
// is the activation's output, of a conv2d_bwd_data, a dense_bwd_data, an
// add (of a value's gradients) or a global_avg_pool2d_bwd becomes one node of the producer that
// applies the activation's gradient where it writes (max_pool2d_bwd at each
// window's maximum; the others read the activation's output, an extra
// operand), where the relu_bwd is the only user of the producer's result.
Status fuseActivationGradients(Graph& graph, const PassContext& context);

// Stores chains of convolutions and the ops between them in channel blocks
// of the target's vector width (ir/layout.h), filters and their optimizer
// state packed, with relayouts only at the chains' edges.
Status selectLayouts(Graph& graph, const PassContext& context);

// A bias_grad becomes part of the kernel of the conv2d_bwd_filter,
// dense_bwd_weight or batch_norm_bwd_gamma node that reads the same output
// gradient (the k-th such node the k-th bias_grad of it): that node gets
// attribute bias_grad naming it (ir/fused_bias_gradient.h), and comes first.
// After select-layouts, so that both read the gradient in the same layout.
Status fuseBiasGradients(Graph& graph, const PassContext& context);

// A blocked conv2d that Winograd's minimal filtering applies to (a 3x3
// filter at stride 1: ir/conv_algorithm.h) gets algorithm=winograd4x4
// (F(4x4, 3x3), up to 4 times fewer multiplications) on images of 4
// blocks of 4x4 outputs or more, or else algorithm=winograd (F(2x2, 3x3),
// up to 2.25 times fewer, from two output-channel blocks), where that pays:
// a batch of 32 or more, and a window that reads padding little enough for
// the kernel to save a third of the multiplications (select_winograd.cpp).
// That covers the data gradients of such convolutions too, which
// select-layouts made convolutions with the transposed filter, and their
// filter gradients (F(3x3, 4x4) and F(3x3, 2x2)). After select-layouts and
// before choose-tiles, which tiles Winograd kernels their own way.
Status selectWinograd(Graph& graph, const PassContext& context);

// Gives every blocked convolution the tile --tile asked for, or else the
// target's default (conv_tiles.h): register blocks and L1-sized channel
// chunks.
Status chooseTiles(Graph& graph, const PassContext& context);

// A max_pool2d or avg_pool2d of a blocked conv2d's result, whose windows
// tile it, becomes part of the convolution's kernel: each task pools the
// rows it has just written (ir/fused_pooling.h). After choose-tiles, whose
// tile must give tasks of whole windows.
Status fusePooling(Graph& graph, const PassContext& context);

// An add of two blocked conv2d_bwd_data of the same strides and result, one
// a 1x1 unpadded projection's, becomes the other with the projection's
// output gradient and filter as extra operands (ir/fused_projection.h): one
// kernel sums both into its accumulators, where two wrote their results
// and the add read them back. Named as the add and with its activation
// gradient, where the add is each one's only user. After choose-tiles,
// whose tile the other keeps, and before fuse-residual-adds, which would
// take the add otherwise.
Status fuseProjectionGradients(Graph& graph, const PassContext& context);

// An add of two values becomes the producer of one of them (a batch norm, a
// convolution or a convolution's data gradient, of which the add is the
// only user) with the other as its residual, added as it stores
// (ir/fused_residual.h), named as the add and with its activation or
// activation gradient. After select-layouts, and after the fusions that
// make those adds.
Status fuseResidualAdds(Graph& graph, const PassContext& context);

// An inference batch norm of a blocked conv2d's result, which only it
// reads and to which the convolution applies nothing yet, becomes that
// conv2d applying it as it stores (ir/fused_norm.h), with its gamma, beta
// and running statistics as extra operands, named as the batch norm and
// with its residual and activation: one kernel where the convolution wrote
// its result and the batch norm read it back and wrote another. After
// fuse-residual-adds, which gives the batch norms their residuals, and
// before fuse-residual-norms, which would take a folded projection's.
Status foldBatchNorms(Graph& graph, const PassContext& context);

// A batch norm's fused residual that another batch norm makes, which
// applies nothing else to its result and which only this one reads (a
// projection shortcut's), is computed in its kernel from that batch norm's
// operands (ir/fused_residual.h): one kernel where the other wrote it and
// this one read it back. After fuse-residual-adds.
Status fuseResidualNorms(Graph& graph, const PassContext& context);

// The batch statistics of a blocked convolution's result, or the gamma and
// beta gradients of the batch norm whose output gradient it is, become part
// of its kernel: each task sums the rows it has just written, and a second
// phase adds the tasks' sums (ir/fused_statistics.h). The gamma gradients
// of one output gradient chain, each computed with the one before it. Last: after
// select-layouts, and after fuse-residual-adds, whose fused adds make
// output gradients.
Status fuseBatchStatistics(Graph& graph, const PassContext& context);

// A blocked training batch norm with a relu that only Winograd
// convolutions' input transforms, blocked convolutions' relu gradients and
// training batch norms' residuals read is computed by them as they load it
// (ir/inlined_norm.h: attribute inline=1): no kernel, no buffer. After fuse-batch-statistics, whose
// gamma gradients read its input beside the relu gradient, and before
// use-relu-masks, which would give it a mask to write.
Status inlineBatchNorms(Graph& graph, const PassContext& context);

// A fused relu gradient reads a bit mask of where the relu's output is
// positive instead of that output, a 32nd of the bytes, where the output is
// a blocked batch norm's with the relu applied, which then writes the mask
// too (ir/fused_relu_mask.h). After the fusions that make the gradients'
// nodes.
Status useReluMasks(Graph& graph, const PassContext& context);

// Each adam_apply computes its two moments in its kernel, where only it
// (and their assigns) reads them (ir/fused_moments.h): one pass over the
// weight, its gradient and its moments where three kernels made three.
Status fuseAdamMoments(Graph& graph, const PassContext& context);

// Each batch norm's data gradient runs a chunk of the batch at a time
// together with the convolutions' gradients that read it (ir/batch_group.h:
// attribute batch_group): the runtime runs each chunk through all of them
// while the cache holds what the first wrote. Kernels made from params
// alone (filter transposes) that the group passes over move before it.
// Last: it groups kernels, which the fusions make.
Status interleaveBatch(Graph& graph, const PassContext& context);

}  // namespace cnnc

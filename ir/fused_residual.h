// A residual add fused into the node that makes one of its operands (by
// the fuse-residual-adds pass). A batch_norm, batch_norm_train, conv2d or
// conv2d_bwd_data node with attribute `residual` is the add of that op's
// result and an extra operand after its own, the residual, which has the
// result's type: the kernel adds it as it stores, where the producer's
// kernel would write its result and the add's read it back. (A fused
// activation gradient's activation output comes after the residual.)
//
// The node takes the add's name and attributes (a fused activation or
// activation gradient, which applies to the sum); `residual` names the node
// it absorbed, so that dumps and profiles still show that layer:
//
//   %block1_out.relu = batch_norm_train %block1_conv2, %block1_bn2.stats, %block1_bn2.weight,
//                        %block1_bn2.bias, %stem_out
//                        {activation=relu, epsilon=1e-05, fused=block1_out, residual=block1_bn2}
//   %stem_bn.grad = conv2d %block1_conv1.grad, %block1_conv1.weight.transposed, %block1_out.grad, %stem_out
//                     {activation_gradient=relu, fused=stem_out.grad, residual=stem_out.grad.1, ...}
//
// A batch norm's residual that is itself the result of a batch norm of the
// same form, which applies nothing else and which only it reads, is
// computed in its kernel from that batch norm's operands (by the
// fuse-residual-norms pass), where the other's kernel wrote it and this
// one read it back: attribute `residual_norm` names it. That node stays in
// the graph, as the value's definition, with no kernel (ir/kernel_results.h)
// and its buffer never written:
//
//   %block2_proj_bn = batch_norm_train %block2_proj, %block2_proj_bn.stats, ... {epsilon=1e-05}
//   %block2_out.relu = batch_norm_train %block2_conv2, ..., %block2_proj_bn
//                        {activation=relu, ..., residual=block2_bn2, residual_norm=block2_proj_bn}
#pragma once

#include <optional>
#include <string_view>

#include "ir/error.h"
#include "ir/graph.h"

namespace cnnc {

inline constexpr std::string_view kResidualAttr = "residual";
inline constexpr std::string_view kResidualNormAttr = "residual_norm";

// batch_norm, batch_norm_train, conv2d and conv2d_bwd_data: the ops that
// add a fused residual.
bool addsResidual(Op op);

// The residual a node adds to its result, if any.
std::optional<ValueId> residualOf(const Node& node);

// The attribute's contract, for the op's shape rule: on ops that add a
// residual only, and naming the node it absorbed (a symbol).
Status checkResidual(Op op, const AttributeMap& attrs);

// Whether the kernel of batch norm `node` can compute its residual, made by
// `norm`, itself: a batch norm of the same op that applies nothing to its
// result (no activation, residual or relu mask), of the same type. (That
// `node` is the only user of `norm`'s result the graph-wide check adds.)
bool residualNormFusesInto(const Node& node, const Node& norm);

// The batch norm whose result the kernel of `node` computes as its residual, if any.
std::optional<ValueId> fusedResidualNorm(const Graph& graph, const Node& node);

// The graph-wide contract (verifier.h): attribute residual_norm names the
// producer of the node's residual, which residualNormFusesInto accepts and
// which no other node reads, nor the graph returns.
Status verifyResidualNorms(const Graph& graph);

}  // namespace cnnc

// The activation functions in generated code, one formula each, for a
// float or a vector of floats: the relu, sigmoid and tanh nodes and their
// gradients, and what a node applies to its results before storing them: a
// residual (fused by fuse-residual-adds, ir/fused_residual.h), then an
// activation or activation gradient (fused by fuse-activations and
// fuse-activation-gradients, ir/fused_activation.h).
#pragma once

#include "compiler/codegen/kernel_builder.h"

namespace cnnc {

// relu, sigmoid or tanh (`activation`) of x.
llvm::Value* applyActivation(KernelBuilder& kb, Op activation, llvm::Value* x);

// The value that `node` stores at element `index` of its buffer (the first
// of a vector's lanes, those where `mask` is set; all if null): `result`
// plus the node's fused residual, through its fused activation or its fused
// activation gradient, the residual and the activation's output read at the
// same index (they have the result's type and layout), or the bits there
// of a relu gradient's mask (ir/fused_relu_mask.h); `result` itself if it
// has none of them.
// (max_pool2d_bwd applies its activation gradient where the gradient lands.)
// A kernel that computes the residual itself (ir/fused_residual.h:
// residual_norm) passes its value as `residual`, and one that computes the
// activation's output (an inlined batch norm's, ir/inlined_norm.h) passes
// that as `activationOutput`.
llvm::Value* finishResult(KernelBuilder& kb, const Node& node, llvm::Value* result, llvm::Value* index,
                          llvm::Value* mask = nullptr, llvm::Value* residual = nullptr,
                          llvm::Value* activationOutput = nullptr);

// The values finishResult reads for `node` (of `graph`) at the index of
// each element it finishes: its residual and its activation's output, if it
// has them (not a relu mask, whose bits lie elsewhere; an inlined batch
// norm's input in place of its output).
std::vector<ValueId> finishOperands(const Graph& graph, const Node& node);

// Where relu lets the gradient through, from its output y (lanes of a
// vector, or an i1): y > 0. What a relu mask's bits hold (ir/fused_relu_mask.h).
llvm::Value* reluPasses(KernelBuilder& kb, llvm::Value* y);

// The gradient through relu, sigmoid or tanh (`activation`) of `gradient`,
// from the activation's output y; floats or vectors.
llvm::Value* activationGradient(KernelBuilder& kb, Op activation, llvm::Value* gradient, llvm::Value* y);

}  // namespace cnnc

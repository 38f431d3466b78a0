// The activation functions in generated code, one formula each, for a
// float or a vector of floats: the relu, sigmoid and tanh nodes, and the
// activation a conv2d, dense or batch norm node applies to its results
// before storing them (fused by fuse-activations, ir/fused_activation.h).
#pragma once

#include "compiler/codegen/kernel_builder.h"

namespace cnnc {

// relu, sigmoid or tanh (`activation`) of x.
llvm::Value* applyActivation(KernelBuilder& kb, Op activation, llvm::Value* x);

// x with `node`'s fused activation applied; x itself if it has none.
llvm::Value* applyActivation(KernelBuilder& kb, const Node& node, llvm::Value* x);

// The gradient through relu, sigmoid or tanh (`activation`) of `gradient`,
// from the activation's output y; floats or vectors.
llvm::Value* activationGradient(KernelBuilder& kb, Op activation, llvm::Value* gradient, llvm::Value* y);

}  // namespace cnnc

// The kernel emitters, one file per family of ops. Each emits the body of
// the kernel of node `id` into `kb` and returns the number of tasks of its
// last phase (KernelPhase; most kernels have one): the units of work
// [0, tasks) that the phase's (begin, end) range selects, each independent
// of the others.
#pragma once

#include <cstdint>

#include "compiler/codegen/kernel_builder.h"

namespace cnnc {

int64_t emitConvolution(KernelBuilder& kb, ValueId id);   // conv2d and its backward ops
int64_t emitDense(KernelBuilder& kb, ValueId id);         // dense and its backward ops
int64_t emitBiasGrad(KernelBuilder& kb, ValueId id);      // bias_grad
// The channels of channel group `group` (of ChannelLanes) of bias gradient
// `bias`, the sum of `dy` over every axis but the channel: a bias_grad's
// task, or a fused one's in the kernel that computes it.
void emitBiasGradGroup(KernelBuilder& kb, ValueId bias, ValueId dy, llvm::Value* group);
int64_t emitPooling(KernelBuilder& kb, ValueId id);       // max/avg/global pooling and backward
// The output rows [firstRow, endRow) of plane `plane` (image, channel
// group) of max or avg pooling node `pool`: a fused pooling's share of a
// convolution's task (ir/fused_pooling.h).
void emitPoolingRows(KernelBuilder& kb, ValueId pool, llvm::Value* plane, llvm::Value* firstRow, llvm::Value* endRow);
int64_t emitNormalization(KernelBuilder& kb, ValueId id); // batch_norm in all its forms
int64_t emitLoss(KernelBuilder& kb, ValueId id);          // softmax, softmax_xent and backward
int64_t emitElementwise(KernelBuilder& kb, ValueId id);   // activations, add, mul, copies, optimizers
int64_t emitDataMovement(KernelBuilder& kb, ValueId id);  // concat, channel_slice
int64_t emitRelayout(KernelBuilder& kb, ValueId id);      // relayout, filter_transpose
int64_t emitReluMask(KernelBuilder& kb, ValueId id);      // relu_mask
// conv2d and its backward ops in channel-blocked layouts (blocked_conv.h)
int64_t emitBlockedForward(KernelBuilder& kb, ValueId id);
int64_t emitBlockedBackwardData(KernelBuilder& kb, ValueId id);
int64_t emitBlockedFilterGradient(KernelBuilder& kb, ValueId id);

// The sliding window of conv2d and pooling nodes: strides and pads attributes.
struct WindowAttrs {
  int64_t sh, sw, padTop, padLeft;
};
WindowAttrs windowAttrs(const Node& node);

}  // namespace cnnc

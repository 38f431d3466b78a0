// The ops whose kernels run in blocked layouts (ir/layout.h), and in which.
// Shared by code generation, which refuses blocked operands anywhere else,
// and by layout selection, which blocks only values these ops produce and
// consume.
#pragma once

#include "ir/layout.h"

namespace cnnc {

inline bool hasBlockedKernel(Op op, Layout layout) {
  switch (op) {
    // Layout changes and the channel-blocked convolutions (emit_conv_blocked.cpp).
    case Op::Relayout:
    case Op::FilterTranspose:
    case Op::Conv2D:
    case Op::Conv2DBackwardFilter: return true;
    // Pooling and per-channel kernels (WindowLanes, ChannelLanes) block channels.
    case Op::MaxPool2D:
    case Op::AvgPool2D:
    case Op::GlobalAvgPool2D:
    case Op::MaxPool2DBackward:
    case Op::AvgPool2DBackward:
    case Op::GlobalAvgPool2DBackward:
    case Op::BatchNorm:
    case Op::BatchNormStats:
    case Op::BatchNormTrain:
    case Op::BatchNormBackwardGamma:
    case Op::BatchNormBackwardData:
    case Op::BiasGrad: return isActivationLayout(layout);
    // The rest run over flat buffers: any layout all their operands share.
    default: return sharesOneLayout(op);
  }
}

}  // namespace cnnc

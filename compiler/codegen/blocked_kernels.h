// The ops whose kernels run in blocked layouts (ir/layout.h), and in which.
// Shared by code generation, which refuses blocked operands anywhere else,
// and by layout selection, which blocks only values these ops produce and
// consume.
#pragma once

#include "ir/layout.h"

namespace cnnc {

inline bool hasBlockedKernel(Op op, Layout layout) {
  switch (op) {
    // Layout changes and the channel-blocked convolutions (emit_conv_blocked_*.cpp).
    case Op::Relayout:
    case Op::FilterTranspose:
    case Op::Conv2D:
    case Op::Conv2DBackwardData:
    case Op::Conv2DBackwardFilter: return true;
    // A relu mask only exists blocked (ir/fused_relu_mask.h).
    case Op::ReluMask: return isActivationLayout(layout);
    // Pooling and per-channel kernels (WindowLanes, ChannelLanes) block
    // channels; the rest run over flat buffers, in any layout all their
    // operands share.
    default: return addressesChannels(op) ? isActivationLayout(layout) : sharesOneLayout(op);
  }
}

}  // namespace cnnc

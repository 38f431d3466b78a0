// Memory layouts beyond row-major: what a blocked layout means element by
// element, and which layouts each op accepts and produces.
//
// A blocked layout splits one axis of a 4-D tensor into blocks of b and
// moves the position inside the block innermost: NCHW16c stores [N,C,H,W]
// as [N, C/16, H, W, 16] (a vector of 16 channels per pixel), OIhw16o stores
// a filter [F,C,KH,KW] as [F/16, C, KH, KW, 16]. The blocked axis must be a
// multiple of b: layout selection only picks a layout that fits.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "ir/attribute.h"
#include "ir/error.h"
#include "ir/op.h"
#include "ir/type.h"

namespace cnnc {

// Block size of a layout (1 for Plain) and the axis it blocks (channels for
// activations, output channels for filters).
int64_t layoutBlock(Layout layout);
int64_t blockedAxis(Layout layout);
bool isActivationLayout(Layout layout);  // NCHW8c, NCHW16c
bool isFilterLayout(Layout layout);      // OIhw8o, OIhw16o
// The activation and filter layouts with blocks of `block` (8 or 16).
Layout activationLayout(int64_t block);
Layout filterLayout(int64_t block);

// Whether a tensor of `dims` can be stored in `layout`; Plain always can.
bool layoutFits(Layout layout, const std::vector<int64_t>& dims);

// The position in memory of the element at row-major logical index
// `logical`, for a type whose layout fits its dims.
int64_t physicalIndex(const TensorType& type, int64_t logical);
// Rearranges a whole tensor between logical row-major order and its layout.
void toPhysical(const TensorType& type, std::span<const float> logical, std::span<float> physical);
void toLogical(const TensorType& type, std::span<const float> physical, std::span<float> logical);

// Ops whose 4-D operands and 4-D result all share one layout, whichever it
// is; their other operands (biases, statistics, scalars) stay plain. Their
// kernels either run over the flat buffer (elementwise ops, optimizer
// updates) or address images by channel (addressesChannels).
bool sharesOneLayout(Op op);
// Pooling, batch norm and bias gradients: ops sharing one layout whose
// kernels address their images pixel by pixel, channel by channel.
bool addressesChannels(Op op);

// The layout of `op`'s result given its operands (their layouts included)
// and attributes, or why the combination is not allowed. `result` is the
// result's logical type.
Expected<Layout> inferLayout(Op op, const std::vector<TensorType>& operands, const AttributeMap& attrs,
                             const TensorType& result);

}  // namespace cnnc

#include "ir/layout.h"

#include <algorithm>

#include <fmt/format.h>

#include "ir/op_checks.h"

namespace cnnc {

int64_t layoutBlock(Layout layout) {
  switch (layout) {
    case Layout::Plain: return 1;
    case Layout::NCHW8c:
    case Layout::OIhw8o: return 8;
    case Layout::NCHW16c:
    case Layout::OIhw16o: return 16;
  }
  return 1;
}

int64_t blockedAxis(Layout layout) { return isFilterLayout(layout) ? 0 : 1; }
bool isActivationLayout(Layout layout) { return layout == Layout::NCHW8c || layout == Layout::NCHW16c; }
bool isFilterLayout(Layout layout) { return layout == Layout::OIhw8o || layout == Layout::OIhw16o; }
Layout activationLayout(int64_t block) { return block == 16 ? Layout::NCHW16c : Layout::NCHW8c; }
Layout filterLayout(int64_t block) { return block == 16 ? Layout::OIhw16o : Layout::OIhw8o; }

bool layoutFits(Layout layout, const std::vector<int64_t>& dims) {
  if (layout == Layout::Plain) return true;
  return dims.size() == 4 && dims[static_cast<size_t>(blockedAxis(layout))] % layoutBlock(layout) == 0;
}

int64_t physicalIndex(const TensorType& type, int64_t logical) {
  if (type.layout == Layout::Plain) return logical;
  const std::vector<int64_t>& d = type.dims;
  int64_t coords[4];
  for (int axis = 3; axis >= 0; --axis) {
    coords[axis] = logical % d[static_cast<size_t>(axis)];
    logical /= d[static_cast<size_t>(axis)];
  }
  // Row-major over the dims with the blocked axis divided by b, then the
  // position inside the block.
  const int64_t b = layoutBlock(type.layout), blocked = blockedAxis(type.layout);
  int64_t index = 0;
  for (int64_t axis = 0; axis < 4; ++axis) {
    const int64_t extent = axis == blocked ? d[static_cast<size_t>(axis)] / b : d[static_cast<size_t>(axis)];
    index = index * extent + (axis == blocked ? coords[axis] / b : coords[axis]);
  }
  return index * b + coords[blocked] % b;
}

void toPhysical(const TensorType& type, std::span<const float> logical, std::span<float> physical) {
  // Plain (every step's batch of images) is a copy; blocked tensors (resident
  // weights) are converted only when bound or read.
  if (type.layout == Layout::Plain) {
    std::copy(logical.begin(), logical.end(), physical.begin());
    return;
  }
  for (size_t i = 0; i < logical.size(); ++i)
    physical[static_cast<size_t>(physicalIndex(type, static_cast<int64_t>(i)))] = logical[i];
}

void toLogical(const TensorType& type, std::span<const float> physical, std::span<float> logical) {
  if (type.layout == Layout::Plain) {
    std::copy(physical.begin(), physical.begin() + static_cast<std::ptrdiff_t>(logical.size()), logical.begin());
    return;
  }
  for (size_t i = 0; i < logical.size(); ++i)
    logical[i] = physical[static_cast<size_t>(physicalIndex(type, static_cast<int64_t>(i)))];
}

bool addressesChannels(Op op) {
  switch (op) {
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
    case Op::BiasGrad: return true;
    default: return false;
  }
}

bool sharesOneLayout(Op op) {
  switch (op) {
    // Flat elementwise ops and optimizer updates: the same index everywhere.
    case Op::Relu:
    case Op::Sigmoid:
    case Op::Tanh:
    case Op::Add:
    case Op::Mul:
    case Op::Dropout:
    case Op::ReluBackward:
    case Op::SigmoidBackward:
    case Op::TanhBackward:
    case Op::SgdVelocity:
    case Op::SgdApply:
    case Op::AdamMoment:
    case Op::AdamApply:
    case Op::Assign: return true;
    default: return addressesChannels(op);
  }
}

namespace {

using checks::fail;

Error wrongLayouts(Op op, const std::vector<TensorType>& operands) {
  std::string layouts;
  for (const TensorType& t : operands) {
    if (!layouts.empty()) layouts += ", ";
    layouts += t.layout == Layout::Plain ? "plain" : std::string(layoutName(t.layout));
  }
  return fail(fmt::format("{} does not take operands in layouts ({})", mnemonic(op), layouts));
}

bool allPlain(const std::vector<TensorType>& operands) {
  return std::all_of(operands.begin(), operands.end(), [](const TensorType& t) { return t.layout == Layout::Plain; });
}

Expected<Layout> sharedLayout(Op op, const std::vector<TensorType>& operands, const TensorType& result) {
  std::optional<Layout> shared;
  for (const TensorType& t : operands) {
    if (t.rank() != 4) {
      if (t.layout != Layout::Plain) return wrongLayouts(op, operands);
      continue;
    }
    if (shared && *shared != t.layout) return wrongLayouts(op, operands);
    shared = t.layout;
  }
  const Layout layout = shared.value_or(Layout::Plain);
  return result.rank() == 4 ? layout : Layout::Plain;
}

// conv2d(x, w [, bias]): a filter in blocks of b gives a result in blocks
// of b, from an input that is plain (the first layer's few channels) or
// blocked alike. conv2d_bwd_data(dy, w) alike, its filter blocked along
// the input channels, which are the result's: NCHW{b}c blocks axis 1 of any
// 4-D tensor; a fused projection's (ir/fused_projection.h) blocked as its
// own, and only so. conv2d_bwd_filter(x, dy): a blocked dy gives the filter
// gradient in the filter layout.
Expected<Layout> convLayout(Op op, const std::vector<TensorType>& operands) {
  const TensorType& x = operands[0];
  const TensorType& blockedBy = operands[1];
  const bool projection = op == Op::Conv2DBackwardData && operands.size() == 4;
  if (blockedBy.layout == Layout::Plain) {
    if (projection) return fail(fmt::format("{} adds a projection in channel-blocked layouts only", mnemonic(op)));
    if (!allPlain(operands)) return wrongLayouts(op, operands);
    return Layout::Plain;
  }
  const int64_t b = layoutBlock(blockedBy.layout);
  const Layout expected = op == Op::Conv2D ? filterLayout(b) : activationLayout(b);
  const bool inputOk = x.layout == Layout::Plain || x.layout == activationLayout(b);
  const bool biasOk = op != Op::Conv2D || operands.size() < 3 || operands[2].layout == Layout::Plain;
  const bool projectionOk = !projection || (operands[2].layout == x.layout && operands[3].layout == blockedBy.layout);
  if (blockedBy.layout != expected || !inputOk || !biasOk || !projectionOk) return wrongLayouts(op, operands);
  return op == Op::Conv2DBackwardFilter ? filterLayout(b) : activationLayout(b);
}

Expected<Layout> attributeLayout(Op op, const AttributeMap& attrs) {
  std::optional<std::string> name = getSymbol(attrs, "layout");
  if (!name) return fail(fmt::format("{} needs a symbol attribute layout (plain, NCHW16c, ...)", mnemonic(op)));
  if (*name == "plain") return Layout::Plain;
  if (std::optional<Layout> layout = layoutFromName(*name)) return *layout;
  return fail(fmt::format("{} has an unknown layout {}", mnemonic(op), *name));
}

// relu_mask: its operand's layout, which must block channels
// (ir/fused_relu_mask.h).
Expected<Layout> reluMaskLayout(const TensorType& y) {
  if (isActivationLayout(y.layout)) return y.layout;
  return fail(fmt::format("relu_mask takes a channel-blocked operand (NCHW8c or NCHW16c), got {}", toString(y)));
}

}  // namespace

Expected<Layout> inferLayout(Op op, const std::vector<TensorType>& operands, const AttributeMap& attrs,
                             const TensorType& result) {
  Expected<Layout> layout = [&]() -> Expected<Layout> {
    if (op == Op::Relayout || op == Op::FilterTranspose) return attributeLayout(op, attrs);
    if (op == Op::ReluMask) return reluMaskLayout(operands[0]);
    if (op == Op::Conv2D || op == Op::Conv2DBackwardData || op == Op::Conv2DBackwardFilter) return convLayout(op, operands);
    if (sharesOneLayout(op)) return sharedLayout(op, operands, result);
    if (!allPlain(operands)) return wrongLayouts(op, operands);
    return Layout::Plain;
  }();
  if (layout && !layoutFits(*layout, result.dims))
    return fail(fmt::format("{} result {} does not fit layout {}", mnemonic(op), dimsToString(result.dims),
                            layoutName(*layout)));
  return layout;
}

}  // namespace cnnc

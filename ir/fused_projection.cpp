#include "ir/fused_projection.h"

#include <fmt/format.h>

namespace cnnc {

std::optional<ProjectionOperands> projectionOf(const Node& node) {
  if (node.op != Op::Conv2DBackwardData || !node.attrs.contains(kProjectionAttr)) return std::nullopt;
  return ProjectionOperands{node.operands[2], node.operands[3]};
}

AttributeMap projectionWindow(const AttributeMap& attrs) {
  AttributeMap window;
  if (auto strides = attrs.find("strides"); strides != attrs.end()) window.emplace(strides->first, strides->second);
  window.emplace("pads", IntList{0, 0, 0, 0});
  return window;
}

Status checkProjection(const AttributeMap& attrs, size_t operands) {
  auto found = attrs.find(kProjectionAttr);
  const bool named = found != attrs.end();
  if (named && !std::holds_alternative<Symbol>(found->second))
    return Error{fmt::format("conv2d_bwd_data attribute {} must name the node it absorbed, got {}", kProjectionAttr,
                             toString(found->second))};
  if (named && operands != 4)
    return Error{fmt::format("conv2d_bwd_data with attribute {} takes the projection's output gradient and filter "
                             "after its own two operands, got {} operands",
                             kProjectionAttr, operands)};
  if (!named && operands != 2)
    return Error{fmt::format("conv2d_bwd_data takes 2 operands (4 with attribute {}), got {}", kProjectionAttr,
                             operands)};
  return Status::ok();
}

}  // namespace cnnc

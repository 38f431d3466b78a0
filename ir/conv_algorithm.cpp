#include "ir/conv_algorithm.h"

#include <fmt/format.h>

#include "ir/layout.h"
#include "ir/printer.h"

namespace cnnc {

int64_t winogradBlockSide(const Node& node) {
  const std::optional<std::string> algorithm = getSymbol(node.attrs, kAlgorithmAttr);
  return algorithm == kWinograd ? 2 : algorithm == kWinograd4x4 ? 4 : 0;
}

Status winogradApplies(const Graph& graph, const Node& node) {
  if (node.op != Op::Conv2D && node.op != Op::Conv2DBackwardFilter)
    return Error{"only conv2d and conv2d_bwd_filter have a Winograd kernel"};
  const bool gradient = node.op == Op::Conv2DBackwardFilter;
  const int64_t block = layoutBlock(node.type.layout);
  if (block == 1 || layoutBlock(graph.node(node.operands[0]).type.layout) != block ||
      (gradient && layoutBlock(graph.node(node.operands[1]).type.layout) != block))
    return Error{gradient ? "the Winograd kernel needs its input, output gradient and result in the same channel blocks"
                          : "the Winograd kernel needs its input and result in the same channel blocks"};
  const std::vector<int64_t>& w = gradient ? node.type.dims : graph.node(node.operands[1]).type.dims;
  if (w[2] != 3 || w[3] != 3) return Error{fmt::format("the Winograd kernel needs a 3x3 filter, not {}x{}", w[2], w[3])};
  if (getInts(node.attrs, "strides") != IntList{1, 1}) return Error{"the Winograd kernel needs strides [1,1]"};
  return Status::ok();
}

Status verifyConvAlgorithms(const Graph& graph) {
  for (const Node& node : graph.nodes()) {
    if (!node.attrs.contains(kAlgorithmAttr)) continue;
    auto fails = [&](const std::string& why) {
      return Error{fmt::format("{} {}: {}", mnemonic(node.op), valueRef(node.name), why)};
    };
    if (!usesWinograd(node))
      return fails(fmt::format("unknown algorithm {}; there are {} and {}",
                               toString(node.attrs.find(kAlgorithmAttr)->second), kWinograd, kWinograd4x4));
    if (Status applies = winogradApplies(graph, node); !applies) return fails(applies.error().message);
  }
  return Status::ok();
}

}  // namespace cnnc

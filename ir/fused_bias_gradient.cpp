#include "ir/fused_bias_gradient.h"

#include <fmt/format.h>

#include "ir/kernel_results.h"
#include "ir/printer.h"

namespace cnnc {

bool isWeightGradient(Op op) {
  return op == Op::Conv2DBackwardFilter || op == Op::DenseBackwardWeight || op == Op::BatchNormBackwardGamma;
}

ValueId outputGradientOf(const Node& weightGradient) {
  return weightGradient.operands[weightGradient.op == Op::Conv2DBackwardFilter ? 1 : 0];
}

std::optional<ValueId> fusedBiasGradient(const Graph& graph, const Node& node) {
  return valueNamedBy(graph, node, kBiasGradAttr);
}

Status verifyFusedBiasGradients(const Graph& graph) {
  std::vector<bool> claimed(graph.size(), false);
  for (ValueId id = 0; id < graph.size(); ++id) {
    const Node& node = graph.node(id);
    std::optional<std::string> name = getSymbol(node.attrs, kBiasGradAttr);
    if (!name) continue;
    auto fail = [&](std::string_view why) {
      return Error{fmt::format("{} = {}: attribute {}={} {}", valueRef(node.name), mnemonic(node.op), kBiasGradAttr,
                               *name, why)};
    };
    std::optional<ValueId> bias = graph.lookup(*name);
    if (!bias) return fail("names no value");
    const Node& target = graph.node(*bias);
    if (target.op != Op::BiasGrad || target.operands[0] != outputGradientOf(node))
      return fail(fmt::format("must name a bias_grad of {}", valueRef(graph.node(outputGradientOf(node)).name)));
    if (*bias < id) return fail("names a value defined before the node");
    if (claimed[*bias]) return fail("names a value another node computes");
    claimed[*bias] = true;
  }
  return Status::ok();
}

}  // namespace cnnc

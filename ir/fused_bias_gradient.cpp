#include "ir/fused_bias_gradient.h"

#include <fmt/format.h>

#include "ir/printer.h"

namespace cnnc {

bool isWeightGradient(Op op) {
  return op == Op::Conv2DBackwardFilter || op == Op::DenseBackwardWeight || op == Op::BatchNormBackwardGamma;
}

ValueId outputGradientOf(const Node& weightGradient) {
  return weightGradient.operands[weightGradient.op == Op::Conv2DBackwardFilter ? 1 : 0];
}

std::optional<ValueId> fusedBiasGradient(const Graph& graph, const Node& node) {
  std::optional<std::string> name = getSymbol(node.attrs, kBiasGradAttr);
  if (!name) return std::nullopt;
  return graph.lookup(*name);
}

std::vector<ValueId> computingKernels(const Graph& graph) {
  std::vector<ValueId> kernel(graph.size());
  for (ValueId id = 0; id < graph.size(); ++id) kernel[id] = id;
  for (ValueId id = 0; id < graph.size(); ++id)
    if (std::optional<ValueId> bias = fusedBiasGradient(graph, graph.node(id))) kernel[*bias] = id;
  return kernel;
}

Status checkBiasGradAttr(Op op, const AttributeMap& attrs) {
  auto found = attrs.find(kBiasGradAttr);
  if (found == attrs.end() || std::holds_alternative<Symbol>(found->second)) return Status::ok();
  return Error{fmt::format("{} attribute {} must name a value, got {}", mnemonic(op), kBiasGradAttr,
                           toString(found->second))};
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

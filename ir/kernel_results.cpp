#include "ir/kernel_results.h"

#include <fmt/format.h>

#include "ir/fused_bias_gradient.h"
#include "ir/fused_moments.h"
#include "ir/fused_pooling.h"
#include "ir/fused_relu_mask.h"
#include "ir/fused_residual.h"
#include "ir/fused_statistics.h"
#include "ir/inlined_norm.h"
#include "ir/printer.h"

namespace cnnc {

std::optional<ValueId> valueNamedBy(const Graph& graph, const Node& node, std::string_view key) {
  std::optional<std::string> name = getSymbol(node.attrs, key);
  if (!name) return std::nullopt;
  return graph.lookup(*name);
}

Status checkValueAttr(Op op, const AttributeMap& attrs, std::string_view key) {
  auto found = attrs.find(key);
  if (found == attrs.end() || std::holds_alternative<Symbol>(found->second)) return Status::ok();
  return Error{fmt::format("{} attribute {} must name a value, got {}", mnemonic(op), key, toString(found->second))};
}

Status verifyNamedValues(const Graph& graph, std::string_view key, FusesInto fuses, std::string_view what) {
  for (ValueId id = 0; id < graph.size(); ++id) {
    const Node& node = graph.node(id);
    std::optional<std::string> name = getSymbol(node.attrs, key);
    if (!name) continue;
    std::optional<ValueId> value = graph.lookup(*name);
    if (!value || !fuses(node, id, graph.node(*value)))
      return Error{fmt::format("{} = {}: attribute {}={} must name {}", valueRef(node.name), mnemonic(node.op), key,
                               *name, what)};
  }
  return Status::ok();
}

std::vector<ValueId> extraResults(const Graph& graph, const Node& node) {
  std::vector<ValueId> results;
  for (std::optional<ValueId> value : {fusedBiasGradient(graph, node), fusedPooling(graph, node),
                                       fusedStatistics(graph, node), fusedGammaGradient(graph, node),
                                       fusedReluMask(graph, node), fusedResidualNorm(graph, node)})
    if (value) results.push_back(*value);
  for (ValueId moment : fusedMoments(graph, node)) results.push_back(moment);
  return results;
}

std::vector<ValueId> kernelReads(const Graph& graph, const Node& node) {
  std::vector<ValueId> reads;
  for (size_t k = node.op == Op::Assign ? 1 : 0; k < node.operands.size(); ++k) {
    const Node& operand = graph.node(node.operands[k]);
    if (isInlined(operand))
      reads.insert(reads.end(), operand.operands.begin(), operand.operands.end());
    else
      reads.push_back(node.operands[k]);
  }
  return reads;
}

std::vector<ValueId> computingKernels(const Graph& graph) {
  std::vector<ValueId> kernel(graph.size());
  for (ValueId id = 0; id < graph.size(); ++id) kernel[id] = id;
  // In the graph's order, so that the extra result of an extra result (the
  // beta gradient fused into a gamma gradient fused into a convolution)
  // goes to the kernel that computes the first.
  for (ValueId id = 0; id < graph.size(); ++id)
    for (ValueId value : extraResults(graph, graph.node(id))) kernel[value] = kernel[id];
  return kernel;
}

}  // namespace cnnc

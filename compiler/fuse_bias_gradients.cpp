// Bias-gradient fusion (ir/fused_bias_gradient.h). Algorithm: list the
// bias_grad nodes of each output gradient in graph order; pair the k-th
// weight-gradient node that reads a gradient with its k-th bias_grad (all
// of them sum the same values; in autodiff's graphs the order pairs each
// layer's weight and bias, as where two batch norms read one gradient in a
// residual block); rebuild the graph with each pair together, at the first
// of the two positions: the weight-gradient node, which gets attribute
// bias_grad, then the bias_grad.
// A pair whose bias_grad comes first is fused only if the weight-gradient
// node's operands are all defined before it (they are in autodiff's graphs:
// the input it reads is a forward value).
#include <deque>
#include <optional>
#include <vector>

#include "compiler/graph_rebuilder.h"
#include "compiler/passes.h"
#include "ir/fused_bias_gradient.h"

namespace cnnc {
namespace {

// The partner of each node of a fusible pair (weight gradient <-> bias_grad).
std::vector<std::optional<ValueId>> fusiblePairs(const Graph& graph) {
  std::vector<std::deque<ValueId>> biasesOf(graph.size());
  std::vector<std::optional<ValueId>> partner(graph.size());
  for (ValueId id = 0; id < graph.size(); ++id) {
    const Node& node = graph.node(id);
    if (node.op == Op::BiasGrad) biasesOf[node.operands[0]].push_back(id);
  }
  for (ValueId id = 0; id < graph.size(); ++id) {
    const Node& node = graph.node(id);
    if (!isWeightGradient(node.op) || node.attrs.contains(kBiasGradAttr)) continue;
    std::deque<ValueId>& biases = biasesOf[outputGradientOf(node)];
    if (biases.empty()) continue;
    const ValueId bias = biases.front();
    biases.pop_front();
    bool movable = true;
    for (ValueId operand : node.operands) movable = movable && operand < bias;
    if (bias < id && !movable) continue;
    partner[id] = bias;
    partner[bias] = id;
  }
  return partner;
}

}  // namespace

Status fuseBiasGradients(Graph& graph, const PassContext&) {
  const std::vector<std::optional<ValueId>> partner = fusiblePairs(graph);
  GraphRebuilder rebuilder(graph);
  for (ValueId id = 0; id < graph.size(); ++id) {
    if (!partner[id]) {
      CNNC_TRY(rebuilder.copy(id));
      continue;
    }
    if (rebuilder.isMapped(id)) continue;  // emitted with its partner
    const bool weightFirst = isWeightGradient(graph.node(id).op);
    const ValueId weight = weightFirst ? id : *partner[id], bias = weightFirst ? *partner[id] : id;
    CNNC_TRY(rebuilder.copy(weight, {{std::string(kBiasGradAttr), Symbol{graph.node(bias).name}}}));
    CNNC_TRY(rebuilder.copy(bias));
  }
  graph = rebuilder.finish(graph.outputs());
  return Status::ok();
}

}  // namespace cnnc

#include "ir/fused_statistics.h"

#include <fmt/format.h>

#include "ir/fused_pooling.h"
#include "ir/kernel_results.h"
#include "ir/printer.h"

namespace cnnc {
namespace {

bool isBlocked(const Node& node) { return node.type.layout != Layout::Plain; }

}  // namespace

bool statisticsFuseInto(const Node& conv, ValueId convId, const Node& stats) {
  return conv.op == Op::Conv2D && isBlocked(conv) && stats.op == Op::BatchNormStats && stats.operands[0] == convId;
}

bool gammaGradientFusesInto(const Node& node, ValueId id, const Node& gamma) {
  if (gamma.op != Op::BatchNormBackwardGamma) return false;
  if (node.op == Op::BatchNormBackwardGamma) return gamma.operands[0] == node.operands[0] && &gamma != &node;
  const bool rowsKernel = node.op == Op::Conv2D || node.op == Op::Conv2DBackwardData;  // FusedSums
  return rowsKernel && isBlocked(node) && !node.attrs.contains(kStatsAttr) && !node.attrs.contains(kPoolAttr) &&
         gamma.operands[0] == id;
}

std::optional<ValueId> fusedStatistics(const Graph& graph, const Node& node) {
  return valueNamedBy(graph, node, kStatsAttr);
}

std::optional<ValueId> fusedGammaGradient(const Graph& graph, const Node& node) {
  return valueNamedBy(graph, node, kGammaGradAttr);
}

std::vector<ValueId> fusedGammaGradients(const Graph& graph, const Node& node) {
  std::vector<ValueId> chain;
  for (std::optional<ValueId> next = fusedGammaGradient(graph, node); next;
       next = fusedGammaGradient(graph, graph.node(*next)))
    chain.push_back(*next);
  return chain;
}

std::vector<ValueId> gammaGradientsOfKernel(const Graph& graph, ValueId id) {
  std::vector<ValueId> gammas = fusedGammaGradients(graph, graph.node(id));
  gammas.insert(gammas.begin(), id);
  return gammas;
}

Status verifyFusedStatistics(const Graph& graph) {
  CNNC_TRY(verifyNamedValues(graph, kStatsAttr, statisticsFuseInto, "a batch_norm_stats of its blocked result"));
  CNNC_TRY(verifyNamedValues(graph, kGammaGradAttr, gammaGradientFusesInto,
                             "a batch_norm_bwd_gamma of its blocked result, on a convolution or data gradient "
                             "without stats or pool, or of its output gradient, on a batch_norm_bwd_gamma"));
  // One kernel computes each, and chains end.
  std::vector<bool> named(graph.size(), false);
  for (ValueId id = 0; id < graph.size(); ++id) {
    const Node& node = graph.node(id);
    const std::optional<ValueId> gamma = fusedGammaGradient(graph, node);
    if (!gamma) continue;
    if (named[*gamma] || (node.op == Op::BatchNormBackwardGamma && *gamma <= id))
      return Error{fmt::format("{} = {}: attribute {}={} names a gamma gradient {}", valueRef(node.name),
                               mnemonic(node.op), kGammaGradAttr, graph.node(*gamma).name,
                               named[*gamma] ? "that another node names" : "before it")};
    named[*gamma] = true;
  }
  return Status::ok();
}

}  // namespace cnnc

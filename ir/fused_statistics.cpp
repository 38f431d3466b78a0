#include "ir/fused_statistics.h"

#include "ir/fused_pooling.h"
#include "ir/kernel_results.h"

namespace cnnc {
namespace {

bool isBlocked(const Node& node) { return node.type.layout != Layout::Plain; }

}  // namespace

bool statisticsFuseInto(const Node& conv, ValueId convId, const Node& stats) {
  return conv.op == Op::Conv2D && isBlocked(conv) && stats.op == Op::BatchNormStats && stats.operands[0] == convId;
}

bool gammaGradientFusesInto(const Node& conv, ValueId convId, const Node& gamma) {
  const bool rowsKernel = conv.op == Op::Conv2D || conv.op == Op::Conv2DBackwardData;  // FusedSums
  return rowsKernel && isBlocked(conv) && !conv.attrs.contains(kStatsAttr) && !conv.attrs.contains(kPoolAttr) &&
         gamma.op == Op::BatchNormBackwardGamma && gamma.operands[0] == convId;
}

std::optional<ValueId> fusedStatistics(const Graph& graph, const Node& node) {
  return valueNamedBy(graph, node, kStatsAttr);
}

std::optional<ValueId> fusedGammaGradient(const Graph& graph, const Node& node) {
  return valueNamedBy(graph, node, kGammaGradAttr);
}

Status verifyFusedStatistics(const Graph& graph) {
  CNNC_TRY(verifyNamedValues(graph, kStatsAttr, statisticsFuseInto, "a batch_norm_stats of its blocked result"));
  return verifyNamedValues(graph, kGammaGradAttr, gammaGradientFusesInto,
                           "a batch_norm_bwd_gamma of its blocked result, on a convolution or data gradient "
                           "without stats or pool");
}

}  // namespace cnnc

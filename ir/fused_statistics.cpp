#include "ir/fused_statistics.h"

#include "ir/kernel_results.h"

namespace cnnc {

bool statisticsFuseInto(const Node& conv, ValueId convId, const Node& stats) {
  return conv.op == Op::Conv2D && conv.type.layout != Layout::Plain && stats.op == Op::BatchNormStats &&
         stats.operands[0] == convId;
}

std::optional<ValueId> fusedStatistics(const Graph& graph, const Node& node) {
  return valueNamedBy(graph, node, kStatsAttr);
}

Status verifyFusedStatistics(const Graph& graph) {
  return verifyNamedValues(graph, kStatsAttr, statisticsFuseInto, "a batch_norm_stats of its blocked result");
}

}  // namespace cnnc

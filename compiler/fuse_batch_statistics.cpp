// Batch statistics fusion (ir/fused_statistics.h). Algorithm: the first
// batch_norm_stats of each blocked conv2d's result is named by the
// convolution's attribute stats. The graph's order already has the
// convolution first.
#include "compiler/graph_rebuilder.h"
#include "compiler/passes.h"
#include "ir/fused_statistics.h"

namespace cnnc {

Status fuseBatchStatistics(Graph& graph, const PassContext&) {
  return nameFusedUsers(graph, kStatsAttr, [&](ValueId id, ValueId user) {
    return statisticsFuseInto(graph.node(id), id, graph.node(user));
  });
}

}  // namespace cnnc

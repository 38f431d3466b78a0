// Batch statistics fusion (ir/fused_statistics.h). Algorithm: the first
// batch_norm_stats of each blocked conv2d's result is named by the
// convolution's attribute stats. The graph's order already has the
// convolution first.
#include "compiler/graph_rebuilder.h"
#include "compiler/passes.h"
#include "ir/fused_statistics.h"

namespace cnnc {

Status fuseBatchStatistics(Graph& graph, const PassContext&) {
  GraphRebuilder rebuilder(graph);
  for (ValueId id = 0; id < graph.size(); ++id) {
    AttributeMap added;
    const Node& node = graph.node(id);
    for (ValueId user = id + 1; user < graph.size() && !node.attrs.contains(kStatsAttr); ++user) {
      if (!statisticsFuseInto(node, id, graph.node(user))) continue;
      added[std::string(kStatsAttr)] = Symbol{graph.node(user).name};
      break;
    }
    CNNC_TRY(rebuilder.copy(id, added));
  }
  graph = rebuilder.finish(graph.outputs());
  return Status::ok();
}

}  // namespace cnnc

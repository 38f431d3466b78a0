// Adam-moment fusion (ir/fused_moments.h). Algorithm: every adam_apply
// whose moments no node but it and their assigns reads gets attribute
// fused_moments; the graph keeps its nodes and order.
#include "compiler/graph_rebuilder.h"
#include "compiler/passes.h"
#include "ir/fused_moments.h"

namespace cnnc {

Status fuseAdamMoments(Graph& graph, const PassContext&) {
  GraphRebuilder rebuilder(graph);
  for (ValueId id = 0; id < graph.size(); ++id) {
    AttributeMap added;
    if (momentsFuseInto(graph, graph.node(id))) added[std::string(kFusedMomentsAttr)] = int64_t{1};
    CNNC_TRY(rebuilder.copy(id, added));
  }
  graph = rebuilder.finish(graph.outputs());
  return Status::ok();
}

}  // namespace cnnc

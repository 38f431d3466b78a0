// Adam-moment fusion (ir/fused_moments.h). Algorithm: every adam_apply
// whose moments no node but it and their assigns reads gets attribute
// fused_moments; the graph keeps its nodes and order.
#include "compiler/graph_rebuilder.h"
#include "compiler/passes.h"
#include "ir/fused_moments.h"

namespace cnnc {

Status fuseAdamMoments(Graph& graph, const PassContext&) {
  return flagNodes(graph, kFusedMomentsAttr, [&](ValueId id) { return momentsFuseInto(graph, id); });
}

}  // namespace cnnc

// Residual batch norms (ir/fused_residual.h). Algorithm: a batch norm with
// a fused residual whose producer residualNormFusesInto accepts, and which
// has no other user, gets attribute residual_norm naming that producer.
// After fuse-residual-adds, whose fused adds these are.
#include "compiler/graph_rebuilder.h"
#include "compiler/passes.h"
#include "ir/fused_residual.h"

namespace cnnc {

Status fuseResidualNorms(Graph& graph, const PassContext&) {
  const std::vector<int> users = userCounts(graph);
  return addAttributes(graph, [&](ValueId id) {
    AttributeMap added;
    const Node& node = graph.node(id);
    const std::optional<ValueId> residual = residualOf(node);
    if (residual && users[*residual] == 1 && residualNormFusesInto(node, graph.node(*residual)))
      added[std::string(kResidualNormAttr)] = Symbol{graph.node(*residual).name};
    return added;
  });
}

}  // namespace cnnc

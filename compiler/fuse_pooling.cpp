// Pooling fusion (ir/fused_pooling.h). Algorithm: each max_pool2d or
// avg_pool2d of a blocked conv2d's result whose windows tile it, where the
// convolution's tile has tasks of whole windows (checkFusedPoolRows), is
// named by the convolution's attribute pool (the first such pooling: the
// kernel writes one). The graph's order already has the convolution first.
#include "compiler/conv_tiles.h"
#include "compiler/graph_rebuilder.h"
#include "compiler/passes.h"
#include "ir/fused_pooling.h"

namespace cnnc {

Status fusePooling(Graph& graph, const PassContext& context) {
  return nameFusedUsers(graph, kPoolAttr, [&](ValueId id, ValueId user) {
    const Node& conv = graph.node(id);
    if (!poolingFusesInto(conv, id, graph.node(user))) return false;
    Node candidate = conv;
    candidate.attrs[std::string(kPoolAttr)] = Symbol{graph.node(user).name};
    return static_cast<bool>(checkFusedPoolRows(graph, candidate, forwardTile(graph, conv, context.target)));
  });
}

}  // namespace cnnc

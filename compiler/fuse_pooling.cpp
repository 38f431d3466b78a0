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
  GraphRebuilder rebuilder(graph);
  for (ValueId id = 0; id < graph.size(); ++id) {
    AttributeMap added;
    const Node& node = graph.node(id);
    if (node.op == Op::Conv2D && !node.attrs.contains(kPoolAttr) && node.type.layout != Layout::Plain) {
      for (ValueId user = id + 1; user < graph.size(); ++user) {
        if (!poolingFusesInto(node, id, graph.node(user))) continue;
        Node candidate = node;
        candidate.attrs[std::string(kPoolAttr)] = Symbol{graph.node(user).name};
        if (!checkFusedPoolRows(graph, candidate, forwardTile(graph, node, context.target))) continue;
        added = {{std::string(kPoolAttr), Symbol{graph.node(user).name}}};
        break;
      }
    }
    CNNC_TRY(rebuilder.copy(id, added));
  }
  graph = rebuilder.finish(graph.outputs());
  return Status::ok();
}

}  // namespace cnnc

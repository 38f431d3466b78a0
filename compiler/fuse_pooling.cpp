// Pooling fusion (ir/fused_pooling.h). Algorithm: each max_pool2d or
// avg_pool2d of a blocked conv2d's result whose windows tile it, where the
// convolution's tile has tasks of whole windows (checkFusedPoolRows), is
// named by the convolution's attribute pool (the first such pooling: the
// kernel writes one). The graph's order already has the convolution first,
// and the values keep their ids.
#include "compiler/conv_tiles.h"
#include "compiler/passes.h"
#include "ir/fused_pooling.h"

namespace cnnc {

Status fusePooling(Graph& graph, const PassContext& context) {
  Graph fused(graph.name());
  for (ValueId id = 0; id < graph.size(); ++id) {
    Node node = graph.node(id);
    if (node.op == Op::Conv2D && !node.attrs.contains(kPoolAttr) && node.type.layout != Layout::Plain) {
      for (ValueId user = id + 1; user < graph.size(); ++user) {
        if (!poolingFusesInto(node, id, graph.node(user))) continue;
        Node candidate = node;
        candidate.attrs[std::string(kPoolAttr)] = Symbol{graph.node(user).name};
        if (!checkFusedPoolRows(graph, candidate, forwardTile(graph, node, context.target))) continue;
        node = std::move(candidate);
        break;
      }
    }
    Expected<ValueId> now = fused.addUnchecked(std::move(node));
    if (!now) return now.error();
  }
  fused.setOutputs(graph.outputs());
  graph = std::move(fused);
  return Status::ok();
}

}  // namespace cnnc

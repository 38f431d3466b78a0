// Algorithm: mark the outputs and every assign (the only effects) as live,
// then, walking backwards, everything a live node uses; rebuild the graph
// from the live nodes only.
#include "compiler/graph_rebuilder.h"
#include "compiler/passes.h"

namespace cnnc {

Expected<Graph> pruneToOutputs(const Graph& graph, const std::vector<ValueId>& outputs) {
  std::vector<bool> live(graph.size(), false);
  for (ValueId id : outputs) live[id] = true;
  for (ValueId id = 0; id < graph.size(); ++id)
    if (graph.node(id).op == Op::Assign) live[id] = true;
  for (ValueId id = static_cast<ValueId>(graph.size()); id-- > 0;)
    if (live[id])
      for (ValueId operand : graph.node(id).operands) live[operand] = true;

  GraphRebuilder rebuilder(graph);
  for (ValueId id = 0; id < graph.size(); ++id)
    if (live[id]) CNNC_TRY(rebuilder.copy(id));
  return rebuilder.finish(outputs);
}

}  // namespace cnnc

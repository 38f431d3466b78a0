// Algorithm: count the users of every value (graph outputs count as users);
// an activation whose operand is a conv2d or dense node without a fused
// activation and with no other user absorbs that node: the rebuilt graph
// skips the producer and emits, in the activation's place, the producer
// with attributes activation=<op> and fused=<producer's name> under the
// activation's name. Keeping that name keeps valid every reference to the
// activation's result: its users, the graph outputs, and the backward
// nodes autodiff made (relu_bwd reads the activation's output).
#include <optional>
#include <vector>

#include "compiler/graph_rebuilder.h"
#include "compiler/passes.h"
#include "ir/fused_activation.h"

namespace cnnc {
namespace {

std::vector<int> userCounts(const Graph& graph) {
  std::vector<int> users(graph.size(), 0);
  for (const Node& node : graph.nodes())
    for (ValueId operand : node.operands) ++users[operand];
  for (ValueId output : graph.outputs()) ++users[output];
  return users;
}

// The producer that activation node `id` absorbs, if it can.
std::optional<ValueId> absorbedProducer(const Graph& graph, ValueId id, const std::vector<int>& users) {
  const Node& node = graph.node(id);
  if (!isActivation(node.op)) return std::nullopt;
  const ValueId producer = node.operands[0];
  const Node& candidate = graph.node(producer);
  const bool fusible = candidate.op == Op::Conv2D || candidate.op == Op::Dense;
  if (!fusible || candidate.attrs.contains(kActivationAttr) || users[producer] != 1) return std::nullopt;
  return producer;
}

}  // namespace

Status fuseActivations(Graph& graph, const PassContext&) {
  const std::vector<int> users = userCounts(graph);
  std::vector<std::optional<ValueId>> absorbs(graph.size());
  std::vector<bool> absorbed(graph.size(), false);
  for (ValueId id = 0; id < graph.size(); ++id)
    if ((absorbs[id] = absorbedProducer(graph, id, users))) absorbed[*absorbs[id]] = true;

  GraphRebuilder rebuilder(graph);
  for (ValueId id = 0; id < graph.size(); ++id) {
    if (absorbed[id]) continue;
    if (!absorbs[id]) {
      CNNC_TRY(rebuilder.copy(id));
      continue;
    }
    const Node& activation = graph.node(id);
    const Node& producer = graph.node(*absorbs[id]);
    std::vector<ValueId> operands;
    for (ValueId operand : producer.operands) operands.push_back(rebuilder.mapped(operand));
    AttributeMap attrs = producer.attrs;
    attrs[std::string(kActivationAttr)] = Symbol{std::string(mnemonic(activation.op))};
    attrs[std::string(kFusedAttr)] = Symbol{producer.name};
    Expected<ValueId> now =
        rebuilder.out().addNode(producer.op, activation.name, std::move(operands), std::move(attrs));
    if (!now) return now.error();
    rebuilder.setMapped(id, *now);
  }
  graph = rebuilder.finish(graph.outputs());
  return Status::ok();
}

}  // namespace cnnc

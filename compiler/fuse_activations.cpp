// Activation fusion, forward and backward. Algorithm: count the users of
// every value (graph outputs count as users); a node that matches a pattern
// with its operand 0, a producer without a fused activation and with no
// other user, absorbs that producer: the rebuilt graph skips the producer
// and emits, in the consumer's place, the producer with attributes
// activation=<op> and fused=<producer's name> under the consumer's name.
// Keeping that name keeps valid every reference to the consumer's result:
// its users, the graph outputs, and the backward nodes autodiff made
// (relu_bwd reads the activation's output).
//   forward:  relu (conv2d, dense or batch_norm[_train])  ->  the same {activation=relu}
//   backward: relu_bwd (max_pool2d_bwd (y, dy), y)  ->  max_pool2d_bwd {activation=relu}
#include <functional>
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

// A producer that node `id` can absorb: (producer, the activation the fused
// node applies). `pattern` says whether `id` and its operand 0 match.
using Pattern = std::function<std::optional<Op>(const Node& consumer, const Node& producer)>;

// Rebuilds `graph` with every match of `pattern` fused: the producer, whose
// only user the consumer is, is skipped, and in the consumer's place it is
// emitted under the consumer's name with attributes activation and fused.
Status fuseMatches(Graph& graph, const Pattern& pattern) {
  const std::vector<int> users = userCounts(graph);
  std::vector<std::optional<Op>> activation(graph.size());
  std::vector<bool> absorbed(graph.size(), false);
  for (ValueId id = 0; id < graph.size(); ++id) {
    const Node& node = graph.node(id);
    if (node.operands.empty() || users[node.operands[0]] != 1) continue;
    const Node& producer = graph.node(node.operands[0]);
    if (producer.attrs.contains(kActivationAttr)) continue;
    if ((activation[id] = pattern(node, producer))) absorbed[node.operands[0]] = true;
  }
  GraphRebuilder rebuilder(graph);
  for (ValueId id = 0; id < graph.size(); ++id) {
    if (absorbed[id]) continue;
    if (!activation[id]) {
      CNNC_TRY(rebuilder.copy(id));
      continue;
    }
    const Node& consumer = graph.node(id);
    const Node& producer = graph.node(consumer.operands[0]);
    std::vector<ValueId> operands;
    for (ValueId operand : producer.operands) operands.push_back(rebuilder.mapped(operand));
    AttributeMap attrs = producer.attrs;
    attrs[std::string(kActivationAttr)] = Symbol{std::string(mnemonic(*activation[id]))};
    attrs[std::string(kFusedAttr)] = Symbol{producer.name};
    Expected<ValueId> now = rebuilder.out().addNode(producer.op, consumer.name, std::move(operands), std::move(attrs));
    if (!now) return now.error();
    rebuilder.setMapped(id, *now);
  }
  graph = rebuilder.finish(graph.outputs());
  return Status::ok();
}

}  // namespace

Status fuseActivations(Graph& graph, const PassContext&) {
  return fuseMatches(graph, [](const Node& consumer, const Node& producer) -> std::optional<Op> {
    if (!isActivation(consumer.op) || !appliesActivations(producer.op)) return std::nullopt;
    return consumer.op;
  });
}

Status fuseActivationGradients(Graph& graph, const PassContext&) {
  // relu_bwd (g, y) of g = max_pool2d_bwd (y, dy): the activation's output is
  // what was pooled, so the gradient is masked where it lands, at each
  // window's maximum.
  return fuseMatches(graph, [](const Node& consumer, const Node& producer) -> std::optional<Op> {
    if (producer.op != Op::MaxPool2DBackward || producer.operands[0] != consumer.operands[1]) return std::nullopt;
    return activationOfGradient(consumer.op);
  });
}

}  // namespace cnnc

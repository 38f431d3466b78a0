// Activation fusion, forward and backward (ir/fused_activation.h).
// Algorithm: count the users of every value (graph outputs count as users);
// a node that matches a pattern with its operand 0, a producer without a
// fused activation and with no other user, absorbs that producer: the
// rebuilt graph skips the producer and emits, in the consumer's place, the
// producer with attributes activation=<op> (or activation_gradient=<op>)
// and fused=<producer's name>, and any operand the pattern adds, under the
// consumer's name. Keeping that name keeps valid every reference to the
// consumer's result: its users, the graph outputs, and the backward nodes
// autodiff made (relu_bwd reads the activation's output).
//   forward:  relu (conv2d, dense, batch_norm[_train] or add)  ->  the same {activation=relu}
//   backward: relu_bwd (max_pool2d_bwd (y, dy), y)  ->  max_pool2d_bwd {activation_gradient=relu}
//             relu_bwd (conv2d_bwd_data (dy, w), y)  ->  conv2d_bwd_data (dy, w, y) {activation_gradient=relu}
//             relu_bwd (dense_bwd_data (dy, w), y)  ->  dense_bwd_data (dy, w, y) {activation_gradient=relu}
//             relu_bwd (add (g1, g2), y)  ->  add (g1, g2, y) {activation_gradient=relu}
//             relu_bwd (global_avg_pool2d_bwd (dy), y)  ->  global_avg_pool2d_bwd (dy, y) {activation_gradient=relu}
#include <functional>
#include <optional>
#include <string_view>
#include <vector>

#include "compiler/graph_rebuilder.h"
#include "compiler/passes.h"
#include "ir/fused_activation.h"

namespace cnnc {
namespace {

// How a consumer fuses into its producer: the attribute that names the
// activation, the activation, and the operand the fused node reads besides
// the producer's (the activation's output), if any.
struct Fusion {
  std::string_view attribute;
  Op activation;
  std::optional<ValueId> extraOperand;
};

// Whether a consumer and its operand 0, the producer, match, and how they fuse.
using Pattern = std::function<std::optional<Fusion>(const Node& consumer, const Node& producer)>;

// Rebuilds `graph` with every match of `pattern` fused: the producer, whose
// only user the consumer is, is skipped, and in the consumer's place it is
// emitted under the consumer's name, with the Fusion's attribute and
// operand, and attribute fused.
Status fuseMatches(Graph& graph, const Pattern& pattern) {
  return absorbInto(graph, [&](const Node& node, const std::vector<int>& users) -> std::optional<Absorption> {
    if (node.operands.empty() || users[node.operands[0]] != 1) return std::nullopt;
    const Node& producer = graph.node(node.operands[0]);
    if (producer.attrs.contains(kActivationAttr) || producer.attrs.contains(kActivationGradientAttr))
      return std::nullopt;
    const std::optional<Fusion> fusion = pattern(node, producer);
    if (!fusion) return std::nullopt;
    AttributeMap attrs = producer.attrs;
    attrs[std::string(fusion->attribute)] = Symbol{std::string(mnemonic(fusion->activation))};
    attrs[std::string(kFusedAttr)] = Symbol{producer.name};
    std::vector<ValueId> extra;
    if (fusion->extraOperand) extra.push_back(*fusion->extraOperand);
    return Absorption{node.operands[0], std::move(extra), std::move(attrs)};
  });
}

}  // namespace

Status fuseActivations(Graph& graph, const PassContext&) {
  return fuseMatches(graph, [](const Node& consumer, const Node& producer) -> std::optional<Fusion> {
    if (!isActivation(consumer.op) || !appliesActivations(producer.op)) return std::nullopt;
    return Fusion{kActivationAttr, consumer.op, std::nullopt};
  });
}

Status fuseActivationGradients(Graph& graph, const PassContext&) {
  return fuseMatches(graph, [](const Node& consumer, const Node& producer) -> std::optional<Fusion> {
    const std::optional<Op> activation = activationOfGradient(consumer.op);
    const ValueId y = activation ? consumer.operands[1] : 0;
    // relu_bwd (g, y) of g = max_pool2d_bwd (y, dy): the activation's output
    // is what was pooled, so the gradient is masked where it lands, at each
    // window's maximum.
    if (activation && producer.op == Op::MaxPool2DBackward && producer.operands[0] == y)
      return Fusion{kActivationGradientAttr, *activation, std::nullopt};
    // The data gradients, the sum of several and the global pool's spread
    // gradient apply it as they store,
    // reading y at the same element.
    if (activation && (producer.op == Op::Conv2DBackwardData || producer.op == Op::DenseBackwardData ||
                       producer.op == Op::Add || producer.op == Op::GlobalAvgPool2DBackward))
      return Fusion{kActivationGradientAttr, *activation, y};
    return std::nullopt;
  });
}

}  // namespace cnnc

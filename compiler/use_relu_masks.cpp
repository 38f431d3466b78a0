// Relu masks (ir/fused_relu_mask.h). Algorithm: each blocked
// batch_norm_train with activation relu whose result a fused relu gradient
// reads gets a relu_mask node right after it, named "<result>.mask" and by
// its attribute relu_mask; every such gradient reads the mask instead.
// Not an inlined one (ir/inlined_norm.h), which has no kernel to write it.
// After the fusions that make the gradients' nodes (fuse-batch-statistics
// the last of them).
#include "compiler/graph_rebuilder.h"
#include "compiler/passes.h"
#include "ir/fused_activation.h"
#include "ir/fused_relu_mask.h"
#include "ir/inlined_norm.h"
#include "ir/layout.h"

namespace cnnc {
namespace {

// The value whose relu mask node `node` can read instead, if any.
std::optional<ValueId> maskableActivationOutput(const Graph& graph, const Node& node) {
  if (!readsActivationOutput(node.op, node.attrs) || fusedActivationGradient(node.attrs) != Op::Relu)
    return std::nullopt;
  const ValueId y = activationOutputOf(node);
  const Node& producer = graph.node(y);
  const bool writesMask = producer.op == Op::BatchNormTrain && fusedActivation(producer.attrs) == Op::Relu &&
                          isActivationLayout(producer.type.layout) && !producer.attrs.contains(kReluMaskAttr) &&
                          !isInlined(producer);
  return writesMask ? std::optional<ValueId>(y) : std::nullopt;
}

}  // namespace

Status useReluMasks(Graph& graph, const PassContext&) {
  std::vector<std::optional<ValueId>> reads(graph.size());  // the output whose mask each node can read
  std::vector<bool> masked(graph.size(), false);
  for (ValueId id = 0; id < graph.size(); ++id)
    if ((reads[id] = maskableActivationOutput(graph, graph.node(id)))) masked[*reads[id]] = true;
  GraphRebuilder rebuilder(graph);
  std::vector<ValueId> maskOf(graph.size());  // in the new graph
  for (ValueId id = 0; id < graph.size(); ++id) {
    const Node& node = graph.node(id);
    if (masked[id]) {
      const std::string name = node.name + ".mask";
      Expected<ValueId> now = rebuilder.copy(id, {{std::string(kReluMaskAttr), Symbol{name}}});
      if (!now) return now.error();
      Expected<ValueId> mask = rebuilder.out().addNode(Op::ReluMask, name, {*now});
      if (!mask) return mask.error();
      maskOf[id] = *mask;
      continue;
    }
    std::vector<ValueId> operands;
    for (ValueId operand : node.operands) operands.push_back(rebuilder.mapped(operand));
    // The last operand, the activation's output, becomes its mask.
    if (reads[id]) operands.back() = maskOf[*reads[id]];
    CNNC_TRY(rebuilder.copyWithOperands(id, std::move(operands)));
  }
  graph = rebuilder.finish(graph.outputs());
  return Status::ok();
}

}  // namespace cnnc

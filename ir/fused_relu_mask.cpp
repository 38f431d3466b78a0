#include "ir/fused_relu_mask.h"

#include <fmt/format.h>

#include "ir/fused_activation.h"
#include "ir/kernel_results.h"
#include "ir/layout.h"
#include "ir/printer.h"

namespace cnnc {

TensorType reluMaskType(const TensorType& type) { return TensorType{DType::B1, type.dims, type.layout}; }

bool reluMaskFusesInto(const Node& node, ValueId id, const Node& mask) {
  return node.op == Op::BatchNormTrain && fusedActivation(node.attrs) == Op::Relu &&
         isActivationLayout(node.type.layout) && mask.op == Op::ReluMask && mask.operands[0] == id;
}

std::optional<ValueId> fusedReluMask(const Graph& graph, const Node& node) {
  return valueNamedBy(graph, node, kReluMaskAttr);
}

Status verifyReluMasks(const Graph& graph) {
  CNNC_TRY(verifyNamedValues(graph, kReluMaskAttr, reluMaskFusesInto,
                             "a relu_mask of its result, on a blocked batch_norm_train with activation relu"));
  // The shape rules see types only: any b1 value of the mask's type would
  // pass them, a mask of another value of the same type as well.
  for (const Node& node : graph.nodes()) {
    if (!readsActivationOutput(node.op, node.attrs)) continue;
    const Node& mask = graph.node(activationOutputOf(node));
    if (mask.type.dtype != DType::B1) continue;
    if (mask.op != Op::ReluMask || graph.node(mask.operands[0]).type != node.type)
      return Error{fmt::format("{} = {}: its activation gradient reads {}, which is not the relu_mask of a {}",
                               valueRef(node.name), mnemonic(node.op), valueRef(mask.name), toString(node.type))};
  }
  return Status::ok();
}

}  // namespace cnnc

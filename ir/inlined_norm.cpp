#include "ir/inlined_norm.h"

#include <algorithm>

#include <fmt/format.h>

#include "ir/conv_algorithm.h"
#include "ir/fused_activation.h"
#include "ir/fused_relu_mask.h"
#include "ir/fused_residual.h"
#include "ir/layout.h"
#include "ir/printer.h"

namespace cnnc {
namespace {

// Whether `reader` computes batch norm `id` where it reads it (once).
bool computesWhereItReads(const Node& reader, ValueId id) {
  if (std::count(reader.operands.begin(), reader.operands.end(), id) != 1) return false;
  const bool winogradInput = (reader.op == Op::Conv2D || reader.op == Op::Conv2DBackwardFilter) &&
                             usesWinograd(reader) && reader.operands[0] == id;
  const bool reluGradient = reader.op == Op::Conv2D && isActivationLayout(reader.type.layout) &&
                            fusedActivationGradient(reader.attrs) == Op::Relu && activationOutputOf(reader) == id;
  const bool normResidual = reader.op == Op::BatchNormTrain && residualOf(reader) == id;
  return winogradInput || reluGradient || normResidual;
}

}  // namespace

bool isInlined(const Node& node) { return getInt(node.attrs, kInlineAttr) == 1; }

bool inlinable(const Graph& graph, ValueId id) {
  const Node& norm = graph.node(id);
  if (norm.op != Op::BatchNormTrain || !isActivationLayout(norm.type.layout) ||
      fusedActivation(norm.attrs) != Op::Relu || residualOf(norm) || norm.attrs.contains(kReluMaskAttr))
    return false;
  const std::vector<ValueId>& outputs = graph.outputs();
  if (std::find(outputs.begin(), outputs.end(), id) != outputs.end()) return false;
  bool read = false;
  for (const Node& node : graph.nodes()) {
    if (std::find(node.operands.begin(), node.operands.end(), id) == node.operands.end()) continue;
    if (!computesWhereItReads(node, id)) return false;
    read = true;
  }
  return read;
}

Status verifyInlinedNorms(const Graph& graph) {
  for (ValueId id = 0; id < graph.size(); ++id) {
    const Node& node = graph.node(id);
    if (node.attrs.contains(kInlineAttr) && !inlinable(graph, id))
      return Error{fmt::format("{} = {}: attribute {} needs a blocked batch_norm_train with a relu and no residual "
                               "or relu mask, not an output, that only Winograd convolutions' inputs, blocked "
                               "convolutions' relu gradients and training batch norms' residuals read, once each",
                               valueRef(node.name), mnemonic(node.op), kInlineAttr)};
  }
  return Status::ok();
}

}  // namespace cnnc

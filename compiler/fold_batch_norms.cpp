// Batch-norm folding (ir/fused_norm.h). Algorithm: an inference batch_norm
// of a blocked conv2d's result (of the same type), where the batch norm is
// the convolution's only user and the convolution applies nothing to its
// result yet, absorbs the convolution: the rebuilt graph skips the
// convolution and emits, in the batch norm's place, the convolution with
// the batch norm's gamma, beta, running mean and running variance after its
// own operands, then the batch norm's residual if it has one, under the
// batch norm's name, with the batch norm's attributes beside its own (its
// epsilon, activation and residual; not its momentum, which inference does
// not use) and `norm` naming the convolution.
//
// ResNet's inference step has a batch norm after each of its convolutions:
// each read an image-sized result back and wrote another, 10% of the step
// at batch 128; folded, the convolutions' kernels apply them in registers.
// (Folding into the filter instead, w gamma / std, would need a kernel per
// batch norm to rescale it at each run, the parameters being inputs.)
#include <optional>

#include "compiler/graph_rebuilder.h"
#include "compiler/passes.h"
#include "ir/fused_activation.h"
#include "ir/fused_norm.h"
#include "ir/fused_residual.h"
#include "ir/layout.h"

namespace cnnc {

Status foldBatchNorms(Graph& graph, const PassContext&) {
  return absorbInto(graph, [&](const Node& norm, const std::vector<int>& users) -> std::optional<Absorption> {
    if (norm.op != Op::BatchNorm || norm.attrs.contains(kResidualNormAttr)) return std::nullopt;
    const ValueId convolution = norm.operands[0];
    const Node& conv = graph.node(convolution);
    if (conv.op != Op::Conv2D || users[convolution] != 1 || finishesItsResult(conv) || conv.type != norm.type ||
        !isActivationLayout(conv.type.layout))
      return std::nullopt;
    std::vector<ValueId> extra(norm.operands.begin() + 1, norm.operands.begin() + 1 + kNormOperands);
    if (std::optional<ValueId> residual = residualOf(norm)) extra.push_back(*residual);
    AttributeMap attrs = conv.attrs;
    for (const auto& [name, value] : norm.attrs)
      if (name != "momentum") attrs.insert_or_assign(name, value);
    attrs[std::string(kNormAttr)] = Symbol{conv.name};
    return Absorption{convolution, std::move(extra), std::move(attrs)};
  });
}

}  // namespace cnnc

// Values a node's kernel computes besides its own result: a fused bias
// gradient (ir/fused_bias_gradient.h), a fused pooling (ir/fused_pooling.h),
// fused batch statistics or gamma gradient (ir/fused_statistics.h), fused
// Adam moments (ir/fused_moments.h), a relu mask (ir/fused_relu_mask.h) and
// a batch norm's residual made by another batch norm (ir/fused_residual.h).
// Their nodes stay in the graph and get no kernel.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "ir/error.h"
#include "ir/graph.h"

namespace cnnc {

// The value that attribute `key` of `node` names, if it has the attribute.
std::optional<ValueId> valueNamedBy(const Graph& graph, const Node& node, std::string_view key);

// For a shape rule: attribute `key`, if present, is a symbol (a value's name).
Status checkValueAttr(Op op, const AttributeMap& attrs, std::string_view key);

// The graph-wide contract of attribute `key`: on each node that has it, it
// names a value that `fuses` (node, node's id, named node) accepts; else
// an error saying that the attribute must name `what`.
using FusesInto = bool (*)(const Node&, ValueId, const Node&);
Status verifyNamedValues(const Graph& graph, std::string_view key, FusesInto fuses, std::string_view what);

// The values the kernel of `node` computes besides its own.
std::vector<ValueId> extraResults(const Graph& graph, const Node& node);

// The values the kernel that computes `node` reads for it: its operands,
// but an assign's target (which it writes), and in an inlined batch norm's
// place that norm's operands (ir/inlined_norm.h), which the kernel
// computes it from; a value read twice is listed twice.
std::vector<ValueId> kernelReads(const Graph& graph, const Node& node);

// For every value, the node whose kernel computes it: the one that absorbed
// it (or the node that absorbed that one), for an extra result, the value's
// own node otherwise.
std::vector<ValueId> computingKernels(const Graph& graph);

}  // namespace cnnc

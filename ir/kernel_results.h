// Values a node's kernel computes besides its own result: a fused bias
// gradient (ir/fused_bias_gradient.h) and a fused pooling
// (ir/fused_pooling.h). Their nodes stay in the graph and get no kernel.
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

// The values the kernel of `node` computes besides its own.
std::vector<ValueId> extraResults(const Graph& graph, const Node& node);

// For every value, the node whose kernel computes it: the one that absorbed
// it, for an extra result, the value's own node otherwise.
std::vector<ValueId> computingKernels(const Graph& graph);

}  // namespace cnnc

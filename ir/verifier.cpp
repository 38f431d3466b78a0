#include "ir/verifier.h"

#include <fmt/format.h>

#include "ir/batch_group.h"
#include "ir/conv_algorithm.h"
#include "ir/fused_bias_gradient.h"
#include "ir/fused_moments.h"
#include "ir/fused_norm.h"
#include "ir/fused_pooling.h"
#include "ir/fused_relu_mask.h"
#include "ir/fused_residual.h"
#include "ir/fused_statistics.h"
#include "ir/inlined_norm.h"
#include "ir/layout.h"
#include "ir/printer.h"
#include "ir/shape_inference.h"

namespace cnnc {
namespace {

Error nodeError(const Node& node, std::string_view message) {
  return Error{fmt::format("{} = {}: {}", valueRef(node.name), mnemonic(node.op), message)};
}

bool isPersistent(Op op) { return op == Op::Param || op == Op::State; }

std::string valueName(const Graph& graph, ValueId id) { return valueRef(graph.node(id).name); }

// A param or state may be assigned once per step: two assignments would
// leave its final value to the order of execution.
Status verifyAssignedOnce(const Graph& graph) {
  std::vector<bool> assigned(graph.size(), false);
  for (const Node& node : graph.nodes()) {
    if (node.op != Op::Assign) continue;
    ValueId target = node.operands[0];
    if (assigned[target]) return nodeError(node, fmt::format("{} is assigned twice", valueName(graph, target)));
    assigned[target] = true;
  }
  return Status::ok();
}

Status verifyNode(const Graph& graph, ValueId id) {
  const Node& node = graph.node(id);
  if (node.name.empty()) return nodeError(node, "value has no name");
  if (isLeaf(node.op)) {
    if (!node.operands.empty() || !node.attrs.empty())
      return nodeError(node, "a leaf takes no operands or attributes");
    for (int64_t dim : node.type.dims)
      if (dim < 1) return nodeError(node, fmt::format("dimensions must be at least 1, got {}", toString(node.type)));
    if (!byteSize(node.type)) return nodeError(node, "size overflows 64 bits");
    if (!layoutFits(node.type.layout, node.type.dims))
      return nodeError(node, fmt::format("{} does not fit its layout", toString(node.type)));
    return Status::ok();
  }
  std::vector<TensorType> operandTypes;
  for (ValueId operand : node.operands) {
    if (operand >= id)
      return nodeError(node, operand < graph.size()
                                 ? fmt::format("operand {} is defined after its use", valueName(graph, operand))
                                 : std::string("operand is not a value of this graph"));
    operandTypes.push_back(graph.node(operand).type);
  }
  Expected<TensorType> inferred = inferType(node.op, operandTypes, node.attrs);
  if (!inferred) return nodeError(node, inferred.error().message);
  if (*inferred != node.type)
    return nodeError(node, fmt::format("declared type {} but the operands give {}", toString(node.type),
                                       toString(*inferred)));
  if (node.op == Op::Assign && !isPersistent(graph.node(node.operands[0]).op))
    return nodeError(node, fmt::format("can only assign to a param or state, not to {}",
                                       valueName(graph, node.operands[0])));
  return Status::ok();
}

}  // namespace

Status verify(const Graph& graph) {
  for (ValueId id = 0; id < graph.size(); ++id)
    if (Status status = verifyNode(graph, id); !status) return status;
  if (Status status = verifyAssignedOnce(graph); !status) return status;
  if (Status status = verifyFusedBiasGradients(graph); !status) return status;
  if (Status status = verifyFusedPooling(graph); !status) return status;
  if (Status status = verifyFusedStatistics(graph); !status) return status;
  if (Status status = verifyFusedMoments(graph); !status) return status;
  if (Status status = verifyReluMasks(graph); !status) return status;
  if (Status status = verifyResidualNorms(graph); !status) return status;
  if (Status status = verifyFoldedNorms(graph); !status) return status;
  if (Status status = verifyInlinedNorms(graph); !status) return status;
  if (Status status = verifyConvAlgorithms(graph); !status) return status;
  if (Status status = verifyBatchGroups(graph); !status) return status;
  if (graph.outputs().empty()) return Error{fmt::format("graph @{} returns nothing", graph.name())};
  for (ValueId output : graph.outputs())
    if (output >= graph.size()) return Error{fmt::format("graph @{} returns an undefined value", graph.name())};
  return Status::ok();
}

Status checkMemoryBudget(const Graph& graph, int64_t budgetBytes) {
  int64_t total = 0;
  for (const Node& node : graph.nodes()) {
    std::optional<int64_t> bytes = byteSize(node.type);
    if (!bytes || __builtin_add_overflow(total, *bytes, &total))
      return Error{fmt::format("the tensors of graph @{} overflow 64-bit sizes", graph.name())};
  }
  if (total > budgetBytes)
    return Error{fmt::format("the tensors of graph @{} need {}, over the memory budget of {}", graph.name(),
                             formatBytes(total), formatBytes(budgetBytes))};
  return Status::ok();
}

std::string formatBytes(int64_t bytes) {
  constexpr std::string_view kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  auto value = static_cast<double>(bytes);
  size_t unit = 0;
  while (value >= 1024.0 && unit + 1 < std::size(kUnits)) {
    value /= 1024.0;
    ++unit;
  }
  return unit == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", value, kUnits[unit]);
}

}  // namespace cnnc

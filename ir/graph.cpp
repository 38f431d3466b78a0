#include "ir/graph.h"

#include <fmt/format.h>

#include "ir/printer.h"
#include "ir/shape_inference.h"

namespace cnnc {

std::optional<ValueId> Graph::lookup(std::string_view name) const {
  auto it = byName_.find(std::string(name));
  if (it == byName_.end()) return std::nullopt;
  return it->second;
}

Expected<ValueId> Graph::addLeaf(Op op, std::string name, TensorType type) {
  assert(isLeaf(op) && "addLeaf takes input, param or state");
  return addUnchecked(Node{op, std::move(name), {}, {}, std::move(type)});
}

Expected<ValueId> Graph::addNode(Op op, std::string name, std::vector<ValueId> operands,
                                 AttributeMap attrs) {
  assert(!isLeaf(op) && "leaves are added with addLeaf");
  std::vector<TensorType> operandTypes;
  for (ValueId operand : operands) {
    assert(operand < nodes_.size() && "operands must be defined before their user");
    operandTypes.push_back(nodes_[operand].type);
  }
  Expected<TensorType> type = inferType(op, operandTypes, attrs);
  if (!type) return type.error();
  return addUnchecked(Node{op, std::move(name), std::move(operands), std::move(attrs), std::move(*type)});
}

Expected<ValueId> Graph::addUnchecked(Node node) {
  if (byName_.count(node.name)) return Error{fmt::format("value {} is defined twice", valueRef(node.name))};
  auto id = static_cast<ValueId>(nodes_.size());
  byName_.emplace(node.name, id);
  nodes_.push_back(std::move(node));
  return id;
}

std::vector<int> userCounts(const Graph& graph) {
  std::vector<int> users(graph.size(), 0);
  for (const Node& node : graph.nodes())
    for (ValueId operand : node.operands) ++users[operand];
  for (ValueId output : graph.outputs()) ++users[output];
  return users;
}

bool Graph::operator==(const Graph& other) const {
  return name_ == other.name_ && nodes_ == other.nodes_ && outputs_ == other.outputs_;
}

}  // namespace cnnc

// The tensor graph: single-result SSA nodes in topological order.
//
// A value is the index of the node that defines it. Leaf nodes (`input`,
// `param`, `state`) introduce the values that are not computed; every other
// node names its operands by index, and operands always precede their user,
// so the node vector is itself a valid execution order. There is no class per
// op: an opcode, operand list and flat attributes describe every node.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "ir/attribute.h"
#include "ir/error.h"
#include "ir/op.h"
#include "ir/type.h"

namespace cnnc {

using ValueId = uint32_t;

struct Node {
  Op op;
  std::string name;  // unique within the graph; printed as %name
  std::vector<ValueId> operands;
  AttributeMap attrs;
  TensorType type;

  bool operator==(const Node&) const = default;
};

class Graph {
 public:
  Graph() : Graph("main") {}
  explicit Graph(std::string name) : name_(std::move(name)) {}

  const std::string& name() const { return name_; }
  const std::vector<Node>& nodes() const { return nodes_; }
  const Node& node(ValueId id) const { return nodes_.at(id); }
  const std::vector<ValueId>& outputs() const { return outputs_; }
  size_t size() const { return nodes_.size(); }

  // The value called `name`, if any.
  std::optional<ValueId> lookup(std::string_view name) const;

  // Adds a leaf (input, param or state) of the given type.
  Expected<ValueId> addLeaf(Op op, std::string name, TensorType type);
  // Adds a computed node; its type comes from shape inference, which also
  // checks operand count, operand types and attributes.
  Expected<ValueId> addNode(Op op, std::string name, std::vector<ValueId> operands,
                            AttributeMap attrs = {});
  // Adds a node exactly as given, without checks (the parser's path: it
  // compares the declared type against inference itself, and the verifier
  // checks the whole graph afterwards).
  Expected<ValueId> addUnchecked(Node node);

  void setOutputs(std::vector<ValueId> outputs) { outputs_ = std::move(outputs); }

  // Same name, nodes and outputs.
  bool operator==(const Graph& other) const;

 private:
  std::string name_;
  std::vector<Node> nodes_;
  std::vector<ValueId> outputs_;
  std::unordered_map<std::string, ValueId> byName_;
};

// How many users each value of `graph` has, by ValueId: the nodes that read
// it (once per operand) and the graph's outputs. A fusion may absorb a node
// into its only user; a kernel may compute a value that only it reads.
std::vector<int> userCounts(const Graph& graph);

}  // namespace cnnc

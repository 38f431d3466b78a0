// Builds a new graph from an old one, node by node: the mechanism of every
// pass that replaces nodes rather than only appending to the graph. Nodes are
// copied with their operands remapped to the new graph's values; a pass emits
// replacement nodes in between and records what each old value became.
#pragma once

#include <functional>
#include <limits>
#include <optional>
#include <string_view>
#include <vector>

#include "ir/graph.h"

namespace cnnc {

class GraphRebuilder {
 public:
  explicit GraphRebuilder(const Graph& source)
      : source_(source), out_(source.name()), map_(source.size(), kUnmapped) {}

  const Graph& source() const { return source_; }
  Graph& out() { return out_; }

  // The new value standing for old value `id`.
  ValueId mapped(ValueId id) const { return map_.at(id); }
  bool isMapped(ValueId id) const { return map_.at(id) != kUnmapped; }
  void setMapped(ValueId id, ValueId now) { map_.at(id) = now; }

  // Copies old node `id` unchanged but for its operands, which must all be
  // mapped already, and for attributes `added` (which replace any of the
  // same name); records the copy as its new value.
  Expected<ValueId> copy(ValueId id, const AttributeMap& added = {});
  // The same with values `operands` of the new graph as its operands.
  Expected<ValueId> copyWithOperands(ValueId id, std::vector<ValueId> operands, const AttributeMap& added = {});

  // The new graph, whose outputs are the new values of old values `outputs`.
  Graph finish(const std::vector<ValueId>& outputs);

 private:
  static constexpr ValueId kUnmapped = std::numeric_limits<ValueId>::max();
  const Graph& source_;
  Graph out_;
  std::vector<ValueId> map_;
};

// A node absorbed into its only user by a fusion: in the user's place goes
// a node of the absorbed one's op, under the user's name, with the absorbed
// node's operands and then `extraOperands`, and attributes `attrs`. Nodes
// `alsoAbsorbed`, of which the user was the only user too, go as well:
// the fused node computes what they did from their operands, among its
// extra ones.
struct Absorption {
  ValueId absorbed;
  std::vector<ValueId> extraOperands;
  AttributeMap attrs;
  std::vector<ValueId> alsoAbsorbed = {};
};

// The absorption of `add` (a sum, of a value's gradients or a residual
// add) into node `absorbed` of `graph`, one of its operands' producers: its
// extra operands `extra`, then the activation's output that the add's fused
// activation gradient reads; the absorbed node's attributes, the add's
// beside them, and `key` naming node `named`, which the fused node replaces.
Absorption absorbAdd(const Graph& graph, const Node& add, ValueId absorbed, std::vector<ValueId> extra,
                     std::string_view key, const std::string& named, std::vector<ValueId> alsoAbsorbed = {});

// Rebuilds `graph` with each node for which `absorptionOf` (given the node
// and every value's user count, userCounts) returns an absorption replaced
// as it says, and the absorbed nodes skipped. absorptionOf sees the graph
// as it was: every node is asked before any is replaced.
using AbsorptionOf = std::function<std::optional<Absorption>(const Node& node, const std::vector<int>& users)>;
Status absorbInto(Graph& graph, const AbsorptionOf& absorptionOf);

// A copy of `graph` in which each node also has the attributes that
// `added` gives it (replacing any of the same name): how the passes that
// only annotate nodes (choose-tiles, select-winograd, the fusions that name
// what a kernel computes as well) write their decisions. The graph keeps its
// nodes and order.
Expected<Graph> withAttributes(const Graph& graph, const std::function<AttributeMap(ValueId)>& added);
// The same in place, as a pass does it.
Status addAttributes(Graph& graph, const std::function<AttributeMap(ValueId)>& added);

// Gives attribute `key`=1 to each node for which flagged(its id) holds:
// how the passes whose decision is a yes or no per node (fuse-adam-moments,
// inline-batch-norms) write it. The graph keeps its nodes and order.
Status flagNodes(Graph& graph, std::string_view key, const std::function<bool(ValueId)>& flagged);

// Gives each node without attribute `key` the name of the first later node
// `user` for which fuses(node's id, user) holds, as that attribute: how the
// passes tell a kernel to compute a user's value as well
// (ir/kernel_results.h). The graph keeps its nodes and order.
Status nameFusedUsers(Graph& graph, std::string_view key, const std::function<bool(ValueId, ValueId)>& fuses);

}  // namespace cnnc

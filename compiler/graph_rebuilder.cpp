#include "compiler/graph_rebuilder.h"

#include "ir/fused_activation.h"

namespace cnnc {

Expected<ValueId> GraphRebuilder::copy(ValueId id, const AttributeMap& added) {
  std::vector<ValueId> operands;
  for (ValueId operand : source_.node(id).operands) operands.push_back(mapped(operand));
  return copyWithOperands(id, std::move(operands), added);
}

Expected<ValueId> GraphRebuilder::copyWithOperands(ValueId id, std::vector<ValueId> operands,
                                                  const AttributeMap& added) {
  Node node = source_.node(id);
  for (const auto& [name, value] : added) node.attrs.insert_or_assign(name, value);
  node.operands = std::move(operands);
  Expected<ValueId> now = out_.addUnchecked(std::move(node));
  if (now) setMapped(id, *now);
  return now;
}

Graph GraphRebuilder::finish(const std::vector<ValueId>& outputs) {
  std::vector<ValueId> mappedOutputs;
  for (ValueId id : outputs) mappedOutputs.push_back(mapped(id));
  out_.setOutputs(std::move(mappedOutputs));
  return std::move(out_);
}

Absorption absorbAdd(const Graph& graph, const Node& add, ValueId absorbed, std::vector<ValueId> extra,
                     std::string_view key, const std::string& named, std::vector<ValueId> alsoAbsorbed) {
  if (readsActivationOutput(add.op, add.attrs)) extra.push_back(activationOutputOf(add));
  AttributeMap attrs = graph.node(absorbed).attrs;
  for (const auto& [name, value] : add.attrs) attrs.insert_or_assign(name, value);
  attrs[std::string(key)] = Symbol{named};
  return Absorption{absorbed, std::move(extra), std::move(attrs), std::move(alsoAbsorbed)};
}

Status absorbInto(Graph& graph, const AbsorptionOf& absorptionOf) {
  const std::vector<int> users = userCounts(graph);
  std::vector<std::optional<Absorption>> absorptions;
  for (ValueId id = 0; id < graph.size(); ++id) absorptions.push_back(absorptionOf(graph.node(id), users));
  std::vector<bool> absorbed(graph.size(), false);
  for (const std::optional<Absorption>& absorption : absorptions)
    if (absorption) {
      absorbed[absorption->absorbed] = true;
      for (ValueId also : absorption->alsoAbsorbed) absorbed[also] = true;
    }
  GraphRebuilder rebuilder(graph);
  for (ValueId id = 0; id < graph.size(); ++id) {
    if (absorbed[id]) continue;
    const std::optional<Absorption>& absorption = absorptions[id];
    if (!absorption) {
      CNNC_TRY(rebuilder.copy(id));
      continue;
    }
    const Node& inner = graph.node(absorption->absorbed);
    std::vector<ValueId> operands;
    for (ValueId operand : inner.operands) operands.push_back(rebuilder.mapped(operand));
    for (ValueId extra : absorption->extraOperands) operands.push_back(rebuilder.mapped(extra));
    Expected<ValueId> now = rebuilder.out().addNode(inner.op, graph.node(id).name, std::move(operands), absorption->attrs);
    if (!now) return now.error();
    rebuilder.setMapped(id, *now);
  }
  graph = rebuilder.finish(graph.outputs());
  return Status::ok();
}

Expected<Graph> withAttributes(const Graph& graph, const std::function<AttributeMap(ValueId)>& added) {
  GraphRebuilder rebuilder(graph);
  for (ValueId id = 0; id < graph.size(); ++id) CNNC_TRY(rebuilder.copy(id, added(id)));
  return rebuilder.finish(graph.outputs());
}

Status addAttributes(Graph& graph, const std::function<AttributeMap(ValueId)>& added) {
  Expected<Graph> annotated = withAttributes(graph, added);
  if (!annotated) return annotated.error();
  graph = std::move(*annotated);
  return Status::ok();
}

Status flagNodes(Graph& graph, std::string_view key, const std::function<bool(ValueId)>& flagged) {
  return addAttributes(graph, [&](ValueId id) {
    AttributeMap added;
    if (flagged(id)) added[std::string(key)] = int64_t{1};
    return added;
  });
}

Status nameFusedUsers(Graph& graph, std::string_view key, const std::function<bool(ValueId, ValueId)>& fuses) {
  return addAttributes(graph, [&](ValueId id) {
    AttributeMap added;
    for (ValueId user = id + 1; user < graph.size() && !graph.node(id).attrs.contains(key); ++user) {
      if (!fuses(id, user)) continue;
      added[std::string(key)] = Symbol{graph.node(user).name};
      break;
    }
    return added;
  });
}

}  // namespace cnnc

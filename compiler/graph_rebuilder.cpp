#include "compiler/graph_rebuilder.h"

namespace cnnc {

Expected<ValueId> GraphRebuilder::copy(ValueId id, const AttributeMap& added) {
  Node node = source_.node(id);
  for (const auto& [name, value] : added) node.attrs.insert_or_assign(name, value);
  for (ValueId& operand : node.operands) operand = mapped(operand);
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

}  // namespace cnnc

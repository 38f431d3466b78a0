#include "ir/printer.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "ir/lexer.h"

namespace cnnc {
namespace {

bool isPlainIdentifier(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-')) return false;
  return true;
}

std::string spellName(std::string_view name) {
  return isPlainIdentifier(name) ? std::string(name) : quoteName(name);
}

std::string printNode(const Graph& graph, const Node& node) {
  std::string line = fmt::format("  {} = {}", valueRef(node.name), mnemonic(node.op));
  for (size_t i = 0; i < node.operands.size(); ++i)
    line += fmt::format("{}{}", i == 0 ? " " : ", ", valueRef(graph.node(node.operands[i]).name));
  if (!node.attrs.empty()) {
    line += " {";
    bool first = true;
    for (const auto& [key, value] : node.attrs) {
      line += fmt::format("{}{}={}", first ? "" : ", ", key, toString(value));
      first = false;
    }
    line += "}";
  }
  return line + fmt::format(" : {}\n", toString(node.type));
}

}  // namespace

std::string quoteName(std::string_view name) {
  // Only the two characters that would end the name early are escaped.
  std::string text = "\"";
  for (char c : name) {
    if (c == '"' || c == '\\') text += '\\';
    text += c;
  }
  return text + '"';
}

std::string valueRef(std::string_view name) { return fmt::format("%{}", spellName(name)); }

std::string symbolText(std::string_view name) {
  const bool word = isPlainIdentifier(name) && !isNumberStart(name[0]) && name != "inf" && name != "nan";
  return word ? std::string(name) : quoteName(name);
}

std::string printGraph(const Graph& graph) {
  std::string text = fmt::format("graph @{} {{\n", spellName(graph.name()));
  for (const Node& node : graph.nodes()) text += printNode(graph, node);
  text += "  return";
  for (size_t i = 0; i < graph.outputs().size(); ++i)
    text += fmt::format("{}{}", i == 0 ? " " : ", ", valueRef(graph.node(graph.outputs()[i]).name));
  return text + "\n}\n";
}

std::string printGraphForUsers(const Graph& graph) {
  const auto relayouts = std::count_if(graph.nodes().begin(), graph.nodes().end(),
                                       [](const Node& node) { return node.op == Op::Relayout; });
  std::string text = printGraph(graph);
  if (relayouts > 0) text += fmt::format("// {} relayout node{}\n", relayouts, relayouts == 1 ? "" : "s");
  return text;
}

}  // namespace cnnc

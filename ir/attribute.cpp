#include "ir/attribute.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "ir/printer.h"

namespace cnnc {
namespace {

// Shortest text that reads back as the same double, always marked as a float
// (a '.' or an exponent) so that the parser never mistakes it for an integer.
std::string floatToString(double value) {
  std::string text = fmt::format("{}", value);
  if (text.find_first_of(".eEn") == std::string::npos) text += ".0";
  return text;
}

template <class T>
std::optional<T> get(const AttributeMap& attrs, std::string_view key) {
  auto it = attrs.find(key);
  if (it == attrs.end() || !std::holds_alternative<T>(it->second)) return std::nullopt;
  return std::get<T>(it->second);
}

}  // namespace

std::string toString(const Attribute& attribute) {
  struct Printer {
    std::string operator()(int64_t value) const { return fmt::format("{}", value); }
    std::string operator()(double value) const { return floatToString(value); }
    std::string operator()(const Symbol& symbol) const { return symbolText(symbol.name); }
    std::string operator()(const IntList& list) const { return fmt::format("[{}]", fmt::join(list, ",")); }
  };
  return std::visit(Printer{}, attribute);
}

std::optional<int64_t> getInt(const AttributeMap& attrs, std::string_view key) {
  return get<int64_t>(attrs, key);
}
std::optional<double> getFloat(const AttributeMap& attrs, std::string_view key) {
  return get<double>(attrs, key);
}
std::optional<IntList> getInts(const AttributeMap& attrs, std::string_view key) {
  return get<IntList>(attrs, key);
}
std::optional<std::string> getSymbol(const AttributeMap& attrs, std::string_view key) {
  std::optional<Symbol> symbol = get<Symbol>(attrs, key);
  if (!symbol) return std::nullopt;
  return symbol->name;
}

}  // namespace cnnc

// Flat node attributes: a sorted map from name to a small value. Sorted so
// that printing is deterministic and the text form is canonical.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace cnnc {

// An identifier such as `relu` (for enumerations like a fused activation), or
// a name (of the layer a fused node absorbed); any text, quoted if need be.
struct Symbol {
  std::string name;
  bool operator==(const Symbol&) const = default;
};

using IntList = std::vector<int64_t>;
using Attribute = std::variant<int64_t, double, Symbol, IntList>;
using AttributeMap = std::map<std::string, Attribute, std::less<>>;

// The printed form: 3, 0.5, relu, [1,2].
std::string toString(const Attribute& attribute);

// Typed lookups; nullopt when the key is missing or of another kind.
std::optional<int64_t> getInt(const AttributeMap& attrs, std::string_view key);
std::optional<double> getFloat(const AttributeMap& attrs, std::string_view key);
std::optional<IntList> getInts(const AttributeMap& attrs, std::string_view key);
std::optional<std::string> getSymbol(const AttributeMap& attrs, std::string_view key);

}  // namespace cnnc

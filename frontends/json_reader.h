// Reading JSON with messages a user can act on. Every problem is one line
// naming the file and either the line:column of a syntax error or the JSON
// path of the offending value:
//   seed.json:4:17: syntax error: unexpected '}'; expected string literal
//   seed.json: layers[3].kernel_size: expected a positive integer or [kh, kw], got "3"
// Internal to the JSON frontend (the only user of nlohmann/json).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "ir/error.h"

namespace cnnc {

// ordered_json keeps an object's members in file order, so problems are
// reported in the order the user reads them.
using Json = nlohmann::ordered_json;
using IntPair = std::array<int64_t, 2>;

// The problems found in one file, each already formatted as a full line.
class Diagnostics {
 public:
  explicit Diagnostics(std::string source) : source_(std::move(source)) {}

  // A problem with the value at `path`; an empty path means the whole file.
  void report(std::string_view path, std::string_view message);
  // A problem at a position in the text (syntax errors).
  void reportAt(int64_t line, int64_t column, std::string_view message);

  size_t count() const { return lines_.size(); }
  // Every problem so far, one per line.
  Error error() const;

 private:
  std::string source_;
  std::vector<std::string> lines_;
};

// JSON paths as messages spell them: `layers[3].kernel_size`. Keys that are
// not plain identifiers are quoted: `layers[3]["odd key"]`.
std::string memberPath(std::string_view object, std::string_view key);
std::string elementPath(std::string_view array, size_t index);

// `text` as a JSON string literal: quoted, with control characters escaped,
// so that a message stays on one line whatever the file contains.
std::string quote(std::string_view text);
// A value as messages show it: its JSON text, cut short if long.
std::string describe(const Json& value);

// Parses `text` as one JSON document. Syntax errors (then nullopt) and
// duplicate keys (which JSON parsers otherwise resolve silently) go to `diags`.
std::optional<Json> parseJson(std::string_view text, Diagnostics& diags);

// The accepted values of a number, for checks and for messages ("> 0", "in [0, 1)").
struct NumberRange {
  double low;
  bool lowInclusive;
  std::optional<double> high;  // none: unbounded
  bool highInclusive = false;

  bool contains(double value) const;
  std::string describe() const;
};

class JsonReader;

// One key of an object and how to read its value.
struct Field {
  std::string_view key;
  bool required;
  std::function<void(const JsonReader&)> read;
};

// A value of the document together with its path and the diagnostics that
// problems with it go to. The typed readers return nullopt after reporting
// "expected <what>, got <value>" at the value's path.
class JsonReader {
 public:
  JsonReader(const Json& value, std::string path, Diagnostics& diags)
      : value_(&value), path_(std::move(path)), diags_(&diags) {}

  const Json& value() const { return *value_; }
  const std::string& path() const { return path_; }
  bool has(std::string_view key) const;
  // The member `key`, which must exist.
  JsonReader member(std::string_view key) const;
  JsonReader element(size_t index) const;

  void report(std::string_view message) const;
  void reportExpected(std::string_view what) const;
  void reportMissing(std::string_view key) const;

  // An integer >= 1.
  std::optional<int64_t> positiveInt() const;
  // An integer >= minimum, or a pair of them; `what` names both forms in messages.
  std::optional<IntPair> intOrPair(int64_t minimum, std::string_view what) const;
  // Any JSON number (integers included) within `range`.
  std::optional<double> number(const NumberRange& range) const;
  std::optional<bool> boolean() const;
  // A string equal to one of `choices`.
  std::optional<std::string> oneOf(std::initializer_list<std::string_view> choices) const;

  // Reports a value that is not an object; true if it is one.
  bool expectObject() const;
  // Reads an object: each present key through its field in file order, then
  // reports unknown keys and missing required ones. False if not an object.
  bool readObject(const std::vector<Field>& fields) const;

 private:
  const Json* value_;
  std::string path_;
  Diagnostics* diags_;
};

}  // namespace cnnc

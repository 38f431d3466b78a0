#include "frontends/json_reader.h"

#include <algorithm>
#include <cctype>
#include <limits>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace cnnc {
namespace {

// Longest value text quoted in a message.
constexpr size_t kDescribeLimit = 40;

bool isIdentifier(std::string_view key) {
  return !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

bool isUtf8Continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// Never throws: invalid UTF-8 (which the parser rejects anyway) is replaced.
std::string dumpScalar(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// Appends the JSON text of `value` to `out`, stopping soon after `out`
// exceeds `limit`. Walking the value ourselves (instead of dump()) bounds
// both the work and the recursion depth for huge or deeply nested values.
void appendJson(const Json& value, std::string& out, size_t limit) {
  if (!value.is_structured()) {
    out += dumpScalar(value);
    return;
  }
  out += value.is_array() ? '[' : '{';
  bool first = true;
  for (auto it = value.begin(); it != value.end() && out.size() <= limit; ++it) {
    if (!first) out += ',';
    first = false;
    if (value.is_object()) out += quote(it.key()) + ':';
    appendJson(it.value(), out, limit);
  }
  out += value.is_array() ? ']' : '}';
}

// nlohmann counts the bytes it has read; the offending byte is the last of
// them (or the end of the text). Columns count characters, not UTF-8 bytes,
// as editors do.
std::pair<int64_t, int64_t> lineAndColumn(std::string_view text, size_t bytesRead) {
  size_t offset = std::min(bytesRead > 0 ? bytesRead - 1 : 0, text.size());
  int64_t line = 1, column = 1;
  for (size_t i = 0; i < offset; ++i) {
    if (text[i] == '\n') {
      line += 1;
      column = 1;
    } else if (!isUtf8Continuation(text[i])) {
      column += 1;
    }
  }
  return {line, column};
}

// nlohmann's error id for a number too large for a double (1e400).
constexpr int kNumberOverflow = 406;

// nlohmann's messages read "[json.exception.parse_error.101] parse error at
// line 1, column 8: syntax error while parsing object key - unexpected '}';
// last read: '{"a": 1,}'; expected string literal". The user needs the part
// after " - ", without the echo of the text read, which the line and column
// replace (it can be long and can hold invalid UTF-8).
std::string syntaxMessage(const Json::exception& error, const std::string& lastToken) {
  if (error.id == kNumberOverflow) return fmt::format("number {} is out of range", lastToken);
  std::string what = error.what();
  size_t dash = what.find(" - ");
  std::string message = dash == std::string::npos ? what : what.substr(dash + 3);
  std::string echo = fmt::format("; last read: '{}'", lastToken);
  if (size_t at = message.find(echo); at != std::string::npos) message.erase(at, echo.size());
  return "syntax error: " + message;
}

// Builds the document from nlohmann's SAX events. Unlike json::parse this
// gives the position of every failure (number overflow included) and lets us
// reject duplicate keys.
class DocumentBuilder final : public nlohmann::json_sax<Json> {
 public:
  explicit DocumentBuilder(Diagnostics& diags) : diags_(diags) {}

  Json takeDocument() { return std::move(document_); }
  // Bytes read when parsing failed, and why; nullopt while it has not.
  const std::optional<std::pair<size_t, std::string>>& failure() const { return failure_; }

  bool null() override { return add(nullptr); }
  bool boolean(bool value) override { return add(value); }
  bool number_integer(number_integer_t value) override { return add(value); }
  bool number_unsigned(number_unsigned_t value) override { return add(value); }
  bool number_float(number_float_t value, const string_t& /*text*/) override { return add(value); }
  bool string(string_t& value) override { return add(std::move(value)); }
  bool binary(binary_t& /*value*/) override { return false; }  // only binary formats have these
  bool start_object(std::size_t /*size*/) override { return open(Json::object()); }
  bool start_array(std::size_t /*size*/) override { return open(Json::array()); }
  bool end_object() override { return close(); }
  bool end_array() override { return close(); }

  bool key(string_t& key) override {
    if (open_.back().value->contains(key)) diags_.report(memberPath(openPath(), key), "duplicate key");
    key_ = key;
    return true;
  }

  bool parse_error(std::size_t bytesRead, const std::string& lastToken, const Json::exception& error) override {
    // nlohmann stops at the last character of an out-of-range number; point at its first.
    if (error.id == kNumberOverflow && !lastToken.empty() && lastToken.size() <= bytesRead)
      bytesRead -= lastToken.size() - 1;
    failure_ = {bytesRead, syntaxMessage(error, lastToken)};
    return false;
  }

 private:
  // An array or object still being filled, and where it is in its parent:
  // its key, or its index when the parent is an array. Paths are built only
  // when needed, since building one per container is quadratic in the depth.
  struct Container {
    Json* value;
    std::optional<std::string> key;
    size_t index = 0;
  };

  // Stores `value` where the next value belongs and returns it. Pointers to
  // open containers stay valid: only the innermost one is ever modified.
  Json* place(Json value) {
    if (open_.empty()) {
      document_ = std::move(value);
      return &document_;
    }
    Json& parent = *open_.back().value;
    if (parent.is_array()) {
      parent.push_back(std::move(value));
      return &parent.back();
    }
    Json& slot = parent[key_];
    slot = std::move(value);
    return &slot;
  }

  // The JSON path of the innermost open container.
  std::string openPath() const {
    std::string path;
    for (size_t i = 1; i < open_.size(); ++i)
      path = open_[i].key ? memberPath(path, *open_[i].key) : elementPath(path, open_[i].index);
    return path;
  }

  bool add(Json value) {
    place(std::move(value));
    return true;
  }
  bool open(Json container) {
    Container opened{nullptr, std::nullopt, 0};
    if (!open_.empty() && open_.back().value->is_array())
      opened.index = open_.back().value->size();
    else if (!open_.empty())
      opened.key = key_;
    opened.value = place(std::move(container));
    open_.push_back(std::move(opened));
    return true;
  }
  bool close() {
    open_.pop_back();
    return true;
  }

  Diagnostics& diags_;
  Json document_;
  std::vector<Container> open_;
  std::string key_;  // the key of the next member of the innermost object
  std::optional<std::pair<size_t, std::string>> failure_;
};

// An integer >= minimum that fits int64 (JSON integers beyond 2^64 arrive as floats).
std::optional<int64_t> asInt(const Json& value, int64_t minimum) {
  int64_t result = 0;
  if (value.is_number_unsigned()) {
    auto unsignedValue = value.get<uint64_t>();
    if (unsignedValue > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
    result = static_cast<int64_t>(unsignedValue);
  } else if (value.is_number_integer()) {
    result = value.get<int64_t>();
  } else {
    return std::nullopt;
  }
  if (result < minimum) return std::nullopt;
  return result;
}

}  // namespace

void Diagnostics::report(std::string_view path, std::string_view message) {
  lines_.push_back(path.empty() ? fmt::format("{}: {}", source_, message)
                                : fmt::format("{}: {}: {}", source_, path, message));
}

void Diagnostics::reportAt(int64_t line, int64_t column, std::string_view message) {
  lines_.push_back(fmt::format("{}:{}:{}: {}", source_, line, column, message));
}

Error Diagnostics::error() const { return Error{fmt::format("{}", fmt::join(lines_, "\n"))}; }

std::string memberPath(std::string_view object, std::string_view key) {
  if (!isIdentifier(key)) return fmt::format("{}[{}]", object, quote(key));
  return object.empty() ? std::string(key) : fmt::format("{}.{}", object, key);
}

std::string elementPath(std::string_view array, size_t index) { return fmt::format("{}[{}]", array, index); }

std::string quote(std::string_view text) { return dumpScalar(Json(std::string(text))); }

std::string describe(const Json& value) {
  std::string text;
  appendJson(value, text, kDescribeLimit);
  if (text.size() <= kDescribeLimit) return text;
  size_t cut = kDescribeLimit - 3;
  while (cut > 0 && isUtf8Continuation(text[cut])) --cut;
  return text.substr(0, cut) + "...";
}

std::optional<Json> parseJson(std::string_view text, Diagnostics& diags) {
  DocumentBuilder builder(diags);
  Json::sax_parse(text, &builder);
  if (const auto& failure = builder.failure()) {
    auto [line, column] = lineAndColumn(text, failure->first);
    diags.reportAt(line, column, failure->second);
    return std::nullopt;
  }
  return builder.takeDocument();
}

bool NumberRange::contains(double value) const {
  bool aboveLow = lowInclusive ? value >= low : value > low;
  bool belowHigh = !high || (highInclusive ? value <= *high : value < *high);
  return aboveLow && belowHigh;
}

std::string NumberRange::describe() const {
  if (!high) return fmt::format("{} {}", lowInclusive ? ">=" : ">", low);
  return fmt::format("in {}{}, {}{}", lowInclusive ? '[' : '(', low, *high, highInclusive ? ']' : ')');
}

bool JsonReader::has(std::string_view key) const {
  return value_->is_object() && value_->contains(std::string(key));
}

JsonReader JsonReader::member(std::string_view key) const {
  return JsonReader(value_->at(std::string(key)), memberPath(path_, key), *diags_);
}

JsonReader JsonReader::element(size_t index) const {
  return JsonReader(value_->at(index), elementPath(path_, index), *diags_);
}

void JsonReader::report(std::string_view message) const { diags_->report(path_, message); }

void JsonReader::reportExpected(std::string_view what) const {
  report(fmt::format("expected {}, got {}", what, describe(*value_)));
}

void JsonReader::reportMissing(std::string_view key) const {
  report(fmt::format("missing required key {}", quote(key)));
}

std::optional<int64_t> JsonReader::positiveInt() const {
  std::optional<int64_t> result = asInt(*value_, 1);
  if (!result) reportExpected("a positive integer");
  return result;
}

std::optional<IntPair> JsonReader::intOrPair(int64_t minimum, std::string_view what) const {
  if (std::optional<int64_t> single = asInt(*value_, minimum)) return IntPair{*single, *single};
  if (value_->is_array() && value_->size() == 2) {
    std::optional<int64_t> first = asInt((*value_)[0], minimum);
    std::optional<int64_t> second = asInt((*value_)[1], minimum);
    if (first && second) return IntPair{*first, *second};
  }
  reportExpected(what);
  return std::nullopt;
}

std::optional<double> JsonReader::number(const NumberRange& range) const {
  if (value_->is_number()) {
    auto result = value_->get<double>();
    if (range.contains(result)) return result;
  }
  reportExpected(fmt::format("a number {}", range.describe()));
  return std::nullopt;
}

std::optional<bool> JsonReader::boolean() const {
  if (value_->is_boolean()) return value_->get<bool>();
  reportExpected("true or false");
  return std::nullopt;
}

std::optional<std::string> JsonReader::oneOf(std::initializer_list<std::string_view> choices) const {
  if (value_->is_string()) {
    const auto& text = value_->get_ref<const std::string&>();
    if (std::find(choices.begin(), choices.end(), text) != choices.end()) return text;
  }
  // "a", "b" or "c"
  std::string what;
  size_t index = 0;
  for (std::string_view choice : choices) {
    if (index > 0) what += index + 1 == choices.size() ? " or " : ", ";
    what += quote(choice);
    ++index;
  }
  reportExpected(what);
  return std::nullopt;
}

bool JsonReader::expectObject() const {
  if (value_->is_object()) return true;
  reportExpected("an object");
  return false;
}

bool JsonReader::readObject(const std::vector<Field>& fields) const {
  if (!expectObject()) return false;
  for (auto it = value_->begin(); it != value_->end(); ++it) {
    auto field = std::find_if(fields.begin(), fields.end(), [&](const Field& f) { return f.key == it.key(); });
    JsonReader memberReader(it.value(), memberPath(path_, it.key()), *diags_);
    if (field == fields.end())
      memberReader.report("unknown key");
    else
      field->read(memberReader);
  }
  for (const Field& field : fields)
    if (field.required && !has(field.key)) reportMissing(field.key);
  return true;
}

}  // namespace cnnc

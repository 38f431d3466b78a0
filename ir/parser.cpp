#include "ir/parser.h"

#include <charconv>
#include <optional>
#include <type_traits>
#include <vector>

#include <fmt/format.h>

#include "ir/lexer.h"
#include "ir/op_checks.h"
#include "ir/printer.h"
#include "ir/shape_inference.h"
#include "ir/verifier.h"

namespace cnnc {
namespace {

// Messages quote names, and a quoted name may hold a newline or any other
// byte: escape control characters so that every message stays one line.
std::string oneLine(std::string_view message) {
  std::string text;
  for (char c : message) {
    auto byte = static_cast<unsigned char>(c);
    if (c == '\n') text += "\\n";
    else if (byte < 0x20 || byte == 0x7f) text += fmt::format("\\x{:02x}", byte);
    else text += c;
  }
  return text;
}

// The printer's rule for telling floats from integers (see attribute.cpp):
// a float has a fraction or an exponent, or is inf or nan.
bool isFloatSpelling(std::string_view word) { return word.find_first_of(".eEn") != std::string_view::npos; }

template <class T>
Status append(Expected<T> item, std::vector<T>& list) {
  if (!item) return item.error();
  list.push_back(std::move(*item));
  return Status::ok();
}

struct Name {
  std::string text;
  SourceLocation location;  // of the '%' or '@'
};

// Recursive descent over the grammar in printer.h, one function per rule.
// Semantic checks (definition before use, shape inference) happen as each
// statement completes, so that messages point at the offending token.
class Parser {
 public:
  Parser(std::string_view text, std::string_view sourceName) : lexer_(text), sourceName_(sourceName) {
    token_ = lexer_.next();
  }

  Expected<Graph> parseGraph();

 private:
  bool at(TokenKind kind) const { return token_.kind == kind; }
  bool atWord(std::string_view word) const { return at(TokenKind::Word) && token_.text == word; }
  Token take();
  Status expect(TokenKind kind);
  template <class ParseItem>
  Status parseSeparated(ParseItem parseItem);

  Error errorAt(SourceLocation location, std::string_view message) const;
  Error unexpected(std::string_view expected) const;

  Expected<Name> parseName(TokenKind sigil);
  Expected<ValueId> parseOperand(const Graph& graph);
  Status parseStatement(Graph& graph);
  Expected<Op> parseOp();
  Status parseOperandsAndAttributes(const Graph& graph, Node& node);
  Status parseAttributes(AttributeMap& attrs);
  Status parseAttributeEntry(AttributeMap& attrs);
  Expected<Attribute> parseAttribute();
  Expected<Attribute> parseNumber();
  template <class T>
  Expected<Attribute> convertNumber(const Token& word);
  Expected<int64_t> parseInt();
  Expected<IntList> parseIntList();
  Expected<TensorType> parseType();
  Expected<Layout> parseLayout();
  Status checkLeafType(const TensorType& type, SourceLocation location) const;
  Status checkInferredType(const Graph& graph, const Node& node, SourceLocation opLocation,
                           SourceLocation typeLocation) const;
  Status parseReturn(Graph& graph);

  Lexer lexer_;
  std::string_view sourceName_;
  Token token_;  // the lookahead
};

Token Parser::take() {
  Token token = std::move(token_);
  token_ = lexer_.next();
  return token;
}

Status Parser::expect(TokenKind kind) {
  if (!at(kind)) return unexpected(describe(kind));
  take();
  return Status::ok();
}

// item (',' item)*
template <class ParseItem>
Status Parser::parseSeparated(ParseItem parseItem) {
  CNNC_TRY(parseItem());
  while (at(TokenKind::Comma)) {
    take();
    CNNC_TRY(parseItem());
  }
  return Status::ok();
}

Error Parser::errorAt(SourceLocation location, std::string_view message) const {
  return Error{oneLine(fmt::format("{}:{}:{}: {}", sourceName_, location.line, location.column, message))};
}

// The lookahead is not what the grammar needs here. A malformed token (an
// Error from the lexer) never matches anything, so its message surfaces here.
Error Parser::unexpected(std::string_view expected) const {
  if (at(TokenKind::Error)) return errorAt(token_.location, token_.text);
  return errorAt(token_.location, fmt::format("expected {} but found {}", expected, describe(token_)));
}

Expected<Graph> Parser::parseGraph() {
  if (!atWord("graph")) return unexpected("'graph'");
  take();
  Expected<Name> name = parseName(TokenKind::At);
  if (!name) return name.error();
  Graph graph(std::move(name->text));
  CNNC_TRY(expect(TokenKind::LBrace));
  while (!atWord("return")) {
    if (!at(TokenKind::Percent)) return unexpected("a statement (%name = ...) or 'return'");
    CNNC_TRY(parseStatement(graph));
  }
  CNNC_TRY(parseReturn(graph));
  CNNC_TRY(expect(TokenKind::RBrace));
  if (!at(TokenKind::End)) return unexpected("end of input after the graph");
  // The checks above should leave nothing for the verifier to find.
  if (Status status = verify(graph); !status)
    return Error{oneLine(fmt::format("{}: {}", sourceName_, status.error().message))};
  return graph;
}

// '%' or '@' followed by a plain or a quoted name.
Expected<Name> Parser::parseName(TokenKind sigil) {
  SourceLocation location = token_.location;
  CNNC_TRY(expect(sigil));
  if (at(TokenKind::String)) return Name{take().text, location};
  if (!at(TokenKind::Word)) return unexpected(fmt::format("a name after {}", describe(sigil)));
  if (token_.text.find('+') != std::string::npos)
    return errorAt(token_.location, fmt::format("name '{}' holds a '+' and must be quoted", token_.text));
  return Name{take().text, location};
}

Expected<ValueId> Parser::parseOperand(const Graph& graph) {
  Expected<Name> name = parseName(TokenKind::Percent);
  if (!name) return name.error();
  std::optional<ValueId> id = graph.lookup(name->text);
  if (!id) return errorAt(name->location, fmt::format("use of undefined value {}", valueRef(name->text)));
  return *id;
}

// %name = op operands {attrs} : type
Status Parser::parseStatement(Graph& graph) {
  Expected<Name> name = parseName(TokenKind::Percent);
  if (!name) return name.error();
  if (name->text.empty()) return errorAt(name->location, "a value name cannot be empty");
  CNNC_TRY(expect(TokenKind::Equal));
  SourceLocation opLocation = token_.location;
  Expected<Op> op = parseOp();
  if (!op) return op.error();
  Node node{*op, std::move(name->text), {}, {}, {}};
  CNNC_TRY(parseOperandsAndAttributes(graph, node));
  CNNC_TRY(expect(TokenKind::Colon));
  SourceLocation typeLocation = token_.location;
  Expected<TensorType> type = parseType();
  if (!type) return type.error();
  node.type = std::move(*type);
  CNNC_TRY(isLeaf(node.op) ? checkLeafType(node.type, typeLocation)
                           : checkInferredType(graph, node, opLocation, typeLocation));
  if (Expected<ValueId> id = graph.addUnchecked(std::move(node)); !id)
    return errorAt(name->location, id.error().message);
  return Status::ok();
}

Expected<Op> Parser::parseOp() {
  if (!at(TokenKind::Word)) return unexpected("an op name");
  std::optional<Op> op = opFromMnemonic(token_.text);
  if (!op) return errorAt(token_.location, fmt::format("unknown op '{}'", token_.text));
  take();
  return *op;
}

// Leaves take neither operands nor attributes: their type is all they have.
Status Parser::parseOperandsAndAttributes(const Graph& graph, Node& node) {
  if (isLeaf(node.op) && (at(TokenKind::Percent) || at(TokenKind::LBrace)))
    return errorAt(token_.location, fmt::format("{} takes no {}", mnemonic(node.op),
                                                at(TokenKind::Percent) ? "operands" : "attributes"));
  if (at(TokenKind::Percent))
    CNNC_TRY(parseSeparated([&] { return append(parseOperand(graph), node.operands); }));
  if (at(TokenKind::LBrace)) CNNC_TRY(parseAttributes(node.attrs));
  return Status::ok();
}

// '{' key '=' attr (',' key '=' attr)* '}'
Status Parser::parseAttributes(AttributeMap& attrs) {
  CNNC_TRY(expect(TokenKind::LBrace));
  CNNC_TRY(parseSeparated([&] { return parseAttributeEntry(attrs); }));
  return expect(TokenKind::RBrace);
}

Status Parser::parseAttributeEntry(AttributeMap& attrs) {
  if (!at(TokenKind::Word)) return unexpected("an attribute name");
  Token key = take();
  CNNC_TRY(expect(TokenKind::Equal));
  Expected<Attribute> value = parseAttribute();
  if (!value) return value.error();
  if (!attrs.emplace(key.text, std::move(*value)).second)
    return errorAt(key.location, fmt::format("attribute '{}' is given twice", key.text));
  return Status::ok();
}

// int | float | identifier | quoted | '[' ints ']'
Expected<Attribute> Parser::parseAttribute() {
  if (at(TokenKind::LBracket)) {
    Expected<IntList> list = parseIntList();
    if (!list) return list.error();
    return Attribute(std::move(*list));
  }
  if (at(TokenKind::String)) return Attribute(Symbol{take().text});
  if (!at(TokenKind::Word)) return unexpected("an attribute value (a number, a symbol or a list)");
  if (isNumberStart(token_.text[0]) || token_.text == "inf" || token_.text == "nan") return parseNumber();
  return Attribute(Symbol{take().text});
}

Expected<Attribute> Parser::parseNumber() {
  Token word = take();
  return isFloatSpelling(word.text) ? convertNumber<double>(word) : convertNumber<int64_t>(word);
}

template <class T>
Expected<Attribute> Parser::convertNumber(const Token& word) {
  T value{};
  const char* end = word.text.data() + word.text.size();
  auto [stop, status] = std::from_chars(word.text.data(), end, value);
  if (stop != end || (status != std::errc() && status != std::errc::result_out_of_range))
    return errorAt(word.location, fmt::format("malformed number '{}'", word.text));
  if (status == std::errc::result_out_of_range)
    return errorAt(word.location, fmt::format("number {} does not fit in {}", word.text,
                                              std::is_integral_v<T> ? "64 bits" : "a 64-bit float"));
  return Attribute(value);
}

Expected<int64_t> Parser::parseInt() {
  if (!at(TokenKind::Word) || !isNumberStart(token_.text[0]) || isFloatSpelling(token_.text))
    return unexpected("an integer");
  Expected<Attribute> number = parseNumber();
  if (!number) return number.error();
  return std::get<int64_t>(*number);
}

// '[' (int (',' int)*)? ']'
Expected<IntList> Parser::parseIntList() {
  CNNC_TRY(expect(TokenKind::LBracket));
  IntList list;
  if (!at(TokenKind::RBracket)) CNNC_TRY(parseSeparated([&] { return append(parseInt(), list); }));
  CNNC_TRY(expect(TokenKind::RBracket));
  return list;
}

// dtype '[' dims ']' ('<' layout '>')?
Expected<TensorType> Parser::parseType() {
  if (!at(TokenKind::Word)) return unexpected("a type such as f32[8,10]");
  std::optional<DType> dtype = dtypeFromName(token_.text);
  if (!dtype) return errorAt(token_.location, fmt::format("unknown element type '{}'", token_.text));
  take();
  Expected<IntList> dims = parseIntList();
  if (!dims) return dims.error();
  TensorType type{*dtype, std::move(*dims)};
  if (at(TokenKind::Less)) {
    Expected<Layout> layout = parseLayout();
    if (!layout) return layout.error();
    type.layout = *layout;
  }
  return type;
}

Expected<Layout> Parser::parseLayout() {
  CNNC_TRY(expect(TokenKind::Less));
  if (!at(TokenKind::Word)) return unexpected("a layout name such as NCHW16c");
  std::optional<Layout> layout = layoutFromName(token_.text);
  if (!layout) return errorAt(token_.location, fmt::format("unknown layout '{}'", token_.text));
  take();
  CNNC_TRY(expect(TokenKind::Greater));
  return *layout;
}

// A leaf's declared type is its only source of truth, so it must describe a
// tensor that can exist.
Status Parser::checkLeafType(const TensorType& type, SourceLocation location) const {
  for (int64_t dim : type.dims)
    if (dim < 1)
      return errorAt(location, fmt::format("dimensions must be at least 1, got {}", toString(type)));
  if (!byteSize(type))
    return errorAt(location, fmt::format("the size of {} overflows 64 bits", toString(type)));
  return Status::ok();
}

Status Parser::checkInferredType(const Graph& graph, const Node& node, SourceLocation opLocation,
                                 SourceLocation typeLocation) const {
  std::vector<TensorType> operandTypes;
  for (ValueId operand : node.operands) operandTypes.push_back(graph.node(operand).type);
  Expected<TensorType> inferred = inferType(node.op, operandTypes, node.attrs);
  if (!inferred) return errorAt(opLocation, inferred.error().message);
  if (*inferred != node.type)
    return errorAt(typeLocation, fmt::format("declared type {} but the operands give {}", toString(node.type),
                                             toString(*inferred)));
  return Status::ok();
}

// 'return' valueref (',' valueref)*
Status Parser::parseReturn(Graph& graph) {
  take();  // 'return'
  std::vector<ValueId> outputs;
  CNNC_TRY(parseSeparated([&] { return append(parseOperand(graph), outputs); }));
  graph.setOutputs(std::move(outputs));
  return Status::ok();
}

}  // namespace

Expected<Graph> parseGraph(std::string_view text, std::string_view sourceName) {
  return Parser(text, sourceName).parseGraph();
}

}  // namespace cnnc

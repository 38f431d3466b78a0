#include "ir/lexer.h"

#include <cctype>

#include <fmt/format.h>

#include "ir/printer.h"

namespace cnnc {
namespace {

bool isWordChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
}

// Control bytes and non-ASCII garbage are shown by value, so that every
// message stays printable and on one line.
std::string describeChar(char c) {
  auto byte = static_cast<unsigned char>(c);
  if (std::isprint(byte)) return fmt::format("character '{}'", c);
  return fmt::format("byte 0x{:02x}", byte);
}

TokenKind punctuation(char c) {
  switch (c) {
    case '%': return TokenKind::Percent;
    case '@': return TokenKind::At;
    case '=': return TokenKind::Equal;
    case ',': return TokenKind::Comma;
    case ':': return TokenKind::Colon;
    case '{': return TokenKind::LBrace;
    case '}': return TokenKind::RBrace;
    case '[': return TokenKind::LBracket;
    case ']': return TokenKind::RBracket;
    case '<': return TokenKind::Less;
    case '>': return TokenKind::Greater;
    default: return TokenKind::Error;
  }
}

}  // namespace

// fmt prints large and small doubles with an explicit exponent sign (1e+20),
// hence the '+' in number words.
bool isNumberStart(char c) { return std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '.'; }

std::string describe(TokenKind kind) {
  switch (kind) {
    case TokenKind::Word: return "a word";
    case TokenKind::String: return "a quoted name";
    case TokenKind::Percent: return "'%'";
    case TokenKind::At: return "'@'";
    case TokenKind::Equal: return "'='";
    case TokenKind::Comma: return "','";
    case TokenKind::Colon: return "':'";
    case TokenKind::LBrace: return "'{'";
    case TokenKind::RBrace: return "'}'";
    case TokenKind::LBracket: return "'['";
    case TokenKind::RBracket: return "']'";
    case TokenKind::Less: return "'<'";
    case TokenKind::Greater: return "'>'";
    case TokenKind::End: return "end of input";
    case TokenKind::Error: return "invalid input";
  }
  return "a token";
}

std::string describe(const Token& token) {
  switch (token.kind) {
    case TokenKind::Word: return fmt::format("'{}'", token.text);
    case TokenKind::String: return quoteName(token.text);
    default: return describe(token.kind);
  }
}

char Lexer::peek(size_t ahead) const {
  return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : '\0';
}

void Lexer::advance() {
  if (text_[pos_++] == '\n') {
    ++location_.line;
    location_.column = 1;
  } else {
    ++location_.column;
  }
}

void Lexer::skipSpaceAndComments() {
  while (pos_ < text_.size()) {
    char c = peek();
    if (c == '#' || (c == '/' && peek(1) == '/')) {
      while (pos_ < text_.size() && peek() != '\n') advance();
    } else if (std::isspace(static_cast<unsigned char>(c))) {
      advance();
    } else {
      return;
    }
  }
}

Token Lexer::next() {
  skipSpaceAndComments();
  SourceLocation start = location_;
  if (pos_ == text_.size()) return {TokenKind::End, "", start};
  char c = peek();
  if (isWordChar(c)) return lexWord(start);
  if (c == '"') return lexString(start);
  advance();
  TokenKind kind = punctuation(c);
  if (kind == TokenKind::Error) return {kind, fmt::format("unexpected {}", describeChar(c)), start};
  return {kind, std::string(1, c), start};
}

Token Lexer::lexWord(SourceLocation start) {
  size_t begin = pos_;
  bool numeric = isNumberStart(peek());
  while (isWordChar(peek()) || (numeric && peek() == '+' && (text_[pos_ - 1] == 'e' || text_[pos_ - 1] == 'E')))
    advance();
  return {TokenKind::Word, std::string(text_.substr(begin, pos_ - begin)), start};
}

Token Lexer::lexString(SourceLocation start) {
  advance();  // the opening quote
  std::string name;
  while (pos_ < text_.size() && peek() != '"') {
    if (peek() == '\\') {
      SourceLocation escape = location_;
      char escaped = peek(1);
      if (escaped != '"' && escaped != '\\') {
        std::string what = pos_ + 1 < text_.size() ? describeChar(escaped) : "end of input";
        return {TokenKind::Error, fmt::format("invalid escape in quoted name: '\\' followed by {}", what),
                escape};
      }
      advance();
    }
    name += peek();
    advance();
  }
  if (pos_ == text_.size()) return {TokenKind::Error, "unterminated quoted name", start};
  advance();  // the closing quote
  return {TokenKind::String, std::move(name), start};
}

}  // namespace cnnc

// The tokenizer of the textual IR (see printer.h for the form).
//
// Bare words are not classified here: the same spelling is a name after '%',
// a number in a shape, a symbol in an attribute (`%1e-05` is a valid value
// name, `1e-05` a valid float). So a word is any run of name characters, and
// the parser decides what it means from where it stands. A negative number
// such as -1 is therefore one word, not '-' followed by 1.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace cnnc {

// 1-based, counted in bytes.
struct SourceLocation {
  int64_t line = 1;
  int64_t column = 1;
};

enum class TokenKind {
  Word,    // [A-Za-z0-9_.-]+, plus '+' in an exponent such as 1e+20
  String,  // a double-quoted name; the token's text is its unescaped content
  Percent,
  At,
  Equal,
  Comma,
  Colon,
  LBrace,
  RBrace,
  LBracket,
  RBracket,
  Less,
  Greater,
  End,    // end of input
  Error,  // malformed input; the token's text is the message
};

struct Token {
  TokenKind kind = TokenKind::End;
  std::string text;
  SourceLocation location;
};

// Whether a word starting with `c` can only be a number (a digit, '-' or
// '.'); such words may also hold the '+' of an exponent, as in 1e+20.
bool isNumberStart(char c);

// "'}'", "end of input", ...: how a kind of token is named in messages.
std::string describe(TokenKind kind);
// The token as it appears in messages: "'relu'", "'}'", "end of input".
std::string describe(const Token& token);

class Lexer {
 public:
  explicit Lexer(std::string_view text) : text_(text) {}

  // The next token; End (repeatedly) once the text is exhausted.
  Token next();

 private:
  char peek(size_t ahead = 0) const;
  void advance();
  void skipSpaceAndComments();
  Token lexWord(SourceLocation start);
  Token lexString(SourceLocation start);

  std::string_view text_;
  size_t pos_ = 0;
  SourceLocation location_;
};

}  // namespace cnnc

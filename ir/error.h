// Errors as values, in the manner of llvm::Expected but without depending on
// LLVM: the IR, the frontend and the driver report user mistakes (bad input)
// by returning an Error that carries one human-readable line. Nothing here
// aborts or throws.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace cnnc {

struct Error {
  std::string message;
};

// A value of T, or the Error that prevented computing it.
template <class T>
class [[nodiscard]] Expected {
 public:
  Expected(T value) : state_(std::move(value)) {}
  Expected(Error error) : state_(std::move(error)) {}

  explicit operator bool() const { return std::holds_alternative<T>(state_); }

  T& operator*() {
    assert(*this && "dereferencing an Expected that holds an error");
    return std::get<T>(state_);
  }
  const T& operator*() const {
    assert(*this && "dereferencing an Expected that holds an error");
    return std::get<T>(state_);
  }
  T* operator->() { return &**this; }
  const T* operator->() const { return &**this; }

  const Error& error() const {
    assert(!*this && "asking a successful Expected for its error");
    return std::get<Error>(state_);
  }

 private:
  std::variant<T, Error> state_;
};

// Success, or the Error that happened: the Expected<void> of this codebase.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)), failed_(true) {}
  static Status ok() { return {}; }

  explicit operator bool() const { return !failed_; }
  const Error& error() const {
    assert(failed_ && "asking a successful Status for its error");
    return error_;
  }

 private:
  Error error_;
  bool failed_ = false;
};

}  // namespace cnnc

// Returns the error of a failed Status (or Expected) from the calling function.
#define CNNC_TRY(status) \
  if (auto status_ = (status); !status_) return status_.error()

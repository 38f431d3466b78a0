// cnnc: compile a CNN model for this machine and run it from C++.
//
// The embedding API of cnnc (libcnnc, `find_package(cnnc)`, target
// cnnc::cnnc). It loads a model file (JSON, format cnnc/1), compiles it to
// native code for one batch size, loads or initialises its weights, computes
// logits of images and trains it one step at a time. This header is the whole
// interface: it needs only the C++ standard library (C++17 or later).
//
//   #include <cnnc/cnnc.h>
//
//   cnnc::api::Result<cnnc::api::Network> net = cnnc::api::Network::load("seed.json", 100);
//   if (!net) { std::cerr << net.message() << "\n"; return 1; }
//   if (cnnc::api::Status s = net->loadWeights("seed.safetensors"); !s) { std::cerr << s.message() << "\n"; return 1; }
//   std::vector<float> images = ...;            // [count, C, H, W], row-major
//   cnnc::api::Result<std::vector<float>> logits = net->infer(images.data(), count);
//   if (!logits) { std::cerr << logits.message() << "\n"; return 1; }
//   // (*logits)[i * net->classes() + k]: the logit of class k for image i
//
// Errors are values. Every operation reports bad input (a missing or invalid
// file, a wrong count, a label out of range, a host without the requested
// instruction set) as a Status or Result holding one human-readable message,
// the same text the `cnnc` driver prints; nothing here throws or aborts on
// bad input. Messages name the file and the place, for example
//   seed.json: layers[3].kernel_size: expected a positive integer or [kh, kw], got "3"
//
// A Network is not thread-safe: use one per thread (each compiles its own
// code and holds its own weights). Each runs its kernels on a pool of one
// thread per core, the calling thread among them; after a call its other
// threads spin for at most 200 microseconds, waiting for the next kernel,
// then sleep: an idle Network costs no processor time.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

// Only the API is visible outside libcnnc; its internals (and the LLVM it is
// built on) stay hidden, so they never clash with a host's own libraries.
#define CNNC_API __attribute__((visibility("default")))

namespace cnnc::api {

// What went wrong, as one line (or one line per problem, for model files).
struct Error {
  std::string message;
};

// Success, or the Error that prevented it.
class [[nodiscard]] Status {
 public:
  Status() = default;  // success
  Status(Error error) : message_(std::move(error.message)), failed_(true) {}

  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  // Empty on success.
  const std::string& message() const { return message_; }

 private:
  std::string message_;
  bool failed_ = false;
};

// A value of T, or the Error that prevented computing it. Check it before
// using the value: value() of a failed Result is a bug of the caller, and
// throws std::bad_variant_access rather than returning garbage.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}
  Result(Error error) : state_(std::move(error)) {}

  bool ok() const { return std::holds_alternative<T>(state_); }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<T>(state_); }
  const T& value() const& { return std::get<T>(state_); }
  T&& value() && { return std::get<T>(std::move(state_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  // Empty on success.
  const std::string& message() const {
    static const std::string none;
    const Error* error = std::get_if<Error>(&state_);
    return error ? error->message : none;
  }

 private:
  std::variant<T, Error> state_;
};

// A model compiled for one batch size and one instruction set, with its
// weights. Movable, not copyable; a moved-from Network reports an error from
// every operation.
class CNNC_API Network {
 public:
  // Reads the model file and generates native code for its inference graph
  // for `batch` images at a time. `target` is "host" (AVX-512 where the CPU
  // has it, else AVX2), "avx512" or "avx2"; a CPU that cannot run the target
  // is an error. The network has no weights yet: call initWeights or
  // loadWeights before infer or trainStep.
  static Result<Network> load(const std::string& modelJsonPath, int64_t batch, const std::string& target = "host");

  Network(Network&&) noexcept;
  Network& operator=(Network&&) noexcept;
  ~Network();

  // Keras's default initialisation, the same weights as `cnnc init --seed`
  // for the same seed. The seed also seeds the dropout masks of trainStep.
  Status initWeights(uint64_t seed);

  // Weights or a checkpoint (safetensors, as `cnnc init` and `cnnc train -o`
  // write them): every parameter and running statistic of the model, with
  // its exact shape. A checkpoint's optimizer state is kept, so trainStep
  // resumes where it stopped (its dropout masks still seeded by the last
  // initWeights, else 0). On error the current weights are unchanged.
  Status loadWeights(const std::string& safetensorsPath);

  // Writes the weights, with the optimizer state once trainStep has run (a
  // checkpoint `cnnc train --weights` resumes). Atomic: on error nothing is
  // left at `path`.
  Status saveWeights(const std::string& path) const;

  // The logits of `count` >= 1 images, count * C * H * W floats in [count,
  // C, H, W] row-major order (CIFAR-10 style: pixel / 255), as [count,
  // classes()] row-major. Images go
  // through in batches of batch(); the last batch, if partial, is padded, so
  // any count runs the code compiled by load (inference mode: batch_norm uses
  // its running statistics, dropout is the identity).
  Result<std::vector<float>> infer(const float* images, int64_t count);

  // One step of the model's optimizer on exactly batch() images and their
  // labels (each in 0 .. classes()-1); returns the loss of the batch before
  // the update. The training graph is compiled on the first call.
  Result<float> trainStep(const float* images, const int32_t* labels, int64_t count);

  // The image each example is: channels, height, width.
  std::array<int64_t, 3> inputShape() const;
  int64_t classes() const;
  int64_t batch() const;
  // The instruction set code was generated for: "avx512" or "avx2".
  std::string targetName() const;

 private:
  struct Impl;
  explicit Network(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cnnc::api

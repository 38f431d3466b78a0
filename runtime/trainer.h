// Training and evaluation over a dataset: batches in a seeded order, one
// compiled graph per batch size met (the last, partial batch gets its own,
// so no example is dropped), and Keras-style metrics per epoch.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>

#include "compiler/pipeline.h"
#include "frontends/model.h"
#include "runtime/cifar10.h"
#include "runtime/executable.h"
#include "runtime/persistent_values.h"

namespace cnnc {

struct Metrics {
  double loss = 0;      // mean over examples
  double accuracy = 0;  // fraction of examples whose largest logit is the label
  int64_t examples = 0;
};

// Runs `executable` (a graph of `model`) on a batch: `images` as the model
// input and, if given, `labels` (class indices, as floats), with `values` for
// the params and state.
Expected<std::vector<Tensor>> runOnBatch(Executable& executable, const Model& model, PersistentValues& values,
                                         const Tensor& images, const Tensor* labels);

// Runs one kind of graph of a model on batches of a dataset, optimised with
// `optimization` (whose target should be the backend's).
class BatchRunner {
 public:
  BatchRunner(const Model& model, GraphKind kind, uint64_t seed, Backend backend, OptimizationOptions optimization)
      : model_(model), kind_(kind), seed_(seed), backend_(std::move(backend)), optimization_(std::move(optimization)) {}

  // Runs on the examples `indices` of `data` (whose labels may be empty for
  // inference). `values` are the persistent values; missing optimizer state
  // starts at zero. `values` then remembers the executable that ran, so read
  // them (current()) while this runner lives.
  Expected<std::vector<Tensor>> run(const Dataset& data, std::span<const int64_t> indices, PersistentValues& values);

 private:
  Expected<Executable*> executableFor(int64_t batch, PersistentValues& values);

  const Model& model_;
  GraphKind kind_;
  uint64_t seed_;
  Backend backend_;
  OptimizationOptions optimization_;
  std::map<int64_t, std::unique_ptr<Executable>> executables_;
};

// Test-set loss and accuracy, in inference mode.
Expected<Metrics> evaluate(const Model& model, const Bindings<float>& weights, const Dataset& data, int64_t batchSize,
                           const Backend& backend, const OptimizationOptions& optimization);

struct TrainOptions {
  int64_t epochs = 10;
  int64_t batchSize = 32;
  uint64_t seed = 0;
  int64_t firstEpoch = 0;  // epochs done before (when resuming from a checkpoint)
  OptimizationOptions optimization;  // of the training and validation graphs
};

struct EpochReport {
  int64_t epoch = 0;  // 1-based, counting the epochs done before
  int64_t steps = 0;
  double seconds = 0;
  Metrics train;
  std::optional<Metrics> validation;
};

// Trains `weights` in place for options.epochs epochs; after each epoch
// brings `weights` up to date and calls onEpoch (which prints, saves a
// checkpoint, ...; its error stops training).
Status train(const Model& model, Bindings<float>& weights, const Dataset& data, const Dataset* validation,
             const TrainOptions& options, const Backend& backend,
             const std::function<Status(const EpochReport&)>& onEpoch);

}  // namespace cnnc

// The persistent values of a model: params, batch_norm running statistics,
// and during training the optimizer's state and the step counter. They live
// in Bindings by name, the names of the weight files (model-format.md §2).
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "frontends/model.h"
#include "ir/graph.h"
#include "runtime/reference_executor.h"

namespace cnnc {

// Keras's default initialisation, deterministic for a seed: conv and dense
// weights Glorot-uniform over fan_in + fan_out, biases 0, batch_norm gamma 1,
// beta 0, running mean 0, running variance 1.
Bindings<float> initialParameters(const Model& model, uint64_t seed);

// Adds a zero tensor for every param or state leaf of `graph` that
// `bindings` lacks: the optimizer's state and the step before training starts.
void addMissingState(const Graph& graph, Bindings<float>& bindings);

// Writes `values` (params, state, and for a checkpoint the optimizer's state
// and step) with the model's JSON and `metadata` in the header, atomically.
Status saveWeights(const std::string& path, const Model& model, const Bindings<float>& values,
                   std::map<std::string, std::string> metadata = {});

struct WeightsFile {
  Bindings<float> values;
  std::map<std::string, std::string> metadata;
};

// Reads a weights file or checkpoint for `model`: every param and state of
// the model must be there with its exact shape. Optimizer state of the
// model's params (`<param>.adam_m`, ...) and the step are kept, for resuming;
// any other tensor is an error.
Expected<WeightsFile> loadWeights(const std::string& path, const Model& model);

}  // namespace cnnc

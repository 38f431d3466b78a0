// Models in the model format that several tests run: built to exercise
// every op and the awkward shapes of the gradient tests; and the training
// step of a model file.
#pragma once

#include <cstdint>
#include <string>

#include "compiler/pipeline.h"
#include "frontends/json_loader.h"

namespace cnnc {

// The training step of the model file at `path` (from the source tree's
// root) at `batch`, with every -O2 pass for the host.
inline Expected<CompiledGraph> trainingStepOf(const std::string& path, int64_t batch) {
  Expected<Model> model = loadModelFile(std::string(CNNC_SOURCE_DIR) + "/" + path, batch);
  if (!model) return model.error();
  return buildGraph(*model, {GraphKind::TrainStep, 0, {}});
}

// Every op of the model format, with stride 2, asymmetric same padding, a
// [3,5] kernel, odd sizes, both poolings with padding, concat, a 3-way add
// with fan-out, batch_norm on images and flat features, dropout, sigmoid,
// tanh; trained with Adam. Layers that feed batch_norm have no bias: its
// gradient is zero but for rounding, which Adam's normalised step would
// amplify into updates of opposite signs on the two backends.
inline constexpr const char* kEveryOp = R"({
  "format": "cnnc/1", "input": {"channels": 3, "height": 13, "width": 11}, "classes": 5,
  "layers": [
    {"op": "conv2d", "name": "stem", "filters": 6, "kernel_size": [3, 5], "strides": 2, "padding": "same",
     "use_bias": false},
    {"op": "batch_norm", "name": "bn"},
    {"op": "relu", "name": "r"},
    {"op": "conv2d", "name": "left", "filters": 3, "kernel_size": 1, "activation": "tanh"},
    {"op": "avg_pool2d", "name": "right", "inputs": ["r"], "pool_size": 3, "strides": 1, "padding": 1},
    {"op": "concat", "name": "cat", "inputs": ["left", "right"]},
    {"op": "conv2d", "name": "mix", "filters": 9, "kernel_size": 3, "padding": "same", "activation": "sigmoid"},
    {"op": "add", "name": "sum", "inputs": ["mix", "cat", "mix"], "activation": "relu"},
    {"op": "max_pool2d", "pool_size": 2, "padding": [1, 0]},
    {"op": "conv2d", "name": "down", "filters": 20, "kernel_size": 3, "strides": 2, "padding": 1},
    {"op": "global_avg_pool2d"},
    {"op": "dense", "units": 17, "activation": "relu", "use_bias": false},
    {"op": "batch_norm", "name": "bn_flat"},
    {"op": "dropout", "rate": 0.3},
    {"op": "dense", "units": 5}
  ],
  "loss": "softmax_cross_entropy",
  "optimizer": {"type": "adam", "learning_rate": 0.01}
})";

inline constexpr const char* kSgdModel = R"({
  "format": "cnnc/1", "input": {"channels": 3, "height": 9, "width": 9}, "classes": 4,
  "layers": [
    {"op": "conv2d", "filters": 17, "kernel_size": 3, "activation": "relu"},
    {"op": "max_pool2d", "pool_size": 2},
    {"op": "flatten"},
    {"op": "dense", "units": 4}
  ],
  "loss": "softmax_cross_entropy",
  "optimizer": {"type": "sgd", "learning_rate": 0.05, "momentum": 0.9, "nesterov": true, "weight_decay": 0.01}
})";

}  // namespace cnnc

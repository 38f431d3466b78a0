// A model as the frontend hands it to the compiler: the forward graph for one
// batch size, plus what the graph alone does not say (which layer made which
// values, the loss, the optimizer). See ../shared/spec/model-format.md.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace cnnc {

enum class OptimizerKind { Sgd, Adam };

struct OptimizerConfig {
  OptimizerKind kind = OptimizerKind::Adam;
  double learningRate = 0.001;
  double momentum = 0.0;   // sgd
  bool nesterov = false;   // sgd
  double beta1 = 0.9;      // adam
  double beta2 = 0.999;    // adam
  double epsilon = 1e-7;   // adam, added to sqrt of the bias-corrected second moment (Keras)
  double weightDecay = 0.0;
};

// One entry of the model's `layers`, after lowering.
struct Layer {
  std::string name;              // the layer's name (given or `<op>_<i>`)
  std::string op;                // the model-format op, e.g. "conv2d"
  ValueId output;                // the layer's result (after its activation, if any)
  std::vector<ValueId> params;   // trainable: weight, bias (batch_norm: gamma, beta)
  std::vector<ValueId> state;    // non-trainable: batch_norm running mean and variance
};

struct Model {
  std::string name;
  std::string sourceJson;        // the model file's JSON, kept for checkpoints
  int64_t batch = 1;
  Graph graph;                   // outputs: logits, then the loss if there is one
  std::vector<Layer> layers;     // in model order
  ValueId input = 0;             // %input: [batch, C, H, W]
  ValueId logits = 0;            // the last layer's output
  std::optional<ValueId> labels; // %labels: i32[batch], present with a loss
  std::optional<ValueId> loss;   // %loss: f32[], softmax cross-entropy averaged over the batch
  std::optional<OptimizerConfig> optimizer;
};

}  // namespace cnnc

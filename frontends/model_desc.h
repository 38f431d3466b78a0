// The model as its JSON describes it (model-format v1), checked key by key
// and with every default filled in, but not yet lowered to a graph: the
// checks that need tensor shapes happen while lowering.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "frontends/json_reader.h"
#include "frontends/model.h"
#include "ir/op.h"

namespace cnnc {

// The name by which layers read the model input; no layer may take it.
inline constexpr std::string_view kModelInputName = "input";

// Explicit padding [ph, pw] pads both sides of each axis by that much.
// "same" padding depends on the input size, so lowering resolves it.
struct Padding {
  bool same = false;
  IntPair amount{0, 0};
};

struct LayerDesc {
  std::string path;                 // "layers[3]": where messages about the layer point
  std::string name;                 // given, or `<op>_<i>`
  Op op = Op::Relu;                 // model-format ops are spelled as IR mnemonics
  std::vector<std::string> inputs;  // layer names or "input"; the previous layer if the JSON gives none
  int64_t units = 0;                // conv2d filters, dense units
  IntPair window{1, 1};             // conv2d kernel_size, pooling pool_size
  IntPair strides{1, 1};            // pooling: pool_size unless given
  Padding padding;
  bool useBias = true;
  std::optional<Op> activation;     // relu, sigmoid or tanh applied after the op
  double rate = 0.0;                // dropout
  double momentum = 0.9;            // batch_norm
  double epsilon = 1e-5;            // batch_norm
};

struct ModelDesc {
  std::string name;
  int64_t channels = 0;
  int64_t height = 0;
  int64_t width = 0;
  std::optional<int64_t> classes;
  std::vector<LayerDesc> layers;
  bool hasLoss = false;  // softmax_cross_entropy, the only loss of v1
  std::optional<OptimizerConfig> optimizer;
};

// Reads and checks `document`, reporting every problem to `diags`; nullopt
// if there was any. `defaultName` names a model whose JSON has no "name".
std::optional<ModelDesc> readModelDesc(const Json& document, std::string defaultName, Diagnostics& diags);

}  // namespace cnnc

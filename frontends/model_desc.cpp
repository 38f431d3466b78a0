#include "frontends/model_desc.h"

#include <algorithm>
#include <map>
#include <unordered_map>

#include <fmt/format.h>

namespace cnnc {
namespace {

constexpr NumberRange kPositive{0.0, false, std::nullopt};
constexpr NumberRange kNonNegative{0.0, true, std::nullopt};
constexpr NumberRange kFraction{0.0, true, 1.0, false};          // [0, 1)
constexpr NumberRange kClosedFraction{0.0, true, 1.0, true};     // [0, 1]
constexpr NumberRange kBatchNormEpsilon{0.0, false, 1.0, true};  // (0, 1]: shape inference's limit

// The keys an op takes besides "op", "name" and "inputs", which every layer takes.
struct OpSchema {
  Op op;
  std::vector<std::string_view> required;
  std::vector<std::string_view> optional;
  bool joinsInputs = false;  // add, concat: "inputs" is required and names two or more layers
};

const std::vector<OpSchema>& opSchemas() {
  static const std::vector<OpSchema> schemas = {
      {Op::Conv2D, {"filters", "kernel_size"}, {"strides", "padding", "use_bias", "activation"}},
      {Op::MaxPool2D, {"pool_size"}, {"strides", "padding"}},
      {Op::AvgPool2D, {"pool_size"}, {"strides", "padding"}},
      {Op::GlobalAvgPool2D, {}, {}},
      {Op::Flatten, {}, {}},
      {Op::Dense, {"units"}, {"use_bias", "activation"}},
      {Op::BatchNorm, {}, {"momentum", "epsilon"}},
      {Op::Dropout, {"rate"}, {}},
      {Op::Relu, {}, {}},
      {Op::Sigmoid, {}, {}},
      {Op::Tanh, {}, {}},
      {Op::Add, {}, {"activation"}, true},
      {Op::Concat, {}, {}, true},
      {Op::Softmax, {}, {}},
  };
  return schemas;
}

bool isPool(Op op) { return op == Op::MaxPool2D || op == Op::AvgPool2D; }

// Readers of the op-specific keys, shared by every op that takes the key.
using KeyReader = void (*)(const JsonReader&, LayerDesc&);

void readUnits(const JsonReader& json, LayerDesc& layer) {
  if (std::optional<int64_t> units = json.positiveInt()) layer.units = *units;
}

void readWindow(const JsonReader& json, LayerDesc& layer) {
  if (std::optional<IntPair> window = json.intOrPair(1, "a positive integer or [kh, kw]")) layer.window = *window;
}

void readStrides(const JsonReader& json, LayerDesc& layer) {
  if (std::optional<IntPair> strides = json.intOrPair(1, "a positive integer or [sh, sw]")) layer.strides = *strides;
}

void readPadding(const JsonReader& json, LayerDesc& layer) {
  const Json& value = json.value();
  if (value == "valid" || value == "same") {
    layer.padding.same = value == "same";
    return;
  }
  if (std::optional<IntPair> amount = json.intOrPair(0, R"("valid", "same", a non-negative integer or [ph, pw])"))
    layer.padding.amount = *amount;
}

void readUseBias(const JsonReader& json, LayerDesc& layer) {
  if (std::optional<bool> useBias = json.boolean()) layer.useBias = *useBias;
}

void readActivation(const JsonReader& json, LayerDesc& layer) {
  std::optional<std::string> name = json.oneOf({"none", "relu", "sigmoid", "tanh"});
  if (name && *name != "none") layer.activation = opFromMnemonic(*name);
}

void readMomentum(const JsonReader& json, LayerDesc& layer) {
  if (std::optional<double> momentum = json.number(kClosedFraction)) layer.momentum = *momentum;
}

void readEpsilon(const JsonReader& json, LayerDesc& layer) {
  if (std::optional<double> epsilon = json.number(kBatchNormEpsilon)) layer.epsilon = *epsilon;
}

void readRate(const JsonReader& json, LayerDesc& layer) {
  if (std::optional<double> rate = json.number(kFraction)) layer.rate = *rate;
}

const std::map<std::string_view, KeyReader>& keyReaders() {
  static const std::map<std::string_view, KeyReader> readers = {
      {"filters", readUnits},     {"units", readUnits},         {"kernel_size", readWindow},
      {"pool_size", readWindow},  {"strides", readStrides},     {"padding", readPadding},
      {"use_bias", readUseBias},  {"activation", readActivation}, {"momentum", readMomentum},
      {"epsilon", readEpsilon},   {"rate", readRate},
  };
  return readers;
}

// A model or layer name. Names end up in messages and in the line-based IR
// text, so control characters (newlines above all) are refused.
std::optional<std::string> validName(const Json& value) {
  if (!value.is_string()) return std::nullopt;
  const auto& name = value.get_ref<const std::string&>();
  bool printable = std::none_of(name.begin(), name.end(), [](char c) {
    auto byte = static_cast<unsigned char>(c);
    return byte < 0x20 || byte == 0x7F;
  });
  if (name.empty() || !printable) return std::nullopt;
  return name;
}

std::optional<std::string> readName(const JsonReader& json) {
  std::optional<std::string> name = validName(json.value());
  if (!name) json.reportExpected("a non-empty string without control characters");
  return name;
}

// Reads `layers`. Every layer's name is known before any layer is read, so
// that a reference to a later layer is told apart from an unknown name.
class LayersReader {
 public:
  explicit LayersReader(Diagnostics& diags) : diags_(diags) {}

  std::vector<LayerDesc> read(const JsonReader& layers) {
    if (!layers.value().is_array() || layers.value().empty()) {
      layers.reportExpected("a non-empty array of layers");
      return {};
    }
    count_ = layers.value().size();
    for (size_t i = 0; i < count_; ++i) {
      names_.push_back(nameOf(layers.value()[i], i));
      if (!names_.back().empty()) firstIndex_.emplace(names_.back(), i);
    }
    std::vector<LayerDesc> result;
    for (size_t i = 0; i < count_; ++i) result.push_back(readLayer(layers.element(i), i));
    return result;
  }

 private:
  // The name a layer goes by: its "name" if valid, else `<op>_<index>`;
  // empty if it has no usable name (the layer's reader reports why).
  static std::string nameOf(const Json& layer, size_t index) {
    if (!layer.is_object()) return "";
    if (auto name = layer.find("name"); name != layer.end()) {
      std::optional<std::string> valid = validName(*name);
      return valid && *valid != kModelInputName ? *valid : "";
    }
    if (auto op = layer.find("op"); op != layer.end() && op->is_string())
      return fmt::format("{}_{}", op->get_ref<const std::string&>(), index);
    return "";
  }

  LayerDesc readLayer(const JsonReader& json, size_t index) {
    LayerDesc layer;
    layer.path = json.path();
    layer.name = names_[index];
    if (!json.expectObject()) return layer;
    checkUniqueName(json, index);
    const OpSchema* schema = readOp(json);
    if (!schema) return layer;  // without the op, the other keys cannot be checked
    layer.op = schema->op;
    if (layer.op == Op::Softmax && index + 1 != count_) json.report("softmax may only be the last layer");

    size_t problemsBefore = diags_.count();
    json.readObject(fieldsFor(*schema, index, layer));
    if (isPool(layer.op) && !json.has("strides")) layer.strides = layer.window;
    if (layer.inputs.empty())
      layer.inputs.push_back(index == 0 ? std::string(kModelInputName) : names_[index - 1]);
    // Checks across keys, once each key is known to be valid.
    if (diags_.count() == problemsBefore) checkPoolPadding(json, layer);
    return layer;
  }

  static const OpSchema* readOp(const JsonReader& layer) {
    if (!layer.has("op")) {
      layer.reportMissing("op");
      return nullptr;
    }
    JsonReader op = layer.member("op");
    if (!op.value().is_string()) {
      op.reportExpected("an op name");
      return nullptr;
    }
    const auto& name = op.value().get_ref<const std::string&>();
    const auto& schemas = opSchemas();
    auto schema =
        std::find_if(schemas.begin(), schemas.end(), [&](const OpSchema& s) { return mnemonic(s.op) == name; });
    if (schema == schemas.end()) {
      op.report(fmt::format("unknown op {}", quote(name)));
      return nullptr;
    }
    return &*schema;
  }

  std::vector<Field> fieldsFor(const OpSchema& schema, size_t index, LayerDesc& layer) {
    std::vector<Field> fields = {
        {"op", true, [](const JsonReader&) {}},  // read first, by readOp
        {"name", false, [](const JsonReader& json) { checkName(json); }},
        {"inputs", schema.joinsInputs,
         [this, &schema, index, &layer](const JsonReader& json) { readInputs(json, schema, index, layer); }},
    };
    auto addKey = [&](std::string_view key, bool required) {
      KeyReader reader = keyReaders().at(key);
      fields.push_back({key, required, [reader, &layer](const JsonReader& json) { reader(json, layer); }});
    };
    for (std::string_view key : schema.required) addKey(key, true);
    for (std::string_view key : schema.optional) addKey(key, false);
    return fields;
  }

  static void checkName(const JsonReader& json) {
    std::optional<std::string> name = readName(json);
    if (name == kModelInputName) json.report(R"("input" is reserved for the model input)");
  }

  void readInputs(const JsonReader& json, const OpSchema& schema, size_t index, LayerDesc& layer) {
    const Json& value = json.value();
    if (!value.is_array() || value.empty()) {
      json.reportExpected("a non-empty array of layer names");
      return;
    }
    std::string_view op = mnemonic(schema.op);
    if (schema.joinsInputs && value.size() < 2)
      json.report(fmt::format("{} needs at least two inputs, got {}", op, value.size()));
    if (!schema.joinsInputs && value.size() != 1)
      json.report(fmt::format("{} takes exactly one input, got {}", op, value.size()));
    for (size_t i = 0; i < value.size(); ++i)
      if (std::optional<std::string> name = readInput(json.element(i), index)) layer.inputs.push_back(*name);
  }

  // One entry of "inputs": the model input or a layer before this one.
  std::optional<std::string> readInput(const JsonReader& json, size_t index) const {
    if (!json.value().is_string()) {
      json.reportExpected("a layer name");
      return std::nullopt;
    }
    const auto& name = json.value().get_ref<const std::string&>();
    if (name == kModelInputName) return name;
    auto found = firstIndex_.find(name);
    if (found == firstIndex_.end())
      json.report(fmt::format("unknown layer {}", quote(name)));
    else if (found->second == index)
      json.report(fmt::format("layer {} cannot read its own output", quote(name)));
    else if (found->second > index)
      json.report(fmt::format("layer {} is defined later, at layers[{}]; a layer can only read the layers before it",
                              quote(name), found->second));
    else
      return name;
    return std::nullopt;
  }

  static void checkPoolPadding(const JsonReader& json, const LayerDesc& layer) {
    const IntPair& pad = layer.padding.amount;
    if (!isPool(layer.op) || layer.padding.same || (pad[0] < layer.window[0] && pad[1] < layer.window[1])) return;
    json.member("padding").report(fmt::format("padding [{}, {}] must be smaller than pool_size [{}, {}]", pad[0],
                                              pad[1], layer.window[0], layer.window[1]));
  }

  void checkUniqueName(const JsonReader& json, size_t index) const {
    const std::string& name = names_[index];
    if (name.empty() || firstIndex_.at(name) == index) return;
    std::string message = fmt::format("duplicate name {}{}, already the name of layers[{}]", quote(name),
                                      json.has("name") ? "" : " (the default name of this layer)",
                                      firstIndex_.at(name));
    (json.has("name") ? json.member("name") : json).report(message);
  }

  Diagnostics& diags_;
  size_t count_ = 0;
  std::vector<std::string> names_;                      // by index, as nameOf gives them
  std::unordered_map<std::string, size_t> firstIndex_;  // the first layer of each name
};

void readInput(const JsonReader& json, ModelDesc& model) {
  auto dimension = [](int64_t& target) {
    return [&target](const JsonReader& value) {
      if (std::optional<int64_t> size = value.positiveInt()) target = *size;
    };
  };
  json.readObject({
      {"channels", true, dimension(model.channels)},
      {"height", true, dimension(model.height)},
      {"width", true, dimension(model.width)},
  });
}

std::optional<OptimizerConfig> readOptimizer(const JsonReader& json) {
  if (!json.expectObject()) return std::nullopt;
  // The type decides which other keys are valid, so it is read first.
  if (!json.has("type")) {
    json.reportMissing("type");
    return std::nullopt;
  }
  std::optional<std::string> type = json.member("type").oneOf({"sgd", "adam"});
  if (!type) return std::nullopt;
  const bool sgd = *type == "sgd";

  OptimizerConfig config;
  config.kind = sgd ? OptimizerKind::Sgd : OptimizerKind::Adam;
  auto number = [&config](double OptimizerConfig::*field, NumberRange range) {
    return [&config, field, range](const JsonReader& value) {
      if (std::optional<double> x = value.number(range)) config.*field = *x;
    };
  };
  // Only adam has a default learning rate.
  std::vector<Field> fields = {
      {"type", true, [](const JsonReader&) {}},
      {"learning_rate", sgd, number(&OptimizerConfig::learningRate, kPositive)},
      {"weight_decay", false, number(&OptimizerConfig::weightDecay, kNonNegative)},
  };
  if (sgd) {
    fields.push_back({"momentum", false, number(&OptimizerConfig::momentum, kFraction)});
    fields.push_back({"nesterov", false, [&config](const JsonReader& value) {
                        if (std::optional<bool> nesterov = value.boolean()) config.nesterov = *nesterov;
                      }});
  } else {
    fields.push_back({"beta1", false, number(&OptimizerConfig::beta1, kFraction)});
    fields.push_back({"beta2", false, number(&OptimizerConfig::beta2, kFraction)});
    fields.push_back({"epsilon", false, number(&OptimizerConfig::epsilon, kPositive)});
  }
  json.readObject(fields);
  return config;
}

}  // namespace

std::optional<ModelDesc> readModelDesc(const Json& document, std::string defaultName, Diagnostics& diags) {
  ModelDesc model;
  model.name = std::move(defaultName);
  JsonReader root(document, "", diags);
  root.readObject({
      {"format", true, [](const JsonReader& json) { (void)json.oneOf({"cnnc/1"}); }},
      {"name", false,
       [&model](const JsonReader& json) {
         if (std::optional<std::string> name = readName(json)) model.name = *name;
       }},
      {"input", true, [&model](const JsonReader& json) { readInput(json, model); }},
      {"classes", false, [&model](const JsonReader& json) { model.classes = json.positiveInt(); }},
      {"layers", true, [&model, &diags](const JsonReader& json) { model.layers = LayersReader(diags).read(json); }},
      {"loss", false,
       [&model](const JsonReader& json) { model.hasLoss = json.oneOf({"softmax_cross_entropy"}).has_value(); }},
      {"optimizer", false, [&model](const JsonReader& json) { model.optimizer = readOptimizer(json); }},
  });
  if (diags.count() > 0) return std::nullopt;
  return model;
}

}  // namespace cnnc

// Lowers a checked model description into the forward graph for one batch
// size. Reading the JSON (json_reader, model_desc) collects every problem of
// the file; lowering stops at the first, because later shapes depend on it.
#include "frontends/json_loader.h"

#include <exception>
#include <filesystem>
#include <unordered_map>

#include <fmt/format.h>

#include "frontends/json_reader.h"
#include "frontends/model_desc.h"
#include "ir/printer.h"
#include "ir/verifier.h"
#include "support/file_io.h"

namespace cnnc {
namespace {

// A value a layer reads, and the layer that made it, for messages.
struct Source {
  ValueId value;
  std::string layer;  // a layer name, or "input" for the model input
};

std::string describeSource(const Source& source) {
  return source.layer == kModelInputName ? "the model input" : fmt::format("layer {}", quote(source.layer));
}

// A param or state tensor a layer creates, named `<layer>.<suffix>` as in
// the safetensors files of the spec.
struct LeafPlan {
  Op kind;  // Param or State
  std::string_view suffix;
  std::vector<int64_t> dims;
};

// What a layer adds besides its inputs: the leaves created right before its
// node (which takes them as operands after the inputs), and its attributes.
struct LayerPlan {
  std::vector<LeafPlan> leaves;
  AttributeMap attrs;
};

// TensorFlow/Keras "same" padding along one axis: the output has
// ceil(in / stride) positions, and the padding they need is split evenly with
// the odd element after (bottom/right). No overflow: (out - 1) * stride < in.
std::pair<int64_t, int64_t> samePadding(int64_t in, int64_t window, int64_t stride) {
  int64_t out = in / stride + (in % stride != 0 ? 1 : 0);
  int64_t total = std::max<int64_t>((out - 1) * stride - in + window, 0);
  return {total / 2, total - total / 2};
}

// The pads attribute [top, left, bottom, right] of conv2d or pooling on x [N,C,H,W].
IntList padsFor(const LayerDesc& layer, const TensorType& x) {
  if (!layer.padding.same) {
    auto [ph, pw] = layer.padding.amount;
    return {ph, pw, ph, pw};
  }
  auto [top, bottom] = samePadding(x.dims[2], layer.window[0], layer.strides[0]);
  auto [left, right] = samePadding(x.dims[3], layer.window[1], layer.strides[1]);
  return {top, left, bottom, right};
}

// The spec's rank rules, checked before shape inference so that the message
// can name the layer that produced the tensor and say what to do.
Status checkInputRank(Op op, const TensorType& x, const Source& source) {
  bool needsImage = op == Op::Conv2D || op == Op::MaxPool2D || op == Op::AvgPool2D || op == Op::GlobalAvgPool2D;
  if (needsImage && x.rank() != 4)
    return Error{fmt::format("{} needs an image input [N,C,H,W], but {} gives the flat {}", mnemonic(op),
                             describeSource(source), toString(x))};
  if (op == Op::Dense && x.rank() != 2)
    return Error{fmt::format("dense needs a flat input [N,features], but {} gives {}; add a flatten layer before it",
                             describeSource(source), toString(x))};
  return Status::ok();
}

// The leaves and attributes of a layer whose (first) input is x, which has
// passed checkInputRank. Every forward value has a batch axis and a channel
// or feature axis, so x.dims[1] exists.
LayerPlan planLayer(const LayerDesc& layer, const TensorType& x) {
  const int64_t channels = x.dims[1];
  const IntList window{layer.window[0], layer.window[1]};
  const IntList strides{layer.strides[0], layer.strides[1]};
  LayerPlan plan;
  switch (layer.op) {
    case Op::Conv2D:
      plan.leaves.push_back({Op::Param, "weight", {layer.units, channels, window[0], window[1]}});
      if (layer.useBias) plan.leaves.push_back({Op::Param, "bias", {layer.units}});
      plan.attrs = {{"strides", strides}, {"pads", padsFor(layer, x)}};
      break;
    case Op::MaxPool2D:
    case Op::AvgPool2D:
      plan.attrs = {{"window", window}, {"strides", strides}, {"pads", padsFor(layer, x)}};
      break;
    case Op::Dense:
      plan.leaves.push_back({Op::Param, "weight", {layer.units, channels}});
      if (layer.useBias) plan.leaves.push_back({Op::Param, "bias", {layer.units}});
      break;
    case Op::BatchNorm:
      plan.leaves = {{Op::Param, "weight", {channels}},
                     {Op::Param, "bias", {channels}},
                     {Op::State, "running_mean", {channels}},
                     {Op::State, "running_var", {channels}}};
      plan.attrs = {{"epsilon", layer.epsilon}, {"momentum", layer.momentum}};
      break;
    case Op::Dropout:
      plan.attrs = {{"rate", layer.rate}};
      break;
    default:  // no leaves, no attributes
      break;
  }
  return plan;
}

// Builds the Model of a ModelDesc, reporting the first problem at the part
// of the file being lowered.
class Lowering {
 public:
  Lowering(const ModelDesc& desc, int64_t batch, Diagnostics& diags) : desc_(desc), diags_(diags) {
    model_.name = desc.name;
    model_.batch = batch;
    model_.optimizer = desc.optimizer;
    model_.graph = Graph(desc.name);
  }

  std::optional<Model> run() && {
    bool ok = step("input", [&] { return lowerInput(); });
    for (size_t i = 0; ok && i < desc_.layers.size(); ++i)
      ok = step(desc_.layers[i].path, [&] { return lowerLayer(desc_.layers[i]); });
    ok = ok && step(desc_.layers.back().path, [&] { return checkLogitsRank(); });
    ok = ok && step("classes", [&] { return checkClasses(); });
    ok = ok && (!desc_.hasLoss || step("loss", [&] { return lowerLoss(); }));
    if (!ok) return std::nullopt;
    std::vector<ValueId> outputs{model_.logits};
    if (model_.loss) outputs.push_back(*model_.loss);
    model_.graph.setOutputs(std::move(outputs));
    ok = step("", [&] { return verify(model_.graph); }) && step("", [&] { return checkMemoryBudget(model_.graph); });
    if (!ok) return std::nullopt;
    return std::move(model_);
  }

 private:
  // Runs one step of the lowering with `part` (a JSON path) as the place
  // its values come from and its problem is reported at.
  template <class Fn>
  bool step(std::string part, Fn&& lower) {
    part_ = std::move(part);
    Status status = lower();
    if (!status) diags_.report(part_, status.error().message);
    return static_cast<bool>(status);
  }

  Status lowerInput() {
    Expected<ValueId> input = addLeaf(
        Op::Input, std::string(kModelInputName),
        TensorType{DType::F32, {model_.batch, desc_.channels, desc_.height, desc_.width}});
    if (!input) return input.error();
    model_.input = *input;
    sources_.emplace(kModelInputName, Source{*input, std::string(kModelInputName)});
    return Status::ok();
  }

  Status lowerLayer(const LayerDesc& desc) {
    const Source& first = sources_.at(desc.inputs.front());
    const TensorType x = model_.graph.node(first.value).type;  // a copy: adding nodes moves them
    if (Status rank = checkInputRank(desc.op, x, first); !rank) return rank;
    LayerPlan plan = planLayer(desc, x);

    Layer layer{desc.name, std::string(mnemonic(desc.op)), 0, {}, {}};
    std::vector<ValueId> operands;
    for (const std::string& input : desc.inputs) operands.push_back(sources_.at(input).value);
    for (const LeafPlan& leaf : plan.leaves) {
      Expected<ValueId> id = addLeaf(leaf.kind, fmt::format("{}.{}", desc.name, leaf.suffix),
                                     TensorType{DType::F32, leaf.dims});
      if (!id) return id.error();
      (leaf.kind == Op::Param ? layer.params : layer.state).push_back(*id);
      operands.push_back(*id);
    }
    Expected<ValueId> output = addNode(desc.op, desc.name, std::move(operands), std::move(plan.attrs));
    if (output && desc.activation)
      output = addNode(*desc.activation, fmt::format("{}.{}", desc.name, mnemonic(*desc.activation)), {*output});
    if (!output) return output.error();

    layer.output = *output;
    model_.logits = *output;  // the last layer's output in the end
    sources_.emplace(desc.name, Source{*output, desc.name});
    model_.layers.push_back(std::move(layer));
    return Status::ok();
  }

  Status checkLogitsRank() const {
    const TensorType& logits = model_.graph.node(model_.logits).type;
    if (logits.rank() == 2) return Status::ok();
    return Error{fmt::format("the last layer gives the model's logits, which must be flat [N,classes], got {}",
                             toString(logits))};
  }

  Status checkClasses() const {
    int64_t outputs = model_.graph.node(model_.logits).type.dims[1];
    if (!desc_.classes || *desc_.classes == outputs) return Status::ok();
    return Error{fmt::format("{} does not match the {} outputs of the last layer {}", *desc_.classes, outputs,
                             quote(desc_.layers.back().name))};
  }

  Status lowerLoss() {
    // A final softmax is for inference; the loss applies its own softmax to
    // the logits before it.
    ValueId logits = model_.logits;
    if (desc_.layers.back().op == Op::Softmax) logits = model_.graph.node(logits).operands[0];
    Expected<ValueId> labels = addLeaf(Op::Input, "labels", TensorType{DType::I32, {model_.batch}});
    if (!labels) return labels.error();
    Expected<ValueId> loss = addNode(Op::SoftmaxCrossEntropy, "loss", {logits, *labels});
    if (!loss) return loss.error();
    model_.labels = *labels;
    model_.loss = *loss;
    return Status::ok();
  }

  // Layer names may clash with the names derived from other layers
  // (`conv2d_0.relu`, `labels`); the graph must not see a name twice.
  Status checkNameFree(const std::string& name) const {
    std::optional<ValueId> existing = model_.graph.lookup(name);
    if (!existing) return Status::ok();
    return Error{fmt::format("the value name {} is already used by {}; rename the layer", valueRef(name),
                             creators_[*existing])};
  }

  Expected<ValueId> addLeaf(Op kind, std::string name, TensorType type) {
    if (!byteSize(type)) return Error{fmt::format("{} {} overflows 64-bit sizes", valueRef(name), toString(type))};
    if (Status free = checkNameFree(name); !free) return free.error();
    return created(model_.graph.addLeaf(kind, std::move(name), std::move(type)));
  }

  Expected<ValueId> addNode(Op op, std::string name, std::vector<ValueId> operands, AttributeMap attrs = {}) {
    if (Status free = checkNameFree(name); !free) return free.error();
    return created(model_.graph.addNode(op, std::move(name), std::move(operands), std::move(attrs)));
  }

  Expected<ValueId> created(Expected<ValueId> id) {
    if (id) creators_.push_back(part_);
    return id;
  }

  const ModelDesc& desc_;
  Diagnostics& diags_;
  Model model_;
  std::unordered_map<std::string, Source> sources_;  // what each layer name (and "input") reads
  std::vector<std::string> creators_;                // per value: the part of the file that made it
  std::string part_;                                 // the part of the file being lowered
};

// A model without a "name" is named after its file: seed.json -> seed.
std::string defaultModelName(std::string_view sourceName) {
  std::string stem = std::filesystem::path(std::string(sourceName)).stem().string();
  return stem.empty() ? "model" : stem;
}

Expected<Model> load(std::string_view json, std::string_view sourceName, int64_t batch) {
  Diagnostics diags{std::string(sourceName)};
  if (batch < 1) {
    diags.report("", fmt::format("the batch size must be at least 1, got {}", batch));
    return diags.error();
  }
  std::optional<Json> document = parseJson(json, diags);
  if (!document) return diags.error();
  std::optional<ModelDesc> desc = readModelDesc(*document, defaultModelName(sourceName), diags);
  if (!desc) return diags.error();
  std::optional<Model> model = Lowering(*desc, batch, diags).run();
  if (!model) return diags.error();
  model->sourceJson = std::string(json);
  return std::move(*model);
}

}  // namespace

Expected<Model> loadModelText(std::string_view json, std::string_view sourceName, int64_t batch) {
  // Nothing below throws by design; this keeps a bug or an allocation
  // failure from ending the caller's process all the same.
  try {
    return load(json, sourceName, batch);
  } catch (const std::exception& e) {
    return Error{fmt::format("{}: internal error while loading the model: {}", sourceName, e.what())};
  }
}

Expected<Model> loadModelFile(const std::string& path, int64_t batch) {
  Expected<std::string> text = readFile(path);
  if (!text) return text.error();
  return loadModelText(*text, path, batch);
}

}  // namespace cnnc

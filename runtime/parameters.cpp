#include "runtime/parameters.h"

#include <cmath>
#include <random>
#include <set>

#include <fmt/format.h>

#include "compiler/passes.h"
#include "runtime/safetensors.h"

namespace cnnc {
namespace {

// Uniform in [-limit, limit) from a generator whose output the C++ standard
// fixes exactly, so that a seed gives the same weights everywhere.
float uniform(std::mt19937_64& rng, double limit) {
  double unit = static_cast<double>(rng() >> 11) * 0x1.0p-53;
  return static_cast<float>((2.0 * unit - 1.0) * limit);
}

Tensor glorotUniform(const std::vector<int64_t>& dims, std::mt19937_64& rng) {
  // [out, in, kh, kw] or [out, in]: fans count the receptive field.
  int64_t receptive = 1;
  for (size_t d = 2; d < dims.size(); ++d) receptive *= dims[d];
  const auto fanIn = static_cast<double>(dims[1] * receptive), fanOut = static_cast<double>(dims[0] * receptive);
  const double limit = std::sqrt(6.0 / (fanIn + fanOut));
  Tensor t(dims);
  for (float& v : t.data) v = uniform(rng, limit);
  return t;
}

// The optimizer state a checkpoint may carry for `param`.
const std::set<std::string_view> kOptimizerSuffixes = {"adam_m", "adam_v", "sgd_velocity"};

bool isOptimizerStateOf(const Model& model, const std::string& name) {
  if (name == kStepName) return true;
  size_t dot = name.rfind('.');
  if (dot == std::string::npos || !kOptimizerSuffixes.count(std::string_view(name).substr(dot + 1))) return false;
  std::optional<ValueId> param = model.graph.lookup(name.substr(0, dot));
  return param && model.graph.node(*param).op == Op::Param;
}

}  // namespace

Bindings<float> initialParameters(const Model& model, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Bindings<float> values;
  auto dimsOf = [&](ValueId id) { return model.graph.node(id).type.dims; };
  auto set = [&](ValueId id, Tensor t) { values[model.graph.node(id).name] = std::move(t); };
  for (const Layer& layer : model.layers) {
    if (layer.op == "batch_norm") {
      set(layer.params[0], Tensor(dimsOf(layer.params[0]), 1.0f));
      set(layer.params[1], Tensor(dimsOf(layer.params[1])));
      set(layer.state[0], Tensor(dimsOf(layer.state[0])));
      set(layer.state[1], Tensor(dimsOf(layer.state[1]), 1.0f));
      continue;
    }
    for (size_t i = 0; i < layer.params.size(); ++i)
      set(layer.params[i], i == 0 ? glorotUniform(dimsOf(layer.params[i]), rng) : Tensor(dimsOf(layer.params[i])));
  }
  return values;
}

void addMissingState(const Graph& graph, Bindings<float>& bindings) {
  for (const Node& node : graph.nodes())
    if ((node.op == Op::Param || node.op == Op::State) && !bindings.count(node.name))
      bindings[node.name] = Tensor(node.type.dims);
}

Status saveWeights(const std::string& path, const Model& model, const Bindings<float>& values,
                   std::map<std::string, std::string> metadata) {
  SafetensorsFile file;
  file.metadata = std::move(metadata);
  file.metadata["format"] = "cnnc/1";
  file.metadata["model"] = model.sourceJson;
  file.tensors.insert(values.begin(), values.end());
  return writeSafetensors(path, file);
}

Expected<WeightsFile> loadWeights(const std::string& path, const Model& model) {
  Expected<SafetensorsFile> file = readSafetensors(path);
  if (!file) return file.error();
  Bindings<float> values;
  for (const Node& node : model.graph.nodes()) {
    if (node.op != Op::Param && node.op != Op::State) continue;
    auto it = file->tensors.find(node.name);
    if (it == file->tensors.end())
      return Error{fmt::format("{}: no tensor {} (a parameter of model {})", path, node.name, model.name)};
    if (it->second.dims != node.type.dims)
      return Error{fmt::format("{}: tensor {} is {}, model {} needs {}", path, node.name,
                               dimsToString(it->second.dims), model.name, dimsToString(node.type.dims))};
    values[node.name] = std::move(it->second);
    file->tensors.erase(it);
  }
  for (auto& [name, tensor] : file->tensors) {
    if (!isOptimizerStateOf(model, name))
      return Error{fmt::format("{}: unexpected tensor {} (not a parameter of model {})", path, name, model.name)};
    values[name] = std::move(tensor);
  }
  return WeightsFile{std::move(values), std::move(file->metadata)};
}

}  // namespace cnnc

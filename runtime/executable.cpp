#include "runtime/executable.h"

#include <limits>

#include <fmt/format.h>

#include "ir/printer.h"

namespace cnnc {

namespace {

// For each integer leaf (labels), the number of classes it indexes, from its
// users.
std::vector<int64_t> labelClasses(const Graph& graph) {
  std::vector<int64_t> classes(graph.size(), std::numeric_limits<int32_t>::max());
  for (const Node& node : graph.nodes())
    if (node.op == Op::SoftmaxCrossEntropy || node.op == Op::SoftmaxCrossEntropyBackward)
      classes[node.operands[1]] = graph.node(node.operands[0]).type.dims[1];
  return classes;
}

}  // namespace

Executable::Executable(Graph graph)
    : graph_(std::move(graph)), classes_(labelClasses(graph_)), bound_(graph_.size(), false) {}

Expected<ValueId> Executable::leaf(std::string_view name) const {
  std::optional<ValueId> id = graph_.lookup(name);
  if (!id || !isLeaf(graph_.node(*id).op))
    return Error{fmt::format("graph {} has no input, param or state {}", graph_.name(), valueRef(name))};
  return *id;
}

Status Executable::bind(std::string_view name, const Tensor& value) {
  Expected<ValueId> id = leaf(name);
  if (!id) return id.error();
  const Node& node = graph_.node(*id);
  if (value.dims != node.type.dims)
    return Error{fmt::format("{} must be {}, got {}", valueRef(node.name), dimsToString(node.type.dims),
                             dimsToString(value.dims))};
  if (node.type.dtype != DType::F32) {
    const int64_t classes = classes_[*id];
    for (const float v : value.data)
      if (!(v >= 0 && v < static_cast<float>(classes)) || v != static_cast<float>(static_cast<int32_t>(v)))
        return Error{fmt::format("label {} is out of range for {} classes", v, classes)};
  }
  CNNC_TRY(store(*id, value));
  bound_[*id] = true;
  return Status::ok();
}

Expected<Tensor> Executable::read(std::string_view name) const {
  Expected<ValueId> id = leaf(name);
  if (!id) return id.error();
  if (!bound_[*id]) return Error{fmt::format("no value given for {}", valueRef(name))};
  return load(*id);
}

Expected<std::vector<Tensor>> Executable::run() {
  for (ValueId id = 0; id < graph_.size(); ++id)
    if (isLeaf(graph_.node(id).op) && !bound_[id])
      return Error{fmt::format("no value given for {}", valueRef(graph_.node(id).name))};
  return execute();
}

Status bindAll(Executable& executable, const Bindings<float>& values) {
  for (const Node& node : executable.graph().nodes()) {
    if (!isLeaf(node.op)) continue;
    auto it = values.find(node.name);
    if (it != values.end()) CNNC_TRY(executable.bind(node.name, it->second));
  }
  return Status::ok();
}

Status readAssigned(const Executable& executable, Bindings<float>& values) {
  const Graph& graph = executable.graph();
  for (const Node& node : graph.nodes()) {
    if (node.op != Op::Assign) continue;
    const std::string& name = graph.node(node.operands[0]).name;
    Expected<Tensor> value = executable.read(name);
    if (!value) return value.error();
    values[name] = std::move(*value);
  }
  return Status::ok();
}

namespace {

// Holds the leaves' values by name, as the reference executor takes them.
class ReferenceExecutable final : public Executable {
 public:
  using Executable::Executable;

 protected:
  Status store(ValueId id, const Tensor& value) override {
    values_[graph().node(id).name] = value;
    return Status::ok();
  }
  Tensor load(ValueId id) const override { return values_.at(graph().node(id).name); }
  Expected<std::vector<Tensor>> execute() override { return executeReference(graph(), values_); }

 private:
  Bindings<float> values_;
};

}  // namespace

Backend referenceBackend() {
  return [](Graph graph) -> Expected<std::unique_ptr<Executable>> {
    return std::unique_ptr<Executable>(std::make_unique<ReferenceExecutable>(std::move(graph)));
  };
}

}  // namespace cnnc

// The embedding API (include/cnnc/cnnc.h) over the internals the driver uses:
// the JSON frontend, the pipeline, the JIT backend and the weight files.
// Internal errors (cnnc::Error) become the API's (cnnc::api::Error) here, at
// the boundary, so that the public header depends on nothing internal.
#include "cnnc/cnnc.h"

#include <algorithm>
#include <exception>
#include <new>
#include <optional>

#include <fmt/format.h>

#include "compiler/pipeline.h"
#include "compiler/target.h"
#include "frontends/json_loader.h"
#include "runtime/jit_executable.h"
#include "runtime/parameters.h"
#include "runtime/trainer.h"

namespace cnnc::api {
namespace {

Error fromInternal(const cnnc::Error& error) { return Error{error.message}; }

// The last-resort backstop: the internals return errors as values, but the
// standard library can still throw (std::bad_alloc for a huge count), and no
// exception may cross into the host program.
template <class Body>
auto guarded(Body&& body) noexcept -> decltype(body()) {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return Error{"out of memory"};
  } catch (const std::exception& e) {
    return Error{fmt::format("internal error: {}", e.what())};
  } catch (...) {
    return Error{"internal error: unknown exception"};
  }
}

const Error kMovedFrom{"this cnnc::api::Network was moved from"};
const Error kNoWeights{"the network has no weights: call initWeights or loadWeights first"};

// The training step's code, for the dropout seed it was compiled with.
struct TrainingCode {
  uint64_t seed = 0;
  std::unique_ptr<Executable> executable;
};

}  // namespace

struct Network::Impl {
  Impl(Model compiledModel, Target chosen)
      : model(std::move(compiledModel)), target(std::move(chosen)), backend(jitBackend(target)) {}

  Model model;
  Target target;
  Backend backend;
  std::unique_ptr<Executable> inference;
  std::optional<TrainingCode> training;  // compiled on the first trainStep
  // Held by the code that ran last, which current() reads them back from.
  std::optional<PersistentValues> weights;
  uint64_t dropoutSeed = 0;  // the last initWeights seed, as `cnnc train --seed`

  const std::vector<int64_t>& inputDims() const { return model.graph.node(model.input).type.dims; }
  int64_t imageSize() const { return inputDims()[1] * inputDims()[2] * inputDims()[3]; }
  int64_t classes() const { return model.graph.node(model.logits).type.dims[1]; }

  Expected<CompiledGraph> build(GraphKind kind, uint64_t seed) const {
    PipelineOptions options;
    options.kind = kind;
    options.seed = seed;
    options.optimization.target = target;
    return buildGraph(model, options);
  }

  Status compileTraining() {
    if (!model.loss || !model.optimizer)
      return Error{fmt::format("model {} has no loss and optimizer: it cannot be trained", model.name)};
    Expected<CompiledGraph> compiled = build(GraphKind::TrainStep, dropoutSeed);
    if (!compiled) return fromInternal(compiled.error());
    Expected<std::unique_ptr<Executable>> code = backend(std::move(compiled->graph));
    if (!code) return fromInternal(code.error());
    // The code replaced may hold the latest values.
    if (Expected<const Bindings<float>*> current = weights->current(); !current) return fromInternal(current.error());
    training = TrainingCode{dropoutSeed, std::move(*code)};
    return {};
  }
};

Network::Network(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Network::Network(Network&&) noexcept = default;
Network& Network::operator=(Network&&) noexcept = default;
Network::~Network() = default;

Result<Network> Network::load(const std::string& modelJsonPath, int64_t batch, const std::string& target) {
  return guarded([&]() -> Result<Network> {
    Expected<Model> model = loadModelFile(modelJsonPath, batch);
    if (!model) return fromInternal(model.error());
    Expected<Target> chosen = selectTarget(target);
    if (!chosen) return fromInternal(chosen.error());
    auto impl = std::make_unique<Impl>(std::move(*model), *chosen);
    Expected<CompiledGraph> compiled = impl->build(GraphKind::Inference, 0);
    if (!compiled) return fromInternal(compiled.error());
    Expected<std::unique_ptr<Executable>> code = impl->backend(std::move(compiled->graph));
    if (!code) return fromInternal(code.error());
    impl->inference = std::move(*code);
    return Network(std::move(impl));
  });
}

Status Network::initWeights(uint64_t seed) {
  return guarded([&]() -> Status {
    if (!impl_) return kMovedFrom;
    impl_->weights.emplace(initialParameters(impl_->model, seed));
    impl_->dropoutSeed = seed;
    return {};
  });
}

Status Network::loadWeights(const std::string& safetensorsPath) {
  return guarded([&]() -> Status {
    if (!impl_) return kMovedFrom;
    Expected<WeightsFile> file = cnnc::loadWeights(safetensorsPath, impl_->model);
    if (!file) return fromInternal(file.error());
    impl_->weights.emplace(std::move(file->values));
    return {};
  });
}

Status Network::saveWeights(const std::string& path) const {
  return guarded([&]() -> Status {
    if (!impl_) return kMovedFrom;
    if (!impl_->weights) return kNoWeights;
    Expected<const Bindings<float>*> current = impl_->weights->current();
    if (!current) return fromInternal(current.error());
    if (cnnc::Status saved = cnnc::saveWeights(path, impl_->model, **current); !saved)
      return fromInternal(saved.error());
    return {};
  });
}

Result<std::vector<float>> Network::infer(const float* images, int64_t count) {
  return guarded([&]() -> Result<std::vector<float>> {
    if (!impl_) return kMovedFrom;
    if (!impl_->weights) return kNoWeights;
    if (count < 1) return Error{fmt::format("infer needs at least one image, got a count of {}", count)};
    if (!images) return Error{"infer was given no images (a null pointer)"};
    const int64_t batchSize = impl_->model.batch, imageSize = impl_->imageSize(), classes = impl_->classes();
    std::vector<float> logits;
    logits.reserve(static_cast<size_t>(count * classes));
    for (int64_t begin = 0; begin < count; begin += batchSize) {
      const int64_t n = std::min(batchSize, count - begin);
      // Padding the last batch with zero images costs less than compiling
      // code for its size; inference treats every image independently.
      Tensor batch(impl_->inputDims());
      std::copy_n(images + begin * imageSize, n * imageSize, batch.data.begin());
      Expected<std::vector<Tensor>> outputs =
          runOnBatch(*impl_->inference, impl_->model, *impl_->weights, batch, nullptr);
      if (!outputs) return fromInternal(outputs.error());
      const std::vector<float>& part = outputs->front().data;
      logits.insert(logits.end(), part.begin(), part.begin() + n * classes);
    }
    return logits;
  });
}

Result<float> Network::trainStep(const float* images, const int32_t* labels, int64_t count) {
  return guarded([&]() -> Result<float> {
    if (!impl_) return kMovedFrom;
    if (!impl_->weights) return kNoWeights;
    if (count != impl_->model.batch)
      return Error{fmt::format("trainStep takes exactly one batch of {} images, got {}", impl_->model.batch, count)};
    if (!images || !labels) return Error{"trainStep was given no images or no labels (a null pointer)"};
    // (Re)compiled when initWeights has changed the dropout seed since.
    if (!impl_->training || impl_->training->seed != impl_->dropoutSeed) {
      if (Status compiled = impl_->compileTraining(); !compiled) return Error{compiled.message()};
    }
    // Optimizer state starts at zero whenever the weights came without it.
    impl_->weights->addMissingState(impl_->training->executable->graph());
    Tensor batch(impl_->inputDims());
    std::copy_n(images, count * impl_->imageSize(), batch.data.begin());
    // Labels are bound as floats, as every integer leaf is; the generated
    // code checks that each is a class index before the step changes anything.
    Tensor labelValues({count});
    std::transform(labels, labels + count, labelValues.data.begin(), [](int32_t l) { return static_cast<float>(l); });
    Expected<std::vector<Tensor>> outputs =
        runOnBatch(*impl_->training->executable, impl_->model, *impl_->weights, batch, &labelValues);
    if (!outputs) return fromInternal(outputs.error());
    return (*outputs)[1].data[0];
  });
}

std::array<int64_t, 3> Network::inputShape() const {
  if (!impl_) return {0, 0, 0};
  const std::vector<int64_t>& dims = impl_->inputDims();
  return {dims[1], dims[2], dims[3]};
}

int64_t Network::classes() const { return impl_ ? impl_->classes() : 0; }

int64_t Network::batch() const { return impl_ ? impl_->model.batch : 0; }

std::string Network::targetName() const { return impl_ ? impl_->target.name : std::string(); }

}  // namespace cnnc::api

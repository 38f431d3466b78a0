#include "runtime/trainer.h"

#include <algorithm>
#include <chrono>
#include <numeric>

#include <fmt/format.h>

#include "frontends/json_loader.h"
#include "runtime/parameters.h"

namespace cnnc {
namespace {

// Accumulates per-batch results into per-example means.
class MetricsAccumulator {
 public:
  void add(const Tensor& logits, float meanLoss, std::span<const int32_t> labels, std::span<const int64_t> indices) {
    const int64_t n = logits.dims[0], classes = logits.dims[1];
    lossSum_ += static_cast<double>(meanLoss) * static_cast<double>(n);
    for (int64_t i = 0; i < n; ++i) {
      const float* row = &logits.data[static_cast<size_t>(i * classes)];
      auto predicted = std::max_element(row, row + classes) - row;
      correct_ += predicted == labels[static_cast<size_t>(indices[static_cast<size_t>(i)])];
    }
    examples_ += n;
  }
  Metrics result() const {
    if (examples_ == 0) return {};
    const auto n = static_cast<double>(examples_);
    return {lossSum_ / n, static_cast<double>(correct_) / n, examples_};
  }

 private:
  double lossSum_ = 0;
  int64_t correct_ = 0;
  int64_t examples_ = 0;
};

// Runs `runner` over `order` in batches of `batchSize` and accumulates metrics.
Expected<Metrics> runEpoch(BatchRunner& runner, const Dataset& data, const std::vector<int64_t>& order,
                           int64_t batchSize, PersistentValues& values) {
  MetricsAccumulator metrics;
  for (size_t begin = 0; begin < order.size(); begin += static_cast<size_t>(batchSize)) {
    std::span<const int64_t> batch(order.data() + begin, std::min(order.size() - begin, static_cast<size_t>(batchSize)));
    Expected<std::vector<Tensor>> outputs = runner.run(data, batch, values);
    if (!outputs) return outputs.error();
    metrics.add((*outputs)[0], (*outputs)[1].data[0], data.labels, batch);
  }
  return metrics.result();
}

std::vector<int64_t> inOrder(int64_t n) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t{0});
  return order;
}

}  // namespace

Expected<std::vector<Tensor>> runOnBatch(Executable& executable, const Model& model, PersistentValues& values,
                                         const Tensor& images, const Tensor* labels) {
  CNNC_TRY(values.moveInto(executable));
  CNNC_TRY(executable.bind(model.graph.node(model.input).name, images));
  if (labels) CNNC_TRY(executable.bind(model.graph.node(*model.labels).name, *labels));
  return executable.run();
}

Expected<Executable*> BatchRunner::executableFor(int64_t batch, PersistentValues& values) {
  auto it = executables_.find(batch);
  if (it != executables_.end()) return it->second.get();
  Expected<Model> model = loadModelText(model_.sourceJson, model_.name, batch);
  if (!model) return model.error();
  Expected<CompiledGraph> compiled = buildGraph(*model, PipelineOptions{kind_, seed_, optimization_});
  if (!compiled) return compiled.error();
  values.addMissingState(compiled->graph);
  Expected<std::unique_ptr<Executable>> executable = backend_(std::move(compiled->graph));
  if (!executable) return executable.error();
  return (executables_[batch] = std::move(*executable)).get();
}

Expected<std::vector<Tensor>> BatchRunner::run(const Dataset& data, std::span<const int64_t> indices,
                                               PersistentValues& values) {
  const auto batch = static_cast<int64_t>(indices.size());
  Expected<Executable*> executable = executableFor(batch, values);
  if (!executable) return executable.error();
  const std::vector<int64_t>& imageDims = data.images.dims;
  const int64_t imageSize = imageDims[1] * imageDims[2] * imageDims[3];
  Tensor images({batch, imageDims[1], imageDims[2], imageDims[3]});
  Tensor labels({batch});
  for (int64_t i = 0; i < batch; ++i) {
    const auto from = static_cast<size_t>(indices[static_cast<size_t>(i)]);
    std::copy_n(data.images.data.begin() + static_cast<std::ptrdiff_t>(from) * imageSize, imageSize,
                images.data.begin() + i * imageSize);
    if (!data.labels.empty()) labels.data[static_cast<size_t>(i)] = static_cast<float>(data.labels[from]);
  }
  const bool withLabels = model_.labels && !data.labels.empty();
  return runOnBatch(**executable, model_, values, images, withLabels ? &labels : nullptr);
}

Expected<Metrics> evaluate(const Model& model, const Bindings<float>& weights, const Dataset& data, int64_t batchSize,
                           const Backend& backend, const OptimizationOptions& optimization) {
  PersistentValues values(weights);
  BatchRunner runner(model, GraphKind::Evaluation, 0, backend, optimization);
  return runEpoch(runner, data, inOrder(static_cast<int64_t>(data.labels.size())), batchSize, values);
}

Status train(const Model& model, Bindings<float>& weights, const Dataset& data, const Dataset* validation,
             const TrainOptions& options, const Backend& backend,
             const std::function<Status(const EpochReport&)>& onEpoch) {
  PersistentValues values(weights);
  BatchRunner runner(model, GraphKind::TrainStep, options.seed, backend, options.optimization);
  // --tile may name gradients, which the validation graph lacks.
  OptimizationOptions validationOptimization = options.optimization;
  validationOptimization.tilesOfLargerGraph = true;
  const auto n = static_cast<int64_t>(data.labels.size());
  for (int64_t epoch = options.firstEpoch; epoch < options.firstEpoch + options.epochs; ++epoch) {
    const auto start = std::chrono::steady_clock::now();
    Expected<Metrics> metrics =
        runEpoch(runner, data, shuffledOrder(n, options.seed, epoch), options.batchSize, values);
    if (!metrics) return metrics.error();
    Expected<const Bindings<float>*> trained = values.current();
    if (!trained) return trained.error();
    weights = **trained;
    EpochReport report{epoch + 1, (n + options.batchSize - 1) / options.batchSize, 0, *metrics, std::nullopt};
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (validation) {
      Expected<Metrics> validationMetrics =
          evaluate(model, weights, *validation, options.batchSize, backend, validationOptimization);
      if (!validationMetrics) return validationMetrics.error();
      report.validation = *validationMetrics;
    }
    CNNC_TRY(onEpoch(report));
  }
  return Status::ok();
}

}  // namespace cnnc

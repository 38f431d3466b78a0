#include "compiler/pipeline.h"

#include <algorithm>
#include <chrono>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "ir/verifier.h"

namespace cnnc {
namespace {

// The optimisation passes, in the order they run. Adding a pass is adding
// its line: name, lowest -O level, function, and true for one that runs on
// the forward graph (before autodiff; those come first).
constexpr OptimizationPass kOptimizationPasses[] = {
    {"order-branches", 2, orderBranches, true},
    {"fuse-activations", 1, fuseActivations},
    {"fuse-activation-gradients", 1, fuseActivationGradients},
    {"select-layouts", 2, selectLayouts},
    {"fuse-bias-gradients", 1, fuseBiasGradients},
    {"select-winograd", 2, selectWinograd},
    {"choose-tiles", 2, chooseTiles},
    {"fuse-pooling", 2, fusePooling},
    {"fuse-projection-gradients", 2, fuseProjectionGradients},
    {"fuse-residual-adds", 1, fuseResidualAdds},
    {"fold-batch-norms", 2, foldBatchNorms},
    {"fuse-residual-norms", 2, fuseResidualNorms},
    {"fuse-batch-statistics", 2, fuseBatchStatistics},
    {"inline-batch-norms", 2, inlineBatchNorms},
    {"use-relu-masks", 2, useReluMasks},
    {"fuse-adam-moments", 1, fuseAdamMoments},
    {"interleave-batch", 2, interleaveBatch},
};

// The passes that make the graph of a job: those before the optimisation
// passes on the forward graph, then those after them.
constexpr std::string_view kForwardLoweringPasses[] = {"import", "prune", "lower-training"};
constexpr std::string_view kBackwardLoweringPasses[] = {"autodiff", "optimizer"};

// Runs each pass's result through the verifier and the afterPass hook, and
// times the passes (the time since the previous pass finished, verification
// excluded).
class PassRunner {
 public:
  explicit PassRunner(const PipelineOptions& options)
      : options_(options), last_(std::chrono::steady_clock::now()) {}

  Status finished(std::string_view pass, const Graph& graph) {
    if (options_.times && pass != "import")
      options_.times->add(std::string(pass), std::chrono::duration<double>(std::chrono::steady_clock::now() - last_).count());
    if (Status status = verify(graph); !status)
      return Error{fmt::format("internal error: the graph after pass {} is invalid: {}", pass, status.error().message)};
    if (options_.afterPass) options_.afterPass(pass, graph);
    last_ = std::chrono::steady_clock::now();
    return Status::ok();
  }

 private:
  const PipelineOptions& options_;
  std::chrono::steady_clock::time_point last_;
};

Status requireLoss(const Model& model, std::string_view job) {
  if (model.loss) return Status::ok();
  return Error{fmt::format("model {} has no loss, which {} needs", model.name, job)};
}

bool runs(const OptimizationPass& pass, const OptimizationOptions& options) {
  const std::vector<std::string>& disabled = options.disabledPasses;
  return pass.level <= options.level && std::find(disabled.begin(), disabled.end(), pass.name) == disabled.end();
}

Status checkOptions(const OptimizationOptions& options) {
  if (options.level < 0 || options.level > kMaxOptLevel)
    return Error{fmt::format("optimisation level {} is out of range 0..{}", options.level, kMaxOptLevel)};
  for (const std::string& name : options.disabledPasses) CNNC_TRY(checkOptimizationPass(name));
  const bool tiling = std::any_of(std::begin(kOptimizationPasses), std::end(kOptimizationPasses),
                                  [&](const OptimizationPass& pass) { return pass.run == chooseTiles && runs(pass, options); });
  if (!options.tiles.empty() && !tiling) return Error{"--tile needs the choose-tiles pass, which is not running"};
  return Status::ok();
}

// Runs the optimisation passes `options` selects that run on the forward
// graph (onForwardGraph) or on the whole one.
Status optimize(Graph& graph, const OptimizationOptions& options, bool forwardGraph, PassRunner& runner) {
  const PassContext context{options.target, options.tiles, options.tilesOfLargerGraph};
  for (const OptimizationPass& pass : kOptimizationPasses) {
    if (pass.onForwardGraph != forwardGraph || !runs(pass, options)) continue;
    CNNC_TRY(pass.run(graph, context));
    CNNC_TRY(runner.finished(pass.name, graph));
  }
  return Status::ok();
}

// The graph of the job, through the lowering passes and the optimisation
// passes on the forward graph.
Expected<CompiledGraph> lower(const Model& model, const PipelineOptions& options, PassRunner& runner) {
  CNNC_TRY(runner.finished("import", model.graph));
  auto optimizeForward = [&](Graph& graph) { return optimize(graph, options.optimization, true, runner); };
  switch (options.kind) {
    case GraphKind::Inference: {
      Expected<Graph> pruned = pruneToOutputs(model.graph, {model.graph.outputs().front()});
      if (!pruned) return pruned.error();
      CNNC_TRY(runner.finished("prune", *pruned));
      CNNC_TRY(optimizeForward(*pruned));
      return CompiledGraph{std::move(*pruned), {}};
    }
    case GraphKind::Evaluation: {
      CNNC_TRY(requireLoss(model, "evaluation"));
      Graph graph = model.graph;
      CNNC_TRY(optimizeForward(graph));
      return CompiledGraph{std::move(graph), {}};
    }
    case GraphKind::Gradient:
    case GraphKind::TrainStep:
      break;
  }
  CNNC_TRY(requireLoss(model, "training"));
  if (options.kind == GraphKind::TrainStep && !model.optimizer)
    return Error{fmt::format("model {} has no optimizer, which training needs", model.name)};
  Expected<Graph> training = lowerForTraining(model.graph, options.seed);
  if (!training) return training.error();
  CNNC_TRY(runner.finished("lower-training", *training));
  Graph& graph = *training;
  CNNC_TRY(optimizeForward(graph));
  // Lowering keeps names: the loss is found again by its name.
  const ValueId loss = *graph.lookup(model.graph.node(*model.loss).name);
  Expected<std::vector<std::pair<ValueId, ValueId>>> gradients = differentiate(graph, loss);
  if (!gradients) return gradients.error();
  CNNC_TRY(runner.finished("autodiff", graph));
  if (options.kind == GraphKind::TrainStep) {
    CNNC_TRY(appendOptimizer(graph, *gradients, *model.optimizer));
    CNNC_TRY(runner.finished("optimizer", graph));
    return CompiledGraph{std::move(graph), {}};
  }
  CompiledGraph result{std::move(graph), {}};
  std::vector<ValueId> outputs = {loss};
  for (auto [param, gradient] : *gradients) {
    result.gradientParams.push_back(result.graph.node(param).name);
    outputs.push_back(gradient);
  }
  result.graph.setOutputs(std::move(outputs));
  return result;
}

}  // namespace

Expected<CompiledGraph> buildGraph(const Model& model, const PipelineOptions& options) {
  CNNC_TRY(checkOptions(options.optimization));
  PassRunner runner(options);
  Expected<CompiledGraph> compiled = lower(model, options, runner);
  if (!compiled) return compiled;
  CNNC_TRY(optimize(compiled->graph, options.optimization, false, runner));
  return compiled;
}

std::span<const OptimizationPass> optimizationPasses() { return kOptimizationPasses; }

std::vector<std::string_view> pipelinePassNames() {
  std::vector<std::string_view> names(std::begin(kForwardLoweringPasses), std::end(kForwardLoweringPasses));
  auto addPassesOn = [&](bool forwardGraph) {
    for (const OptimizationPass& pass : kOptimizationPasses)
      if (pass.onForwardGraph == forwardGraph) names.push_back(pass.name);
  };
  addPassesOn(true);
  names.insert(names.end(), std::begin(kBackwardLoweringPasses), std::end(kBackwardLoweringPasses));
  addPassesOn(false);
  return names;
}

Status checkOptimizationPass(std::string_view name) {
  std::vector<std::string_view> names;
  for (const OptimizationPass& pass : kOptimizationPasses) {
    if (pass.name == name) return Status::ok();
    names.push_back(pass.name);
  }
  return Error{fmt::format("unknown pass {}; the optimisation passes are {}", name, fmt::join(names, ", "))};
}

}  // namespace cnnc

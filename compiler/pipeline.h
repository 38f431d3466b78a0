// The compiler pipeline: from a model to the graph of one job, through the
// passes in order, verifying the graph after each. One visible list:
//
//   inference:   import -> prune(logits)
//   evaluation:  import                                  (logits, loss)
//   gradient:    import -> lower-training -> autodiff    (loss, gradients)
//   train step:  import -> lower-training -> autodiff -> optimizer  (logits, loss)
//
// then, for every kind, the optimisation passes (kOptimizationPasses in
// pipeline.cpp), each from its -O level up unless disabled by name:
//
//   fuse-activations (O1)
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "compiler/passes.h"
#include "compiler/target.h"
#include "frontends/model.h"
#include "ir/error.h"
#include "ir/graph.h"
#include "support/phase_times.h"

namespace cnnc {

enum class GraphKind { Inference, Evaluation, Gradient, TrainStep };

// -O2, the default, runs every optimisation pass; -O0 none.
inline constexpr int kMaxOptLevel = 2;

// Which optimisation passes run, and for which machine.
struct OptimizationOptions {
  int level = kMaxOptLevel;                   // -O: the passes of this level and below run
  std::vector<std::string> disabledPasses{};  // --disable-pass: these do not
  Target target{};                            // what the passes optimise for: the backend's target
  std::vector<std::string> tiles{};           // --tile NAME=a,b,...: for choose-tiles
  // Whether tiles may name values this graph lacks: so for the validation
  // graph of a training run, since the training step's graph, which checks
  // every name, has all of its values and the backward ones besides.
  bool tilesOfLargerGraph = false;
};

struct PipelineOptions {
  GraphKind kind = GraphKind::Inference;
  uint64_t seed = 0;  // seeds the dropout masks of training graphs
  OptimizationOptions optimization{};
  // Called after every pass with its name and the graph it produced.
  std::function<void(std::string_view pass, const Graph& graph)> afterPass{};
  // If given, records how long each pass took.
  PhaseTimes* times = nullptr;
};

struct CompiledGraph {
  Graph graph;
  // Gradient graphs: the param each gradient output belongs to, in output
  // order after the loss.
  std::vector<std::string> gradientParams;
};

Expected<CompiledGraph> buildGraph(const Model& model, const PipelineOptions& options);

// An optimisation pass: its name (for -O, --disable-pass, dump --stage and
// --time-passes), the lowest -O level that runs it, the pass (passes.h),
// and whether it runs on the forward graph, before autodiff (and the
// optimizer), rather than on the job's whole graph.
struct OptimizationPass {
  std::string_view name;
  int level;
  Status (*run)(Graph& graph, const PassContext& context);
  bool onForwardGraph = false;
};

std::span<const OptimizationPass> optimizationPasses();

// Every pass the pipeline has, in the order it runs them: import ...
// lower-training, the optimisation passes on the forward graph, autodiff,
// optimizer, then the other optimisation passes.
std::vector<std::string_view> pipelinePassNames();

// An error naming the optimisation passes unless `name` is one.
Status checkOptimizationPass(std::string_view name);

}  // namespace cnnc

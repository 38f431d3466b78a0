// cnnc compile MODEL.json: compiles a model's graph to native code, verifies
// it at every step, and reports what came out: the target, the nodes, the
// parameters, the arena split by what it holds, and how long each phase took.
#include <map>
#include <memory>

#include <fmt/format.h>

#include "compiler/codegen/arena_split.h"
#include "compiler/codegen/buffer_layout.h"
#include "compiler/model_summary.h"
#include "ir/fused_activation.h"
#include "ir/verifier.h"
#include "runtime/jit_executable.h"
#include "tools/command_support.h"
#include "tools/commands.h"

namespace cnnc {
namespace {

struct CompileOptions {
  std::string model;
  CodeChoice code;
  int64_t batch = 32;
  bool inference = false;
  bool timePasses = false;
};

// "conv2d+relu 3, dense 2, ...": how many nodes of each op (with its fused
// activation), leaves left out.
std::string opCounts(const Graph& graph) {
  std::map<std::string, int> counts;
  for (const Node& node : graph.nodes())
    if (!isLeaf(node.op)) ++counts[opLabel(node.op, node.attrs)];
  std::string text;
  for (const auto& [op, count] : counts) text += fmt::format("{}{} {}", text.empty() ? "" : ", ", op, count);
  return text;
}

// The arena and its split by category (arena_split.h), with what each
// category's buffers would take if they shared nothing.
std::string arenaReport(const Graph& graph, const Target& target) {
  const BufferLayout layout = layoutBuffers(graph, target);
  const ArenaSplit split = splitArena(graph, layout);
  std::string text = fmt::format("arena: {} (shared bytes count for the first category listed that uses them)\n",
                                 formatBytes(layout.arenaBytes));
  for (size_t i = 0; i < kArenaCategories; ++i)
    text += fmt::format("  {:<19}{:>11}  (buffers {})\n", categoryName(static_cast<ArenaCategory>(i)),
                        formatBytes(split.arena[i]), formatBytes(split.buffers[i]));
  return text;
}

Status compileModel(const CompileOptions& options) {
  Expected<OptimizationOptions> optimization = chooseOptimization(options.code);
  if (!optimization) return optimization.error();
  const Target& target = optimization->target;
  PhaseTimes times;
  const bool train = !options.inference;
  Expected<ModelGraph> built = importAndBuild(
      options.model, options.batch,
      {train ? GraphKind::TrainStep : GraphKind::Inference, 0, *optimization}, &times);
  if (!built) return built.error();
  const Graph& graph = built->compiled.graph;
  // A target the host cannot run is compiled all the same, to object code
  // that is not loaded: the report is about the graph and its code.
  const Status runs = checkHostRuns(target);
  if (runs) {
    Expected<std::unique_ptr<Executable>> executable = jitBackend(target, &times)(graph);
    if (!executable) return executable.error();
  } else {
    CNNC_TRY(compileWithoutLoading(graph, target, &times));
  }
  const ModelSummary summary = summarize(built->model);
  size_t computed = 0;
  for (const Node& node : graph.nodes()) computed += !isLeaf(node.op);
  fmt::print("model {}: {} at batch {}, target {} ({})\n", built->model.name,
             train ? "training step" : "inference", options.batch, target.name, target.cpu);
  fmt::print("nodes: {} computed ({})\n", computed, opCounts(graph));
  fmt::print("parameters: {} trainable, {} non-trainable\n", withThousands(summary.trainable),
             withThousands(summary.nonTrainable));
  fmt::print("{}", arenaReport(graph, target));
  fmt::print("compile time: {:.3f} s{}\n", times.total(),
             runs ? "" : fmt::format(" (not loaded: {})", runs.error().message));
  if (options.timePasses) fmt::print(stderr, "{}", formatPhaseTimes(times));
  return Status::ok();
}

}  // namespace

Command addCompileCommand(CLI::App& parent) {
  auto options = std::make_shared<CompileOptions>();
  CLI::App* app = parent.add_subcommand("compile", "Compile a model to native code and report on it");
  addModelArgument(*app, options->model);
  app->add_option("--batch", options->batch, "Batch size")->capture_default_str()->check(atLeast(1));
  addCodeOptions(*app, options->code);
  app->add_flag("--infer", options->inference, "Compile the inference graph instead of the training step");
  app->add_flag("--time-passes", options->timePasses, "Print how long each compiler phase took (stderr)");
  return {app, [options]() -> Status { return compileModel(*options); }};
}

}  // namespace cnnc

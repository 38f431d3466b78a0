// cnnc dump MODEL.json: what the compiler made of a model, at any stage:
// the graph in the textual IR (as imported, after every pass, or as the whole
// training step), the optimised LLVM IR, or the generated assembly.
#include <memory>

#include <fmt/format.h>

#include "compiler/codegen/codegen.h"
#include "compiler/codegen/llvm_pipeline.h"
#include "ir/printer.h"
#include "tools/command_support.h"
#include "tools/commands.h"
#include "tools/tool_main.h"

namespace cnnc {
namespace {

struct DumpOptions {
  std::string model, output, stage = "ir", target = "host";
  int64_t batch = 1;
  bool train = false;
  bool printAfterAll = false;
  bool timePasses = false;
};

// The optimised LLVM IR or the assembly of a graph.
Expected<std::string> machineStage(const Graph& graph, const DumpOptions& options, PhaseTimes& times) {
  Expected<Target> target = selectTarget(options.target);
  if (!target) return target.error();
  Expected<GeneratedCode> code = [&] {
    PhaseTimer timer(&times, "codegen");
    return generateCode(graph, *target);
  }();
  if (!code) return code.error();
  Expected<std::unique_ptr<llvm::TargetMachine>> machine = createTargetMachine(*target);
  if (!machine) return machine.error();
  {
    PhaseTimer timer(&times, "llvm-O3");
    optimizeModule(*code->units[0].module, **machine);
  }
  if (options.stage == "llvm") return printModule(*code->units[0].module);
  PhaseTimer timer(&times, "machine-code");
  return emitAssembly(*code->units[0].module, **machine);
}

Status dump(const DumpOptions& options) {
  std::string text;
  PipelineOptions pipeline{options.train ? GraphKind::TrainStep : GraphKind::Evaluation, 0, {}};
  if (options.printAfterAll)
    pipeline.afterPass = [&text](std::string_view pass, const Graph& graph) {
      text += fmt::format("// ----- after {} -----\n{}", pass, printGraph(graph));
    };
  PhaseTimes times;
  Expected<ModelGraph> built = importAndBuild(options.model, options.batch, pipeline, &times);
  if (!built) return built.error();
  const Graph& graph = built->compiled.graph;
  if (options.stage == "ir") {
    if (!options.printAfterAll) text = printGraph(graph);
  } else {
    Expected<std::string> machine = machineStage(graph, options, times);
    if (!machine) return machine.error();
    text = std::move(*machine);
  }
  if (options.timePasses) fmt::print(stderr, "{}", formatPhaseTimes(times));
  return emitText(text, options.output);
}

}  // namespace

Command addDumpCommand(CLI::App& parent) {
  auto options = std::make_shared<DumpOptions>();
  CLI::App* app = parent.add_subcommand("dump", "Print the model's graph, LLVM IR or assembly");
  addModelArgument(*app, options->model);
  app->add_option("--batch", options->batch, "Batch size the graph is built for")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app->add_option("-o,--output", options->output, "Write to this file instead of stdout");
  app->add_option("--stage", options->stage, "ir: the graph; llvm: optimised LLVM IR; asm: assembly")
      ->capture_default_str()
      ->check(CLI::IsMember({"ir", "llvm", "asm"}));
  addTargetOption(*app, options->target, "Instruction set of --stage llvm and asm");
  app->add_flag("--train", options->train, "The training step (forward, backward, optimizer update)");
  app->add_flag("--print-after-all", options->printAfterAll, "With --stage ir: the graph after every pass");
  app->add_flag("--time-passes", options->timePasses, "Print how long each compiler phase took (stderr)");
  return {app, [options]() -> Status { return dump(*options); }};
}

}  // namespace cnnc

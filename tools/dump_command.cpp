// cnnc dump MODEL.json: what the compiler made of a model, at any stage:
// the graph in the textual IR (finished, after any one pass or after every
// pass), the optimised LLVM IR, or the generated assembly.
#include <algorithm>
#include <memory>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "compiler/codegen/codegen.h"
#include "compiler/codegen/llvm_pipeline.h"
#include "ir/printer.h"
#include "tools/command_support.h"
#include "tools/commands.h"
#include "tools/tool_main.h"

namespace cnnc {
namespace {

struct DumpOptions {
  std::string model, output, stage = "ir";
  CodeChoice code;
  int64_t batch = 1;
  bool train = false;
  bool printAfterAll = false;
  bool timePasses = false;
};

// The optimised LLVM IR or the assembly of a graph.
Expected<std::string> machineStage(const Graph& graph, const DumpOptions& options, const Target& target,
                                   PhaseTimes& times) {
  Expected<GeneratedCode> code = [&] {
    PhaseTimer timer(&times, "codegen");
    return generateCode(graph, target);
  }();
  if (!code) return code.error();
  Expected<std::unique_ptr<llvm::TargetMachine>> machine = createTargetMachine(target);
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
  Expected<OptimizationOptions> optimization = chooseOptimization(options.code);
  if (!optimization) return optimization.error();
  PipelineOptions pipeline{options.train ? GraphKind::TrainStep : GraphKind::Evaluation, 0, *optimization};
  // The graph after each pass that ran, as --print-after-all shows it, and
  // after the pass --stage names.
  std::string everyPass, stageText;
  std::vector<std::string_view> passesRun;
  pipeline.afterPass = [&](std::string_view pass, const Graph& graph) {
    passesRun.push_back(pass);
    if (options.printAfterAll) everyPass += fmt::format("// ----- after {} -----\n{}", pass, printGraphForUsers(graph));
    if (pass == options.stage) stageText = printGraphForUsers(graph);
  };
  PhaseTimes times;
  Expected<ModelGraph> built = importAndBuild(options.model, options.batch, pipeline, &times);
  if (!built) return built.error();
  std::string text;
  if (options.stage == "llvm" || options.stage == "asm") {
    Expected<std::string> machine = machineStage(built->compiled.graph, options, optimization->target, times);
    if (!machine) return machine.error();
    text = std::move(*machine);
  } else if (options.printAfterAll) {
    text = std::move(everyPass);
  } else if (options.stage == "ir") {
    text = printGraphForUsers(built->compiled.graph);
  } else if (std::find(passesRun.begin(), passesRun.end(), options.stage) != passesRun.end()) {
    text = std::move(stageText);
  } else {
    return Error{fmt::format("pass {} does not run for this graph; the passes that ran: {}", options.stage,
                             fmt::join(passesRun, ", "))};
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
      ->check(atLeast(1));
  app->add_option("-o,--output", options->output, "Write to this file instead of stdout");
  std::vector<std::string> stages = {"ir", "llvm", "asm"};
  for (std::string_view pass : pipelinePassNames()) stages.emplace_back(pass);
  app->add_option("--stage", options->stage,
                  "ir: the final graph; llvm: optimised LLVM IR; asm: assembly; a pass: the graph right after it")
      ->capture_default_str()
      ->check(CLI::IsMember(stages));
  addCodeOptions(*app, options->code, "Instruction set of --stage llvm and asm, and of the optimisation passes");
  app->add_flag("--train", options->train, "The training step (forward, backward, optimizer update)");
  app->add_flag("--print-after-all", options->printAfterAll, "With --stage ir: the graph after every pass");
  app->add_flag("--time-passes", options->timePasses, "Print how long each compiler phase took (stderr)");
  return {app, [options]() -> Status { return dump(*options); }};
}

}  // namespace cnnc

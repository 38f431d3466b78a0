// cnnc dump MODEL.json: the model's graph in the textual IR, as imported or
// (--train) as the whole training step: forward, backward and update.
#include <memory>

#include <fmt/format.h>

#include "compiler/pipeline.h"
#include "frontends/json_loader.h"
#include "ir/printer.h"
#include "tools/commands.h"
#include "tools/tool_main.h"

namespace cnnc {

Command addDumpCommand(CLI::App& parent) {
  struct Options {
    std::string model;
    int64_t batch = 1;
    std::string output;
    bool train = false;
    bool printAfterAll = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* app = parent.add_subcommand("dump", "Print the model's graph as textual IR");
  app->add_option("MODEL", options->model, "Model description (JSON, cnnc/1)")->required();
  app->add_option("--batch", options->batch, "Batch size the graph is built for")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app->add_option("-o,--output", options->output, "Write to this file instead of stdout");
  app->add_flag("--train", options->train, "The training step (forward, backward, optimizer update)");
  app->add_flag("--print-after-all", options->printAfterAll, "Print the graph after every pass, not just the last");
  return {app, [options]() -> Status {
            Expected<Model> model = loadModelFile(options->model, options->batch);
            if (!model) return model.error();
            std::string text;
            PipelineOptions pipeline{options->train ? GraphKind::TrainStep : GraphKind::Evaluation, 0, {}};
            if (!model->loss && !options->train) pipeline.kind = GraphKind::Inference;
            if (options->printAfterAll)
              pipeline.afterPass = [&text](std::string_view pass, const Graph& graph) {
                text += fmt::format("// ----- after {} -----\n{}", pass, printGraph(graph));
              };
            Expected<CompiledGraph> compiled = buildGraph(*model, pipeline);
            if (!compiled) return compiled.error();
            if (!options->printAfterAll) text = printGraph(compiled->graph);
            return emitText(text, options->output);
          }};
}

}  // namespace cnnc

// cnnc dump MODEL.json: the model's graph in the textual IR.
#include <memory>

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
  };
  auto options = std::make_shared<Options>();
  CLI::App* app = parent.add_subcommand("dump", "Print the model's graph as textual IR");
  app->add_option("MODEL", options->model, "Model description (JSON, cnnc/1)")->required();
  app->add_option("--batch", options->batch, "Batch size the graph is built for")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app->add_option("-o,--output", options->output, "Write to this file instead of stdout");
  return {app, [options]() -> Status {
            Expected<Model> model = loadModelFile(options->model, options->batch);
            if (!model) return model.error();
            return emitText(printGraph(model->graph), options->output);
          }};
}

}  // namespace cnnc

// cnnc summary MODEL.json: the layer table, as Keras's model.summary() prints it.
#include <memory>

#include "compiler/model_summary.h"
#include "frontends/json_loader.h"
#include "tools/command_support.h"
#include "tools/commands.h"
#include "tools/tool_main.h"

namespace cnnc {

Command addSummaryCommand(CLI::App& parent) {
  struct Options {
    std::string model;
  };
  auto options = std::make_shared<Options>();
  CLI::App* app = parent.add_subcommand("summary", "Print each layer's output shape and parameter count");
  addModelArgument(*app, options->model);
  return {app, [options]() -> Status {
            // Shapes and counts do not depend on the batch size: any will do.
            Expected<Model> model = loadModelFile(options->model, 1);
            if (!model) return model.error();
            return emitText(formatSummary(summarize(*model)), "");
          }};
}

}  // namespace cnnc

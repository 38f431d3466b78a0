// cnnc init MODEL.json -o W.safetensors: Keras-style initial weights.
#include <memory>

#include "frontends/json_loader.h"
#include "runtime/parameters.h"
#include "tools/command_support.h"
#include "tools/commands.h"

namespace cnnc {

Command addInitCommand(CLI::App& parent) {
  struct Options {
    std::string model, output;
    uint64_t seed = 0;
  };
  auto options = std::make_shared<Options>();
  CLI::App* app = parent.add_subcommand("init", "Write initial weights (Glorot-uniform, seeded) as safetensors");
  addModelArgument(*app, options->model);
  app->add_option("-o,--output", options->output, "Weights file to write")->required();
  app->add_option("--seed", options->seed, "Random seed")->capture_default_str();
  return {app, [options]() -> Status {
            Expected<Model> model = loadModelFile(options->model, 1);
            if (!model) return model.error();
            return saveWeights(options->output, *model, initialParameters(*model, options->seed));
          }};
}

}  // namespace cnnc

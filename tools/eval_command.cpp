// cnnc eval MODEL.json --weights CKPT --data DIR: test-set loss and accuracy.
#include <memory>

#include <fmt/format.h>

#include "frontends/json_loader.h"
#include "runtime/trainer.h"
#include "tools/command_support.h"
#include "tools/commands.h"

namespace cnnc {

Command addEvalCommand(CLI::App& parent) {
  struct Options {
    std::string model, weights, data;
    BackendChoice backend;
    int64_t batch = 100;
    int64_t limit = -1;
  };
  auto options = std::make_shared<Options>();
  CLI::App* app = parent.add_subcommand("eval", "Loss and accuracy on the CIFAR-10 test set");
  addModelArgument(*app, options->model);
  app->add_option("--weights", options->weights, "Weights or checkpoint (safetensors)")->required();
  app->add_option("--data", options->data, "CIFAR-10 directory (default: $CNNC_DATA)");
  app->add_option("--batch-size", options->batch, "Images per step")->capture_default_str()->check(atLeast(1));
  app->add_option("--limit", options->limit, "Evaluate on the first N test images only")->check(atLeast(1));
  addBackendOptions(*app, options->backend);
  return {app, [options]() -> Status {
            Expected<ChosenBackend> backend = chooseBackend(options->backend);
            if (!backend) return backend.error();
            Expected<Model> model = loadModelFile(options->model, options->batch);
            if (!model) return model.error();
            Expected<WeightsFile> weights = loadWeights(options->weights, *model);
            if (!weights) return weights.error();
            Expected<Dataset> testSet = cifarFor(*model, options->data, Cifar10Split::Test, options->limit);
            if (!testSet) return testSet.error();
            Expected<Metrics> metrics =
                evaluate(*model, weights->values, *testSet, options->batch, backend->backend, backend->optimization);
            if (!metrics) return metrics.error();
            fmt::print("{} test images - loss: {:.4f} - accuracy: {:.4f}\n", metrics->examples, metrics->loss,
                       metrics->accuracy);
            return Status::ok();
          }};
}

}  // namespace cnnc

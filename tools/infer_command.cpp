// cnnc infer MODEL.json --weights W --input X.npy -o LOGITS.npy: inference
// mode (batch_norm with running statistics, dropout the identity).
#include <algorithm>
#include <memory>
#include <numeric>

#include <fmt/format.h>

#include "frontends/json_loader.h"
#include "runtime/npy.h"
#include "runtime/trainer.h"
#include "tools/command_support.h"
#include "tools/commands.h"

namespace cnnc {

Command addInferCommand(CLI::App& parent) {
  struct Options {
    std::string model, weights, input, output;
    BackendChoice backend;
    int64_t batch = 256;
  };
  auto options = std::make_shared<Options>();
  CLI::App* app = parent.add_subcommand("infer", "Compute the logits of images (.npy [N,C,H,W] float32)");
  addModelArgument(*app, options->model);
  app->add_option("--weights", options->weights, "Weights or checkpoint (safetensors)")->required();
  app->add_option("--input", options->input, "Images, float32 .npy [N,C,H,W]")->required();
  app->add_option("-o,--output", options->output, "Logits to write, float32 .npy [N,classes]")->required();
  app->add_option("--batch", options->batch, "Images per step")->capture_default_str()->check(atLeast(1));
  addBackendOptions(*app, options->backend);
  return {app, [options]() -> Status {
            Expected<Model> model = loadModelFile(options->model, 1);
            if (!model) return model.error();
            Expected<ChosenBackend> backend = chooseBackend(options->backend);
            if (!backend) return backend.error();
            Expected<WeightsFile> weights = loadWeights(options->weights, *model);
            if (!weights) return weights.error();
            Expected<Tensor> images = readImagesFor(*model, options->input);
            if (!images) return images.error();
            const int64_t n = images->dims[0];
            Dataset data{std::move(*images), {}};
            PersistentValues values(std::move(weights->values));
            BatchRunner runner(*model, GraphKind::Inference, 0, backend->backend, backend->optimization);
            std::vector<int64_t> order(static_cast<size_t>(n));
            std::iota(order.begin(), order.end(), int64_t{0});
            Tensor logits;
            for (int64_t begin = 0; begin < n; begin += options->batch) {
              std::span<const int64_t> batch(order.data() + begin, static_cast<size_t>(std::min(options->batch, n - begin)));
              Expected<std::vector<Tensor>> outputs = runner.run(data, batch, values);
              if (!outputs) return outputs.error();
              const Tensor& part = outputs->front();
              logits.dims = {n, part.dims[1]};
              logits.data.insert(logits.data.end(), part.data.begin(), part.data.end());
            }
            return writeNpy(options->output, logits);
          }};
}

}  // namespace cnnc

// cnnc grad MODEL.json --weights W --input X.npy --labels Y.npy -o G.safetensors:
// the gradient of the mean loss over the whole file (one batch) with respect
// to every trainable parameter, in training mode.
#include <memory>

#include <fmt/format.h>

#include "compiler/pipeline.h"
#include "frontends/json_loader.h"
#include "runtime/npy.h"
#include "runtime/safetensors.h"
#include "runtime/trainer.h"
#include "tools/command_support.h"
#include "tools/commands.h"

namespace cnnc {
namespace {

// Labels as the float tensor the executor binds, each checked to be a class.
Expected<Tensor> readLabelsFor(const Model& model, const std::string& path, int64_t images) {
  Expected<std::vector<int32_t>> labels = readNpyLabels(path);
  if (!labels) return labels.error();
  if (static_cast<int64_t>(labels->size()) != images)
    return Error{fmt::format("{}: {} labels for {} images", path, labels->size(), images)};
  const int64_t classes = model.graph.node(model.logits).type.dims[1];
  Tensor tensor({images});
  for (size_t i = 0; i < labels->size(); ++i) {
    if ((*labels)[i] < 0 || (*labels)[i] >= classes)
      return Error{fmt::format("{}: label {} at index {} is out of range 0..{}", path, (*labels)[i], i, classes - 1)};
    tensor.data[i] = static_cast<float>((*labels)[i]);
  }
  return tensor;
}

Status computeGradients(const std::string& modelPath, const std::string& weightsPath, const std::string& inputPath,
                        const std::string& labelsPath, const std::string& outputPath, const ChosenBackend& backend) {
  Expected<Model> probe = loadModelFile(modelPath, 1);
  if (!probe) return probe.error();
  Expected<Tensor> images = readImagesFor(*probe, inputPath);
  if (!images) return images.error();
  Expected<Model> model = loadModelFile(modelPath, images->dims[0]);
  if (!model) return model.error();
  Expected<Tensor> labels = readLabelsFor(*model, labelsPath, images->dims[0]);
  if (!labels) return labels.error();
  Expected<WeightsFile> weights = loadWeights(weightsPath, *model);
  if (!weights) return weights.error();
  Expected<CompiledGraph> compiled = buildGraph(*model, PipelineOptions{GraphKind::Gradient, 0, backend.optimization});
  if (!compiled) return compiled.error();
  PersistentValues values(std::move(weights->values));
  values.addMissingState(compiled->graph);
  std::vector<std::string> params = compiled->gradientParams;
  Expected<std::unique_ptr<Executable>> executable = backend.backend(std::move(compiled->graph));
  if (!executable) return executable.error();
  Expected<std::vector<Tensor>> outputs = runOnBatch(**executable, *model, values, *images, &*labels);
  if (!outputs) return outputs.error();
  SafetensorsFile gradients;
  gradients.metadata["format"] = "cnnc/1";
  for (size_t i = 0; i < params.size(); ++i) gradients.tensors[params[i]] = std::move((*outputs)[i + 1]);
  CNNC_TRY(writeSafetensors(outputPath, gradients));
  fmt::print("loss {:.9g}\n", outputs->front().data[0]);
  return Status::ok();
}

}  // namespace

Command addGradCommand(CLI::App& parent) {
  struct Options {
    std::string model, weights, input, labels, output;
    BackendChoice backend;
  };
  auto options = std::make_shared<Options>();
  CLI::App* app = parent.add_subcommand("grad", "Gradient of the mean loss with respect to every parameter");
  addModelArgument(*app, options->model);
  app->add_option("--weights", options->weights, "Weights or checkpoint (safetensors)")->required();
  app->add_option("--input", options->input, "Images, float32 .npy [N,C,H,W]")->required();
  app->add_option("--labels", options->labels, "Labels, .npy [N] of int32, int64 or uint8")->required();
  app->add_option("-o,--output", options->output, "Gradients to write (safetensors, named as the parameters)")
      ->required();
  addBackendOptions(*app, options->backend);
  return {app, [options]() -> Status {
            Expected<ChosenBackend> backend = chooseBackend(options->backend);
            if (!backend) return backend.error();
            return computeGradients(options->model, options->weights, options->input, options->labels,
                                    options->output, *backend);
          }};
}

}  // namespace cnnc

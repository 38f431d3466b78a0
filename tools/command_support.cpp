#include "tools/command_support.h"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "frontends/json_loader.h"
#include "runtime/jit_executable.h"
#include "runtime/npy.h"

namespace cnnc {

CLI::Validator atLeast(double least) {
  return CLI::Validator(
      [least](std::string& text) {
        double value = 0;
        auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
        if (error != std::errc() || end != text.data() + text.size()) return fmt::format("not a number: {}", text);
        return value >= least ? std::string() : fmt::format("must be at least {}, not {}", least, text);
      },
      fmt::format(">={}", least));
}

void addModelArgument(CLI::App& app, std::string& model) {
  app.add_option("MODEL", model, "Model description (JSON, cnnc/1)")->required();
}

void addCodeOptions(CLI::App& app, CodeChoice& choice, const std::string& targetHelp) {
  app.add_option("--target", choice.target, targetHelp)
      ->capture_default_str()
      ->check(CLI::IsMember({"host", "avx512", "avx2"}));
  const CLI::Validator machineModel(
      [](std::string& machine) {
        Status valid = checkMachineModel(machine);
        return valid ? std::string() : valid.error().message;
      },
      "MACHINE");
  app.add_option("--machine", choice.machine,
                 "l1=SIZE,l2=SIZE,l3=SIZE,cores=N (any of them): the machine tiling plans for, instead of the host")
      ->envname("CNNC_MACHINE")
      ->check(machineModel);
  app.add_option("-O", choice.level, "Optimisation level: -O0 straight lowering, -O1 and -O2 the passes of that level and below")
      ->capture_default_str()
      ->check(CLI::Range(0, kMaxOptLevel));
  const CLI::Validator optimizationPass(
      [](std::string& name) {
        Status known = checkOptimizationPass(name);
        return known ? std::string() : known.error().message;
      },
      "PASS");
  // One name per --disable-pass, so that the option never swallows MODEL.
  app.add_option("--disable-pass", choice.disabledPasses, "Do not run this optimisation pass (repeatable)")
      ->allow_extra_args(false)
      ->check(optimizationPass);
  app.add_option("--tile", choice.tiles,
                 "NAME=a,b,...: the tile of blocked convolution %NAME instead of choose-tiles' own (repeatable)")
      ->allow_extra_args(false);
}

Expected<OptimizationOptions> chooseOptimization(const CodeChoice& choice) {
  Expected<Target> target = selectTarget(choice.target, choice.machine);
  if (!target) return target.error();
  return OptimizationOptions{choice.level, choice.disabledPasses, *target, choice.tiles};
}

void addBackendOptions(CLI::App& app, BackendChoice& choice) {
  app.add_option("--backend", choice.backend, "jit: generated native code; reference: the reference kernels")
      ->capture_default_str()
      ->check(CLI::IsMember({"jit", "reference"}));
  addCodeOptions(app, choice.code);
  app.add_option("--threads", choice.threads, "Threads of generated code (0: all cores)")
      ->capture_default_str()
      ->check(atLeast(0));
}

Expected<ChosenBackend> chooseBackend(const BackendChoice& choice) {
  Expected<OptimizationOptions> optimization = chooseOptimization(choice.code);
  if (!optimization) return optimization.error();
  if (choice.backend == "reference") return ChosenBackend{referenceBackend(), std::move(*optimization)};
  return ChosenBackend{jitBackend(optimization->target, nullptr, choice.threads), std::move(*optimization)};
}

Expected<WeightsFile> weightsFor(const Model& model, const std::string& weightsPath, uint64_t seed) {
  if (!weightsPath.empty()) return loadWeights(weightsPath, model);
  return WeightsFile{initialParameters(model, seed), {}};
}

Expected<Dataset> cifarFor(const Model& model, const std::string& dataFlag, Cifar10Split split, int64_t limit) {
  const std::vector<int64_t>& input = model.graph.node(model.input).type.dims;
  const std::vector<int64_t>& logits = model.graph.node(model.logits).type.dims;
  if (input[1] != 3 || input[2] != 32 || input[3] != 32 || logits[1] != 10)
    return Error{fmt::format("model {} takes {} and gives {} classes; CIFAR-10 needs [3,32,32] and 10", model.name,
                             dimsToString({input.begin() + 1, input.end()}), logits[1])};
  std::string dir = resolveDataDir(dataFlag);
  if (dir.empty()) return Error{"no CIFAR-10 directory: pass --data DIR or set CNNC_DATA"};
  return loadCifar10(dir, split, limit);
}

Expected<ModelGraph> importAndBuild(const std::string& path, int64_t batch, PipelineOptions options,
                                    PhaseTimes* times) {
  Expected<Model> model = [&] {
    PhaseTimer timer(times, "frontend");
    return loadModelFile(path, batch);
  }();
  if (!model) return model.error();
  if (options.kind == GraphKind::Evaluation && !model->loss) options.kind = GraphKind::Inference;
  options.times = times;
  Expected<CompiledGraph> compiled = buildGraph(*model, options);
  if (!compiled) return compiled.error();
  return ModelGraph{std::move(*model), std::move(*compiled)};
}

std::string formatPhaseTimes(const PhaseTimes& times) {
  std::string text = "phase                 seconds\n";
  for (const auto& [phase, seconds] : times.phases()) text += fmt::format("{:<20}{:>9.4f}\n", phase, seconds);
  return text + fmt::format("{:<20}{:>9.4f}\n", "total", times.total());
}

Expected<Tensor> readImagesFor(const Model& model, const std::string& path) {
  Expected<Tensor> images = readNpyFloat(path);
  if (!images) return images.error();
  const std::vector<int64_t>& input = model.graph.node(model.input).type.dims;
  if (images->dims.size() != 4 || images->dims[0] < 1 || !std::equal(input.begin() + 1, input.end(), images->dims.begin() + 1))
    return Error{fmt::format("{}: images are {}, model {} takes [N,{},{},{}]", path, dimsToString(images->dims),
                             model.name, input[1], input[2], input[3])};
  return images;
}

}  // namespace cnnc

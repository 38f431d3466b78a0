// Pieces the driver's subcommands share: the options every model command
// takes, choosing a backend, and loading weights and data.
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "compiler/pipeline.h"
#include "frontends/model.h"
#include "runtime/cifar10.h"
#include "runtime/executable.h"
#include "runtime/parameters.h"

namespace cnnc {

// The check of a numeric option: a number of at least `least`, with a
// message a user reads ("--batch: must be at least 1, not 0").
CLI::Validator atLeast(double least);

// MODEL: the model file every model command takes first.
void addModelArgument(CLI::App& app, std::string& model);

// What every command that compiles a model takes: --target
// host|avx512|avx2 (the instruction set of generated code, which the
// optimisation passes also optimise for), --machine (the caches and cores
// tiling plans for, if not the host's; or CNNC_MACHINE), -O0|-O1|-O2 and
// --disable-pass NAME (repeatable).
struct CodeChoice {
  std::string target = "host";
  std::string machine;
  int level = kMaxOptLevel;
  std::vector<std::string> disabledPasses;
  std::vector<std::string> tiles;
};
void addCodeOptions(CLI::App& app, CodeChoice& choice,
                    const std::string& targetHelp = "Instruction set of generated code");
// The pipeline's optimisation settings for the chosen target.
Expected<OptimizationOptions> chooseOptimization(const CodeChoice& choice);

// --backend jit|reference (generated code, or the interpreter of the
// reference kernels), the code options, and for generated code --threads N.
struct BackendChoice {
  std::string backend = "jit";
  CodeChoice code;
  int threads = 0;  // 0: all cores
};
void addBackendOptions(CLI::App& app, BackendChoice& choice);
// The backend, and the optimisation settings of the graphs it compiles.
struct ChosenBackend {
  Backend backend;
  OptimizationOptions optimization;
};
Expected<ChosenBackend> chooseBackend(const BackendChoice& choice);

// The model's weights from --weights, or Keras-style initial ones for `seed`.
Expected<WeightsFile> weightsFor(const Model& model, const std::string& weightsPath, uint64_t seed);

// CIFAR-10 from --data DIR or CNNC_DATA, checked to fit the model's input
// ([3, 32, 32]) and output (10 classes).
Expected<Dataset> cifarFor(const Model& model, const std::string& dataFlag, Cifar10Split split, int64_t limit);

// A model's graph of one kind, through the frontend and the pipeline,
// recording the phases in `times` (which may be null).
struct ModelGraph {
  Model model;
  CompiledGraph compiled;
};
Expected<ModelGraph> importAndBuild(const std::string& path, int64_t batch, PipelineOptions options,
                                    PhaseTimes* times);

// The `--time-passes` report: one line per phase, then the total.
std::string formatPhaseTimes(const PhaseTimes& times);

// Images from an .npy file, checked to be [N, C, H, W] of the model's input.
Expected<Tensor> readImagesFor(const Model& model, const std::string& path);

}  // namespace cnnc

// cnnc bench MODEL.json: the speed of generated code on random data: images
// per second (median of several timed runs after warm-up), milliseconds per
// step, achieved GFLOP/s (convolutions and dense layers), the fraction of a
// given FMA peak, and with --per-op each kernel's share, GFLOP/s and memory
// traffic.
#include <algorithm>
#include <chrono>
#include <memory>
#include <random>
#include <thread>

#include <fmt/format.h>

#include "compiler/flops.h"
#include "compiler/traffic.h"
#include "ir/fused_activation.h"
#include "ir/printer.h"
#include "runtime/jit_executable.h"
#include "runtime/parameters.h"
#include "tools/command_support.h"
#include "tools/commands.h"

namespace cnnc {
namespace {

struct BenchOptions {
  std::string model, mode = "train";
  CodeChoice code;
  int64_t batch = 32;
  int threads = 0;
  int runs = 5;
  int warmup = 3;
  double peak = 0;  // GFLOP/s of the machine, from bench/cnnc-fma-peak
  bool perOp = false;
  bool json = false;
};

// A random batch of images and labels.
Bindings<float> randomBatch(const Model& model) {
  Bindings<float> bindings;
  std::mt19937_64 rng(2);
  std::uniform_real_distribution<float> pixel(0.0f, 1.0f);
  const Node& input = model.graph.node(model.input);
  Tensor images(input.type.dims);
  for (float& v : images.data) v = pixel(rng);
  bindings[input.name] = std::move(images);
  if (model.labels) {
    const int64_t classes = model.graph.node(model.logits).type.dims[1];
    Tensor labels({input.type.dims[0]});
    for (float& v : labels.data) v = static_cast<float>(static_cast<int64_t>(rng() % static_cast<uint64_t>(classes)));
    bindings[model.graph.node(*model.labels).name] = std::move(labels);
  }
  return bindings;
}

// Seconds per step of `steps` steps, each binding `batch` and running, as
// training does (the weights stay in the executable).
Expected<double> timeSteps(Executable& executable, const Bindings<float>& batch, int64_t steps) {
  const auto start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < steps; ++i) {
    CNNC_TRY(bindAll(executable, batch));
    if (Expected<std::vector<Tensor>> outputs = executable.run(); !outputs) return outputs.error();
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / static_cast<double>(steps);
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

// Each kernel's time, GFLOP/s (with `peak` GFLOP/s, 0: unknown, as a share
// of it too) and memory traffic (compiler/traffic.h) in MiB and GB/s: which
// of the two sides of a roofline the kernel is nearer.
std::string perOpTable(const Graph& graph, const std::vector<KernelProfile>& profile, double stepSeconds, double peak) {
  std::vector<KernelProfile> sorted = profile;
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.seconds > b.seconds; });
  const std::vector<int64_t> traffic = kernelTraffic(graph);
  std::string text = fmt::format("{:<40}{:<30}{:>10}{:>8}{:>8}{:>10}{}{:>9}{:>9}\n", "kernel", "op", "ms/step", "best",
                                 "share", "GFLOP/s", peak > 0 ? fmt::format("{:>9}", "of peak") : "", "MiB", "GB/s");
  for (const KernelProfile& kernel : sorted) {
    if (kernel.calls == 0) continue;
    const double seconds = kernel.seconds / static_cast<double>(kernel.calls);
    // A batch group's row counts its kernels' FLOPs and traffic, and lists
    // them below it.
    int64_t flops = flopsOf(graph, kernel.node), traffics = traffic[kernel.node];
    std::string members;
    for (ValueId member : kernel.with) {
      flops += flopsOf(graph, member);
      traffics += traffic[member];
      const Node& node = graph.node(member);
      members += fmt::format("  + {:<36}{}\n", valueRef(node.name), opLabel(node.op, node.attrs));
    }
    const double gflops = static_cast<double>(flops) / seconds / 1e9;
    const double bytes = static_cast<double>(traffics);
    // The column is there with a peak, empty for kernels without FLOPs.
    const std::string ofPeak =
        peak > 0 ? fmt::format("{:>9}", gflops > 0 ? fmt::format("{:.1f}%", 100 * gflops / peak) : "") : "";
    const Node& node = graph.node(kernel.node);
    text += fmt::format("{:<40}{:<30}{:>10.3f}{:>8.3f}{:>7.1f}%{:>10}{}{:>9.2f}{:>9.1f}\n", valueRef(node.name),
                        opLabel(node.op, node.attrs), seconds * 1e3, kernel.fastest * 1e3, 100.0 * seconds / stepSeconds,
                        gflops > 0 ? fmt::format("{:.1f}", gflops) : "", ofPeak, bytes / (1 << 20),
                        bytes / seconds / 1e9);
    text += members;
  }
  return text;
}

Status bench(const BenchOptions& options) {
  Expected<OptimizationOptions> optimization = chooseOptimization(options.code);
  if (!optimization) return optimization.error();
  const Target& target = optimization->target;
  const bool train = options.mode == "train";
  Expected<ModelGraph> built = importAndBuild(
      options.model, options.batch,
      {train ? GraphKind::TrainStep : GraphKind::Inference, 0, *optimization}, nullptr);
  if (!built) return built.error();
  const Graph& graph = built->compiled.graph;
  auto backend = jitBackend(target, nullptr, options.threads);
  Expected<std::unique_ptr<Executable>> executable = backend(graph);
  if (!executable) return executable.error();
  Bindings<float> weights = initialParameters(built->model, 1);
  addMissingState(graph, weights);
  CNNC_TRY(bindAll(**executable, weights));
  const Bindings<float> batch = randomBatch(built->model);
  Expected<double> warm = timeSteps(**executable, batch, options.warmup);
  if (!warm) return warm.error();
  // Steps per timed run: about half a second each.
  const int64_t steps = std::clamp<int64_t>(static_cast<int64_t>(0.5 / std::max(*warm, 1e-6)), 1, 10000);
  std::vector<double> stepSeconds;
  for (int run = 0; run < options.runs; ++run) {
    Expected<double> seconds = timeSteps(**executable, batch, steps);
    if (!seconds) return seconds.error();
    stepSeconds.push_back(*seconds);
  }
  const double step = median(stepSeconds);
  const double imagesPerSecond = static_cast<double>(options.batch) / step;
  const double gflops = static_cast<double>(flopsOf(graph)) / step / 1e9;
  const double peakFraction = options.peak > 0 ? gflops / options.peak : 0;
  const int threads = options.threads > 0 ? options.threads : static_cast<int>(std::thread::hardware_concurrency());
  if (options.json) {
    fmt::print("{{\"model\": \"{}\", \"mode\": \"{}\", \"batch\": {}, \"threads\": {}, \"target\": \"{}\", "
               "\"images_per_s\": {:.1f}, \"ms_per_step\": {:.4f}, \"gflops\": {:.2f}, \"peak_fraction\": {:.4f}}}\n",
               built->model.name, options.mode, options.batch, threads, target.name, imagesPerSecond,
               step * 1e3, gflops, peakFraction);
  } else {
    fmt::print("{} {} batch {} on {} ({} runs of {} steps after {} warm-up): {:.1f} images/s, {:.3f} ms/step, "
               "{:.1f} GFLOP/s", built->model.name, options.mode, options.batch, target.name, options.runs, steps,
               options.warmup, imagesPerSecond, step * 1e3, gflops);
    const std::string ofPeak =
        options.peak > 0 ? fmt::format(" ({:.1f}% of {:.0f} GFLOP/s peak)", 100 * peakFraction, options.peak) : "";
    fmt::print("{}\n", ofPeak);
  }
  if (options.perOp) {
    (*executable)->startProfiling();
    if (Expected<double> profiled = timeSteps(**executable, batch, steps); !profiled) return profiled.error();
    fmt::print("{}", perOpTable(graph, (*executable)->profile(), step, options.peak));
  }
  return Status::ok();
}

}  // namespace

Command addBenchCommand(CLI::App& parent) {
  auto options = std::make_shared<BenchOptions>();
  CLI::App* app = parent.add_subcommand("bench", "Measure the speed of generated code on random data");
  addModelArgument(*app, options->model);
  app->add_option("--mode", options->mode, "train: whole training steps; infer: inference")
      ->capture_default_str()
      ->check(CLI::IsMember({"train", "infer"}));
  app->add_option("--batch", options->batch, "Batch size")->capture_default_str()->check(atLeast(1));
  app->add_option("--threads", options->threads, "Threads (0: all cores)")->capture_default_str()->check(atLeast(0));
  addCodeOptions(*app, options->code, "Instruction set");
  app->add_option("--runs", options->runs, "Timed runs (the median is reported)")->capture_default_str()->check(atLeast(1));
  // The warm-up steps also time how many steps make a timed run.
  app->add_option("--warmup", options->warmup, "Warm-up steps")->capture_default_str()->check(atLeast(1));
  app->add_option("--peak", options->peak, "The machine's FMA peak in GFLOP/s (bench/cnnc-fma-peak)")
      ->check(atLeast(0));
  CLI::Option* perOp = app->add_flag("--per-op", options->perOp, "Also time every kernel (a table: not with --json)");
  app->add_flag("--json", options->json, "One JSON object instead of text")->excludes(perOp);
  return {app, [options]() -> Status { return bench(*options); }};
}

}  // namespace cnnc

// cnnc bench MODEL.json: the speed of generated code on random data: images
// per second (median of several timed runs after warm-up), milliseconds per
// step, achieved GFLOP/s (convolutions and dense layers), the fraction of a
// given FMA peak, and with --per-op each kernel's share, GFLOP/s and memory
// traffic. With --versus OPTIONS, the same model compiled twice, A with the
// command's options and B with OPTIONS as well, timed in alternating turns.
#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <random>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

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
  std::optional<std::string> versus;  // B's code options, if any
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

// Quantile q of `values` (0.5: the median), between the nearest two.
double quantile(std::vector<double> values, double q) {
  std::sort(values.begin(), values.end());
  const double at = q * static_cast<double>(values.size() - 1);
  const size_t below = static_cast<size_t>(at);
  const double above = below + 1 < values.size() ? values[below + 1] : values[below];
  return values[below] + (at - static_cast<double>(below)) * (above - values[below]);
}
double median(const std::vector<double>& values) { return quantile(values, 0.5); }

// Steps enough to take about `seconds`, at `stepSeconds` a step.
int64_t stepsFor(double seconds, double stepSeconds) {
  return std::clamp<int64_t>(static_cast<int64_t>(seconds / std::max(stepSeconds, 1e-6)), 1, 10000);
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

// The model compiled under `optimization` by `backend` (jitBackend), bound
// to its initial weights, with a random batch, warmed up.
struct Prepared {
  ModelGraph built;
  std::unique_ptr<Executable> executable;
  Bindings<float> batch;
  double warmStep;  // seconds per warm-up step
};

Expected<Prepared> prepare(const BenchOptions& options, const OptimizationOptions& optimization, const Backend& backend) {
  Expected<ModelGraph> built = importAndBuild(
      options.model, options.batch,
      {options.mode == "train" ? GraphKind::TrainStep : GraphKind::Inference, 0, optimization}, nullptr);
  if (!built) return built.error();
  Expected<std::unique_ptr<Executable>> executable = backend(built->compiled.graph);
  if (!executable) return executable.error();
  Bindings<float> weights = initialParameters(built->model, 1);
  addMissingState(built->compiled.graph, weights);
  CNNC_TRY(bindAll(**executable, weights));
  Bindings<float> batch = randomBatch(built->model);
  Expected<double> warm = timeSteps(**executable, batch, options.warmup);
  if (!warm) return warm.error();
  return Prepared{std::move(*built), std::move(*executable), std::move(batch), *warm};
}

// What B runs as: its code options and threads.
struct Variant {
  CodeChoice code;
  int threads;
};

// B: A's options, with those of --versus besides (its --disable-pass and
// --tile add to A's, its --target, --machine, -O and --threads replace
// A's). Whether the text parses is checked with the command line
// (versusCheck), whose error CLI11 prefixes with the option's name.
Expected<Variant> versusVariant(const BenchOptions& a, const std::string& versus) {
  Variant given{{}, 0};
  CLI::App app("B's options", "--versus");
  addCodeOptions(app, given.code);
  // Only a --machine in the text replaces A's: CNNC_MACHINE, if set, is already in A's.
  app.get_option("--machine")->envname("");
  app.add_option("--threads", given.threads)->check(atLeast(0));
  try {
    app.parse(versus, false);
  } catch (const CLI::ParseError& e) {
    return Error{e.what()};
  }
  Variant b{a.code, a.threads};
  if (app.count("--target") > 0) b.code.target = given.code.target;
  if (app.count("--machine") > 0) b.code.machine = given.code.machine;
  if (app.count("-O") > 0) b.code.level = given.code.level;
  if (app.count("--threads") > 0) b.threads = given.threads;
  const CodeChoice& more = given.code;
  b.code.disabledPasses.insert(b.code.disabledPasses.end(), more.disabledPasses.begin(), more.disabledPasses.end());
  b.code.tiles.insert(b.code.tiles.end(), more.tiles.begin(), more.tiles.end());
  return b;
}

// How long one turn of --versus runs: short, so that the two turns of a
// pair meet the same machine (on a shared host, its speed swings by a third
// within seconds), and long enough that a turn's first step, which finds
// the caches holding the other executable's tensors, counts little.
constexpr double kVersusTurnSeconds = 0.1;

// --versus: `runs` pairs of turns of A and B, which goes first alternating
// (AB, BA, AB, ...), each turn the same whole number of steps. Reports each
// one's median ms/step and the median and quartiles of the pairs' B/A: a
// pair's two turns ran moments apart, so their ratio is far steadier than
// either one's time.
Status benchVersus(const BenchOptions& options, Prepared& a, const Backend& backendA) {
  Expected<Variant> variant = versusVariant(options, *options.versus);
  if (!variant) return Error{fmt::format("--versus: {}", variant.error().message)};
  Expected<OptimizationOptions> optimization = chooseOptimization(variant->code);
  if (!optimization) return optimization.error();
  // One thread pool where both run for the same machine on as many threads.
  const bool samePool = variant->code.target == options.code.target && variant->code.machine == options.code.machine &&
                        variant->threads == options.threads;
  const Backend backendB = samePool ? backendA : jitBackend(optimization->target, nullptr, variant->threads);
  Expected<Prepared> b = prepare(options, *optimization, backendB);
  if (!b) return Error{fmt::format("--versus: {}", b.error().message)};
  const int64_t steps = stepsFor(kVersusTurnSeconds, std::max(a.warmStep, b->warmStep));
  std::vector<double> seconds[2], ratios;
  int bFaster = 0;
  Prepared* variants[2] = {&a, &*b};
  for (int pair = 0; pair < options.runs; ++pair) {
    double turn[2] = {0, 0};
    for (int i = 0; i < 2; ++i) {
      const int which = (pair + i) % 2;
      Expected<double> time = timeSteps(*variants[which]->executable, variants[which]->batch, steps);
      if (!time) return time.error();
      turn[which] = *time;
      seconds[which].push_back(*time);
    }
    ratios.push_back(turn[1] / turn[0]);
    bFaster += turn[1] < turn[0] ? 1 : 0;
  }
  const double msA = median(seconds[0]) * 1e3, msB = median(seconds[1]) * 1e3;
  const double ratio = median(ratios), low = quantile(ratios, 0.25), high = quantile(ratios, 0.75);
  const std::string& name = a.built.model.name;
  if (options.json) {
    const nlohmann::ordered_json json = {
        {"model", name}, {"mode", options.mode}, {"batch", options.batch}, {"versus", *options.versus},
        {"pairs", options.runs}, {"steps_per_turn", steps}, {"a_ms_per_step", msA}, {"b_ms_per_step", msB},
        {"b_over_a", ratio}, {"b_over_a_quartiles", {low, high}}, {"b_faster_pairs", bFaster}};
    fmt::print("{}\n", json.dump());
    return Status::ok();
  }
  fmt::print("{} {} batch {}: A (the command's options) against B ({}), {} pairs of turns of {} step{} (AB, BA, ...)\n",
             name, options.mode, options.batch,
             options.versus->empty() ? "the same: the noise" : fmt::format("with {}", *options.versus), options.runs,
             steps, steps == 1 ? "" : "s");
  fmt::print("A {:.3f} ms/step, B {:.3f} ms/step (medians of their turns)\n", msA, msB);
  fmt::print("B/A {:.4f} (median of the pairs' ratios; quartiles {:.4f}-{:.4f}); B faster in {} of {} pairs\n", ratio,
             low, high, bFaster, options.runs);
  return Status::ok();
}

Status bench(const BenchOptions& options) {
  Expected<OptimizationOptions> optimization = chooseOptimization(options.code);
  if (!optimization) return optimization.error();
  const Target& target = optimization->target;
  const Backend backend = jitBackend(target, nullptr, options.threads);
  Expected<Prepared> prepared = prepare(options, *optimization, backend);
  if (!prepared) return prepared.error();
  if (options.versus) return benchVersus(options, *prepared, backend);
  const Graph& graph = prepared->built.compiled.graph;
  Executable& executable = *prepared->executable;
  const Bindings<float>& batch = prepared->batch;
  // Steps per timed run: about half a second each.
  const int64_t steps = stepsFor(0.5, prepared->warmStep);
  std::vector<double> stepSeconds;
  for (int run = 0; run < options.runs; ++run) {
    Expected<double> seconds = timeSteps(executable, batch, steps);
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
               prepared->built.model.name, options.mode, options.batch, threads, target.name, imagesPerSecond,
               step * 1e3, gflops, peakFraction);
  } else {
    fmt::print("{} {} batch {} on {} ({} runs of {} steps after {} warm-up): {:.1f} images/s, {:.3f} ms/step, "
               "{:.1f} GFLOP/s", prepared->built.model.name, options.mode, options.batch, target.name, options.runs, steps,
               options.warmup, imagesPerSecond, step * 1e3, gflops);
    const std::string ofPeak =
        options.peak > 0 ? fmt::format(" ({:.1f}% of {:.0f} GFLOP/s peak)", 100 * peakFraction, options.peak) : "";
    fmt::print("{}\n", ofPeak);
  }
  if (options.perOp) {
    executable.startProfiling();
    if (Expected<double> profiled = timeSteps(executable, batch, steps); !profiled) return profiled.error();
    fmt::print("{}", perOpTable(graph, executable.profile(), step, options.peak));
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
  const CLI::Validator versusCheck(
      [options](std::string& versus) {
        Expected<Variant> variant = versusVariant(*options, versus);
        return variant ? std::string() : variant.error().message;
      },
      "OPTIONS");
  app->add_option("--versus", options->versus,
                  "Options of a B to time against A (this command's options) in alternating turns, --runs "
                  "pairs of them: --disable-pass and --tile besides A's, --target, --machine, -O and --threads "
                  "instead; \"\" times A against itself (the noise)")
      ->excludes(perOp)
      ->check(versusCheck);
  return {app, [options]() -> Status { return bench(*options); }};
}

}  // namespace cnnc

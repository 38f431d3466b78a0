// cnnc train MODEL.json --data DIR: trains on CIFAR-10, printing one
// Keras-style line per epoch, and saves a checkpoint (-o) after each epoch.
#include <charconv>
#include <memory>

#include <fmt/format.h>

#include "frontends/json_loader.h"
#include "runtime/trainer.h"
#include "tools/command_support.h"
#include "tools/commands.h"

namespace cnnc {
namespace {

struct TrainCommandOptions {
  std::string model, data, weights, output;
  BackendChoice backend;
  TrainOptions train;
  int64_t limit = -1;
  int64_t testLimit = -1;
};

// Epochs done, from a checkpoint's metadata, so a resumed run continues the
// epoch numbering and the shuffle sequence.
Expected<int64_t> epochsDone(const WeightsFile& weights, const std::string& path) {
  auto it = weights.metadata.find("epoch");
  if (it == weights.metadata.end()) return int64_t{0};
  const std::string& text = it->second;
  int64_t epoch = -1;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), epoch);
  if (error == std::errc() && end == text.data() + text.size() && epoch >= 0) return epoch;
  return Error{fmt::format("{}: metadata epoch is not a number: {}", path, it->second)};
}

std::string formatEpoch(const EpochReport& report, int64_t lastEpoch) {
  std::string line = fmt::format("Epoch {}/{}\n{}/{} - {:.0f}s - {:.0f}ms/step - loss: {:.4f} - accuracy: {:.4f}",
                                 report.epoch, lastEpoch, report.steps, report.steps, report.seconds,
                                 1000.0 * report.seconds / static_cast<double>(report.steps), report.train.loss,
                                 report.train.accuracy);
  if (report.validation)
    line += fmt::format(" - val_loss: {:.4f} - val_accuracy: {:.4f}", report.validation->loss,
                        report.validation->accuracy);
  return line + "\n";
}

Status runTraining(TrainCommandOptions options) {
  Expected<ChosenBackend> backend = chooseBackend(options.backend);
  if (!backend) return backend.error();
  options.train.optimization = backend->optimization;
  Expected<Model> model = loadModelFile(options.model, options.train.batchSize);
  if (!model) return model.error();
  if (!model->loss || !model->optimizer)
    return Error{fmt::format("{}: training needs a loss and an optimizer", options.model)};
  Expected<WeightsFile> weights = weightsFor(*model, options.weights, options.train.seed);
  if (!weights) return weights.error();
  Expected<int64_t> done = epochsDone(*weights, options.weights);
  if (!done) return done.error();
  options.train.firstEpoch = *done;
  Expected<Dataset> trainSet = cifarFor(*model, options.data, Cifar10Split::Train, options.limit);
  if (!trainSet) return trainSet.error();
  Expected<Dataset> testSet = cifarFor(*model, options.data, Cifar10Split::Test, options.testLimit);
  if (!testSet) return testSet.error();
  const int64_t lastEpoch = options.train.firstEpoch + options.train.epochs;
  return train(*model, weights->values, *trainSet, &*testSet, options.train, backend->backend,
               [&](const EpochReport& report) -> Status {
                 fmt::print("{}", formatEpoch(report, lastEpoch));
                 std::fflush(stdout);
                 if (options.output.empty()) return Status::ok();
                 return saveWeights(options.output, *model, weights->values, {{"epoch", fmt::format("{}", report.epoch)}});
               });
}

}  // namespace

Command addTrainCommand(CLI::App& parent) {
  auto options = std::make_shared<TrainCommandOptions>();
  CLI::App* app = parent.add_subcommand("train", "Train on CIFAR-10 (binary version)");
  addModelArgument(*app, options->model);
  app->add_option("--data", options->data, "CIFAR-10 directory (default: $CNNC_DATA)");
  app->add_option("--epochs", options->train.epochs, "Epochs to train")->capture_default_str()->check(atLeast(1));
  app->add_option("--batch-size", options->train.batchSize, "Images per step")
      ->capture_default_str()
      ->check(atLeast(1));
  app->add_option("--seed", options->train.seed, "Seed of initialisation, shuffling and dropout")->capture_default_str();
  app->add_option("--weights", options->weights, "Start from these weights or resume this checkpoint");
  app->add_option("-o,--output", options->output, "Checkpoint to write after every epoch");
  app->add_option("--limit", options->limit, "Train on the first N training images only")->check(atLeast(1));
  app->add_option("--test-limit", options->testLimit, "Evaluate on the first N test images only")
      ->check(atLeast(1));
  addBackendOptions(*app, options->backend);
  return {app, [options]() -> Status { return runTraining(*options); }};
}

}  // namespace cnnc

// The embedding API (include/cnnc/cnnc.h) as a host program uses it, through
// libcnnc alone: every mistake comes back as a message, and a tiny model
// infers, trains and round-trips its weights.
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <unistd.h>

#include <cnnc/cnnc.h>

namespace {

namespace fs = std::filesystem;
using cnnc::api::Network;
using cnnc::api::Result;
using cnnc::api::Status;

// `filters` varies the shape of conv2d_0.weight between two otherwise equal
// models; `withLoss` false leaves a model that only infers.
std::string tinyModel(int filters = 4, bool withLoss = true) {
  std::string json = R"({
    "format": "cnnc/1", "name": "tiny", "input": {"channels": 3, "height": 8, "width": 8}, "classes": 4,
    "layers": [
      {"op": "conv2d", "filters": )" + std::to_string(filters) + R"(, "kernel_size": 3, "activation": "relu"},
      {"op": "batch_norm"},
      {"op": "max_pool2d", "pool_size": 2},
      {"op": "flatten"},
      {"op": "dense", "units": 4}
    ])";
  if (withLoss) json += R"(, "loss": "softmax_cross_entropy", "optimizer": {"type": "adam", "learning_rate": 0.01})";
  return json + "}";
}
// Passes if `message` contains `expected`, else shows the whole message.
::testing::AssertionResult mentions(const std::string& message, const std::string& expected) {
  if (message.find(expected) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "the message \"" << message << "\" does not mention \"" << expected << "\"";
}

constexpr int64_t kImageSize = 3 * 8 * 8;
constexpr int64_t kBatch = 4;

// A scratch directory per test, removed afterwards.
class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / ("cnnc-api-" + std::string(info->name()) + "-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string file(const std::string& name, const std::string& contents = "") const {
    const std::string path = (dir_ / name).string();
    if (!contents.empty()) std::ofstream(path, std::ios::binary) << contents;
    return path;
  }

  // The tiny model, compiled for kBatch and initialised.
  Network tiny() const {
    Result<Network> net = Network::load(file("tiny.json", tinyModel()), kBatch);
    EXPECT_TRUE(net) << net.message();
    EXPECT_TRUE(net->initWeights(1));
    return std::move(*net);
  }

  fs::path dir_;
};

std::vector<float> randomImages(int64_t count) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> pixel(0.0f, 1.0f);
  std::vector<float> images(static_cast<size_t>(count * kImageSize));
  for (float& v : images) v = pixel(rng);
  return images;
}

TEST_F(ApiTest, MissingModelFileIsAnError) {
  Result<Network> net = Network::load(file("absent.json"), kBatch);
  ASSERT_FALSE(net);
  EXPECT_TRUE(mentions(net.message(), "absent.json: cannot read file"));
}

TEST_F(ApiTest, BadJsonIsAnErrorNamingTheLine) {
  Result<Network> net = Network::load(file("bad.json", "{\n  \"format\": cnnc\n}"), kBatch);
  ASSERT_FALSE(net);
  EXPECT_TRUE(mentions(net.message(), "bad.json:2:"));
}

TEST_F(ApiTest, BadBatchAndTargetAreErrors) {
  Result<Network> noBatch = Network::load(file("tiny.json", tinyModel()), 0);
  ASSERT_FALSE(noBatch);
  EXPECT_TRUE(mentions(noBatch.message(), "the batch size must be at least 1, got 0"));
  Result<Network> noTarget = Network::load(file("tiny.json"), kBatch, "sse2");
  ASSERT_FALSE(noTarget);
  EXPECT_TRUE(mentions(noTarget.message(), "sse2"));
}

TEST_F(ApiTest, WeightsOfAnotherShapeAreRefusedAndKeepTheCurrentOnes) {
  Result<Network> other = Network::load(file("wide.json", tinyModel(8)), kBatch);
  ASSERT_TRUE(other) << other.message();
  ASSERT_TRUE(other->initWeights(2));
  ASSERT_TRUE(other->saveWeights(file("wide.safetensors")));

  Network net = tiny();
  const std::vector<float> images = randomImages(1);
  Result<std::vector<float>> before = net.infer(images.data(), 1);
  ASSERT_TRUE(before) << before.message();
  Status loaded = net.loadWeights(file("wide.safetensors"));
  ASSERT_FALSE(loaded);
  EXPECT_TRUE(
      mentions(loaded.message(), "wide.safetensors: tensor conv2d_0.weight is [8,3,3,3], model tiny needs [4,3,3,3]"));
  Result<std::vector<float>> after = net.infer(images.data(), 1);
  ASSERT_TRUE(after) << after.message();
  EXPECT_EQ(*after, *before);
}

TEST_F(ApiTest, BadCountsLabelsAndMissingWeightsAreErrors) {
  Result<Network> bare = Network::load(file("tiny.json", tinyModel()), kBatch);
  ASSERT_TRUE(bare) << bare.message();
  const std::vector<float> images = randomImages(kBatch);
  EXPECT_TRUE(mentions(bare->infer(images.data(), 1).message(), "no weights: call initWeights or loadWeights"));

  Network net = tiny();
  EXPECT_TRUE(mentions(net.infer(images.data(), 0).message(), "at least one image, got a count of 0"));
  EXPECT_TRUE(mentions(net.infer(nullptr, 1).message(), "no images"));
  const std::vector<int32_t> labels = {0, 1, 2, 3};
  EXPECT_TRUE(mentions(net.trainStep(images.data(), labels.data(), kBatch - 1).message(),
                       "trainStep takes exactly one batch of 4 images, got 3"));
  const std::vector<int32_t> outOfRange = {0, 1, 7, 3};
  EXPECT_TRUE(mentions(net.trainStep(images.data(), outOfRange.data(), kBatch).message(),
                       "label 7 is out of range for 4 classes"));
  const std::vector<int32_t> negative = {0, -1, 2, 3};
  EXPECT_TRUE(mentions(net.trainStep(images.data(), negative.data(), kBatch).message(), "label -1 is out of range"));
}

TEST_F(ApiTest, AModelWithoutLossCannotTrain) {
  Result<Network> net = Network::load(file("infer_only.json", tinyModel(4, false)), kBatch);
  ASSERT_TRUE(net) << net.message();
  ASSERT_TRUE(net->initWeights(1));
  const std::vector<float> images = randomImages(kBatch);
  const std::vector<int32_t> labels = {0, 1, 2, 3};
  EXPECT_TRUE(mentions(net->trainStep(images.data(), labels.data(), kBatch).message(),
                       "model tiny has no loss and optimizer: it cannot be trained"));
}

TEST_F(ApiTest, AMovedFromNetworkReportsErrors) {
  Network net = tiny();
  Network moved = std::move(net);
  const std::vector<float> images = randomImages(1);
  EXPECT_TRUE(mentions(net.infer(images.data(), 1).message(), "moved from"));
  EXPECT_EQ(net.batch(), 0);
  EXPECT_TRUE(moved.infer(images.data(), 1));
}

TEST_F(ApiTest, InferGivesEveryImageItsLogitsWhateverTheCount) {
  Network net = tiny();
  EXPECT_EQ(net.inputShape(), (std::array<int64_t, 3>{3, 8, 8}));
  EXPECT_EQ(net.classes(), 4);
  EXPECT_EQ(net.batch(), kBatch);
  EXPECT_TRUE(net.targetName() == "avx512" || net.targetName() == "avx2") << net.targetName();

  const std::vector<float> images = randomImages(kBatch + 1);  // one full batch, one padded
  Result<std::vector<float>> all = net.infer(images.data(), kBatch + 1);
  ASSERT_TRUE(all) << all.message();
  ASSERT_EQ(all->size(), static_cast<size_t>((kBatch + 1) * 4));
  Result<std::vector<float>> last = net.infer(images.data() + kBatch * kImageSize, 1);
  ASSERT_TRUE(last) << last.message();
  EXPECT_EQ(std::vector<float>(all->end() - 4, all->end()), *last);
}

TEST_F(ApiTest, TrainingLowersTheLossAndCheckpointsRoundTrip) {
  Network net = tiny();
  const std::vector<float> images = randomImages(kBatch);
  const std::vector<int32_t> labels = {0, 1, 2, 3};
  std::vector<float> losses;
  for (int step = 0; step < 3; ++step) {
    Result<float> loss = net.trainStep(images.data(), labels.data(), kBatch);
    ASSERT_TRUE(loss) << loss.message();
    losses.push_back(*loss);
  }
  EXPECT_LT(losses[1], losses[0]);
  EXPECT_LT(losses[2], losses[1]);

  ASSERT_TRUE(net.saveWeights(file("ckpt.safetensors")));
  Network restored = tiny();
  ASSERT_TRUE(restored.loadWeights(file("ckpt.safetensors")));
  Result<std::vector<float>> expected = net.infer(images.data(), kBatch);
  Result<std::vector<float>> actual = restored.infer(images.data(), kBatch);
  ASSERT_TRUE(expected && actual);
  EXPECT_EQ(*actual, *expected);
  // The checkpoint carries the optimizer state: both take the same next step.
  ASSERT_TRUE(net.trainStep(images.data(), labels.data(), kBatch));
  ASSERT_TRUE(restored.trainStep(images.data(), labels.data(), kBatch));
  EXPECT_EQ(*restored.infer(images.data(), kBatch), *net.infer(images.data(), kBatch));
}

}  // namespace

// classify MODEL.json CHECKPOINT.safetensors CIFAR_DIR [COUNT]: the embedding
// API from a host program. Reads the first COUNT (default 1000) images of
// CIFAR-10's test set itself, classifies them with cnnc, and prints a few
// predictions and the accuracy. Any error is one line on stderr, exit 1.
#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <cnnc/cnnc.h>

namespace {

using cnnc::api::Error;
using cnnc::api::Result;

constexpr int64_t kImageBytes = 3 * 32 * 32;  // R, G and B planes of 32x32
constexpr int64_t kTestImages = 10000;
constexpr std::array<const char*, 10> kClassNames = {"airplane", "automobile", "bird",  "cat",  "deer",
                                                     "dog",      "frog",       "horse", "ship", "truck"};

struct Images {
  std::vector<float> pixels;  // [count, 3, 32, 32], pixel / 255
  std::vector<int32_t> labels;
};

// The first `count` records of test_batch.bin: each a label byte, then the
// image's bytes.
Result<Images> readTestImages(const std::string& dir, int64_t count) {
  const std::string path = dir + "/test_batch.bin";
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error{path + ": cannot open"};
  Images images;
  images.pixels.reserve(static_cast<size_t>(count * kImageBytes));
  std::vector<unsigned char> record(1 + kImageBytes);
  for (int64_t i = 0; i < count; ++i) {
    if (!in.read(reinterpret_cast<char*>(record.data()), static_cast<std::streamsize>(record.size())))
      return Error{path + ": ends before image " + std::to_string(i + 1) + " of " + std::to_string(count)};
    if (record[0] >= kClassNames.size())
      return Error{path + ": image " + std::to_string(i + 1) + " has label " + std::to_string(record[0])};
    images.labels.push_back(record[0]);
    for (size_t p = 1; p < record.size(); ++p) images.pixels.push_back(static_cast<float>(record[p]) / 255.0f);
  }
  return images;
}

Result<int64_t> parseCount(const std::string& text) {
  int64_t count = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), count);
  if (error != std::errc() || end != text.data() + text.size() || count < 1 || count > kTestImages)
    return Error{"COUNT must be a number of test images, 1 to " + std::to_string(kTestImages) + ", got " + text};
  return count;
}

int64_t argmax(const float* row, int64_t n) { return std::max_element(row, row + n) - row; }

cnnc::api::Status classify(const std::string& model, const std::string& checkpoint, const std::string& dataDir,
                           int64_t count) {
  Result<cnnc::api::Network> net = cnnc::api::Network::load(model, std::min<int64_t>(count, 100));
  if (!net) return Error{net.message()};
  if (net->inputShape() != std::array<int64_t, 3>{3, 32, 32} || net->classes() != 10)
    return Error{model + ": not a CIFAR-10 model (it must take 3x32x32 images and give 10 classes)"};
  if (cnnc::api::Status loaded = net->loadWeights(checkpoint); !loaded) return loaded;
  std::printf("%s: compiled for %s, %lld images a batch\n", model.c_str(), net->targetName().c_str(),
              static_cast<long long>(net->batch()));
  Result<Images> images = readTestImages(dataDir, count);
  if (!images) return Error{images.message()};
  Result<std::vector<float>> logits = net->infer(images->pixels.data(), count);
  if (!logits) return Error{logits.message()};

  int64_t correct = 0;
  for (int64_t i = 0; i < count; ++i) {
    const int64_t predicted = argmax(logits->data() + i * 10, 10);
    const int32_t label = images->labels[static_cast<size_t>(i)];
    correct += predicted == label;
    if (i < 5)
      std::printf("image %lld: %-10s (label %s)\n", static_cast<long long>(i), kClassNames[predicted],
                  kClassNames[label]);
  }
  std::printf("accuracy %.4f on %lld test images\n", static_cast<double>(correct) / static_cast<double>(count),
              static_cast<long long>(count));
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4 || argc > 5) {
    std::fprintf(stderr, "usage: classify MODEL.json CHECKPOINT.safetensors CIFAR_DIR [COUNT]\n");
    return 2;
  }
  Result<int64_t> count = argc == 5 ? parseCount(argv[4]) : Result<int64_t>(1000);
  if (!count) {
    std::fprintf(stderr, "classify: %s\n", count.message().c_str());
    return 2;
  }
  if (cnnc::api::Status done = classify(argv[1], argv[2], argv[3], *count); !done) {
    std::fprintf(stderr, "classify: %s\n", done.message().c_str());
    return 1;
  }
  return 0;
}

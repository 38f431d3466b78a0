#include "runtime/cifar10.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>
#include <system_error>
#include <utility>

#include <fmt/format.h>

namespace cnnc {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kRecordsPerFile = 10000;
constexpr int64_t kPixelsPerImage = 3 * 32 * 32;
constexpr int64_t kRecordSize = 1 + kPixelsPerImage;  // label byte, then R, G, B planes
constexpr int64_t kFileSize = kRecordsPerFile * kRecordSize;
constexpr unsigned kMaxLabel = 9;
constexpr std::string_view kDataHint =
    "pass --data DIR or set the CNNC_DATA environment variable to the cifar-10-batches-bin directory";

std::vector<std::string> batchFileNames(Cifar10Split split) {
  if (split == Cifar10Split::Test) return {"test_batch.bin"};
  return {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"};
}

// A batch is usable only at its exact size: any other size means a truncated
// download or a different format (e.g. the Python pickles), not fewer images.
Status checkBatchFile(const std::string& file) {
  std::error_code error;
  uintmax_t size = fs::file_size(file, error);
  if (error == std::errc::no_such_file_or_directory) {
    return Error{fmt::format("{}: CIFAR-10 batch file not found; {}", file, kDataHint)};
  }
  if (error) return Error{fmt::format("{}: cannot read file: {}", file, error.message())};
  if (size != static_cast<uintmax_t>(kFileSize)) {
    return Error{fmt::format("{}: corrupt CIFAR-10 batch: expected {} bytes, got {}", file, kFileSize, size)};
  }
  return Status::ok();
}

// The first `records` records of a batch, without reading the rest.
Expected<std::string> readRecords(const std::string& file, int64_t records) {
  std::string bytes(static_cast<size_t>(records * kRecordSize), '\0');
  std::ifstream in(file, std::ios::binary);
  if (!in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()))) {
    return Error{fmt::format("{}: cannot read file: {}", file, std::strerror(errno))};
  }
  return bytes;
}

// Decodes records into images and labels starting at image `first`.
Status decodeRecords(const std::string& file, std::string_view bytes, int64_t first, Dataset& dataset) {
  int64_t records = static_cast<int64_t>(bytes.size()) / kRecordSize;
  for (int64_t record = 0; record < records; ++record) {
    const auto* source = reinterpret_cast<const unsigned char*>(bytes.data() + record * kRecordSize);
    if (source[0] > kMaxLabel) {
      return Error{fmt::format("{}: record {}: label {} out of range 0..{}", file, record, source[0], kMaxLabel)};
    }
    dataset.labels[static_cast<size_t>(first + record)] = source[0];
    float* pixels = dataset.images.data.data() + (first + record) * kPixelsPerImage;
    for (int64_t i = 0; i < kPixelsPerImage; ++i) pixels[i] = static_cast<float>(source[1 + i]) / 255.0f;
  }
  return Status::ok();
}

Status loadBatch(const std::string& file, int64_t records, int64_t first, Dataset& dataset) {
  if (Status valid = checkBatchFile(file); !valid) return valid;
  Expected<std::string> bytes = readRecords(file, records);
  if (!bytes) return bytes.error();
  return decodeRecords(file, *bytes, first, dataset);
}

// Fisher-Yates needs uniform integers below a bound. Rejection sampling
// straight from the engine, rather than std::uniform_int_distribution, whose
// algorithm (and so the order) differs between standard libraries.
uint64_t uniformBelow(std::mt19937_64& engine, uint64_t bound) {
  // Draws below 2^64 mod bound would make the low residues more likely.
  uint64_t threshold = (0 - bound) % bound;
  for (;;) {
    uint64_t draw = engine();
    if (draw >= threshold) return draw % bound;
  }
}

}  // namespace

Expected<Dataset> loadCifar10(const std::string& dir, Cifar10Split split, int64_t limit) {
  if (dir.empty()) return Error{fmt::format("no CIFAR-10 data directory given: {}", kDataHint)};
  std::error_code error;
  if (!fs::is_directory(dir, error)) {
    return Error{fmt::format("{}: CIFAR-10 data directory not found; {}", dir, kDataHint)};
  }
  std::vector<std::string> files = batchFileNames(split);
  int64_t available = static_cast<int64_t>(files.size()) * kRecordsPerFile;
  int64_t total = limit < 0 ? available : std::min(limit, available);
  Dataset dataset{Tensor({total, 3, 32, 32}), std::vector<int32_t>(static_cast<size_t>(total))};
  for (int64_t loaded = 0, file = 0; loaded < total; loaded += kRecordsPerFile, ++file) {
    int64_t records = std::min(kRecordsPerFile, total - loaded);
    Status batch = loadBatch((fs::path(dir) / files[static_cast<size_t>(file)]).string(), records, loaded, dataset);
    if (!batch) return batch.error();
  }
  return dataset;
}

const std::array<std::string_view, 10>& cifar10ClassNames() {
  static constexpr std::array<std::string_view, 10> kNames = {"airplane", "automobile", "bird",  "cat",  "deer",
                                                              "dog",      "frog",       "horse", "ship", "truck"};
  return kNames;
}

std::string resolveDataDir(const std::string& flag) {
  if (!flag.empty()) return flag;
  const char* environment = std::getenv("CNNC_DATA");
  return environment ? environment : "";
}

std::vector<int64_t> shuffledOrder(int64_t n, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> order(static_cast<size_t>(std::max<int64_t>(n, 0)));
  std::iota(order.begin(), order.end(), int64_t{0});
  // seed_seq and mt19937_64 are specified exactly by the standard, so the
  // stream (and the order) is the same everywhere.
  auto epochBits = static_cast<uint64_t>(epoch);
  std::seed_seq seeds{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32), static_cast<uint32_t>(epochBits),
                      static_cast<uint32_t>(epochBits >> 32)};
  std::mt19937_64 engine(seeds);
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[uniformBelow(engine, i)]);
  return order;
}

}  // namespace cnnc

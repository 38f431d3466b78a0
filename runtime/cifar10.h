// The CIFAR-10 binary dataset (model-format.md §4) and the seeded epoch
// order used to train on it.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ir/error.h"
#include "runtime/tensor.h"

namespace cnnc {

struct Dataset {
  Tensor images;                // [N, 3, 32, 32], pixel / 255
  std::vector<int32_t> labels;  // N classes in 0..9
};

enum class Cifar10Split { Train, Test };

// Train: data_batch_1.bin .. data_batch_5.bin in order (50000 images); Test:
// test_batch.bin (10000). A `limit` >= 0 keeps only the first `limit` images,
// and only the records they need are read. Errors name the file; a missing
// directory or file suggests --data DIR or CNNC_DATA.
Expected<Dataset> loadCifar10(const std::string& dir, Cifar10Split split, int64_t limit = -1);

// airplane, automobile, ..., truck: indexed by label.
const std::array<std::string_view, 10>& cifar10ClassNames();

// The data directory: `flag` (from --data) if non-empty, else $CNNC_DATA,
// else "" (the caller reports that no directory was given).
std::string resolveDataDir(const std::string& flag);

// A permutation of 0..n-1 for one epoch: the same for the same (n, seed,
// epoch) on every platform and run, and different from epoch to epoch.
std::vector<int64_t> shuffledOrder(int64_t n, uint64_t seed, int64_t epoch);

}  // namespace cnnc

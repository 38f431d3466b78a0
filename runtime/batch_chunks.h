// How the runtime runs a batch group (ir/batch_group.h): each kernel's
// phases before the one that splits the batch (KernelPhase::images), then
// those phases a chunk of images at a time, each chunk through every
// kernel in turn (the chunks spread across the threads), then each
// kernel's phases after it.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace cnnc {

// A kernel's phase that splits the batch: its tasks, over `images` images.
struct BatchSplit {
  int64_t tasks, images;
};

// The most chunks the batch can run in through kernels whose phases
// `splits` split it: chunk c is images [c * N / chunks, (c + 1) * N /
// chunks), which must be whole tasks of each. 0 where the kernels disagree
// on the batch, or fewer than two chunks would do.
int64_t batchChunks(const std::vector<BatchSplit>& splits);

// The tasks [begin, end) of chunk `chunk` of `chunks` of a phase of `tasks`.
inline std::pair<int64_t, int64_t> chunkTasks(int64_t tasks, int64_t chunks, int64_t chunk) {
  return {chunk * tasks / chunks, (chunk + 1) * tasks / chunks};
}

}  // namespace cnnc

#include "runtime/batch_chunks.h"

#include <numeric>

namespace cnnc {

int64_t batchChunks(const std::vector<BatchSplit>& splits) {
  if (splits.empty()) return 0;
  const int64_t images = splits.front().images;
  // Chunks divide the batch, and the tasks of a phase whose tasks are
  // several images each (the parts of a filter gradient): a phase of a
  // task or more per image splits at any image.
  int64_t chunks = images;
  for (const BatchSplit& split : splits) {
    if (split.images != images || split.tasks <= 0) return 0;
    if (split.tasks % images != 0) chunks = std::gcd(chunks, split.tasks);
  }
  // KernelPhase splits evenly: where tasks do not divide the batch, the
  // batch divides them, and the gcd above is theirs.
  return chunks >= 2 ? chunks : 0;
}

}  // namespace cnnc

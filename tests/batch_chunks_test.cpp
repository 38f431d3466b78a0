// The chunks in which the runtime runs a batch group (runtime/batch_chunks.h):
// every chunk is the same images for each kernel of the group, and the
// chunks cover each kernel's tasks once.
#include <gtest/gtest.h>

#include "runtime/batch_chunks.h"

namespace cnnc {
namespace {

// The images [first, end) that tasks [begin, end) of a phase splitting
// `images` images into `tasks` cover (KernelPhase).
std::pair<int64_t, int64_t> imagesOfTasks(const BatchSplit& split, int64_t begin, int64_t end) {
  if (split.tasks % split.images == 0) {
    const int64_t perImage = split.tasks / split.images;
    return {begin / perImage, (end + perImage - 1) / perImage};
  }
  const int64_t perTask = split.images / split.tasks;
  return {begin * perTask, end * perTask};
}

TEST(BatchChunks, AsManyAsEveryKernelSplitsEvenly) {
  // ResNet's block1 group at batch 128: a batch norm's data gradient (a
  // task per image), a filter gradient in 8 parts, a data gradient.
  EXPECT_EQ(batchChunks({{128, 128}, {8, 128}, {128, 128}}), 8);
  EXPECT_EQ(batchChunks({{256, 128}, {128, 128}}), 128);
  EXPECT_EQ(batchChunks({{5, 5}, {10, 5}}), 5);
  EXPECT_EQ(batchChunks({{8, 128}, {32, 128}, {4, 128}}), 4);
  // None: fewer than two chunks, or kernels of different batches.
  EXPECT_EQ(batchChunks({{1, 128}, {128, 128}}), 0);
  EXPECT_EQ(batchChunks({{128, 128}, {64, 64}}), 0);
  EXPECT_EQ(batchChunks({}), 0);
}

TEST(BatchChunks, EachChunkIsTheSameImagesInEveryKernel) {
  for (int64_t images : {2, 5, 12, 32, 128})
    for (int64_t a = 1; a <= 3 * images; ++a)
      for (int64_t b = 1; b <= 3 * images; ++b) {
        // Only even splits (KernelPhase): a multiple or a divisor of the batch.
        auto even = [&](int64_t tasks) { return tasks % images == 0 || images % tasks == 0; };
        if (!even(a) || !even(b)) continue;
        const std::vector<BatchSplit> splits = {{a, images}, {b, images}};
        const int64_t chunks = batchChunks(splits);
        if (chunks == 0) continue;
        SCOPED_TRACE(testing::Message() << images << " images, " << a << " and " << b << " tasks, " << chunks);
        ASSERT_EQ(images % chunks, 0);
        for (const BatchSplit& split : splits) {
          int64_t next = 0;
          for (int64_t chunk = 0; chunk < chunks; ++chunk) {
            const auto [begin, end] = chunkTasks(split.tasks, chunks, chunk);
            EXPECT_EQ(begin, next);
            next = end;
            const std::pair<int64_t, int64_t> expected{chunk * images / chunks, (chunk + 1) * images / chunks};
            EXPECT_EQ(imagesOfTasks(split, begin, end), expected);
          }
          EXPECT_EQ(next, split.tasks);
        }
      }
}

}  // namespace
}  // namespace cnnc

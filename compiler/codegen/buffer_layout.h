// Where each value of a graph lives in the executable's single arena: a byte
// offset per value, 64-byte aligned (a cache line, and an AVX-512 vector).
// Every value gets its own buffer for now; memory planning that reuses
// buffers by liveness replaces this.
#pragma once

#include <cstdint>
#include <vector>

#include "ir/graph.h"

namespace cnnc {

struct BufferLayout {
  std::vector<int64_t> offsets;  // by ValueId, in bytes
  int64_t arenaBytes = 0;
};

BufferLayout layoutBuffers(const Graph& graph);

}  // namespace cnnc

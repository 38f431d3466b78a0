#include "compiler/codegen/buffer_layout.h"

namespace cnnc {

BufferLayout layoutBuffers(const Graph& graph) {
  constexpr int64_t kAlignment = 64;
  BufferLayout layout;
  for (const Node& node : graph.nodes()) {
    layout.offsets.push_back(layout.arenaBytes);
    // The verifier has checked that sizes fit in 64 bits.
    const int64_t bytes = *byteSize(node.type);
    layout.arenaBytes += (bytes + kAlignment - 1) / kAlignment * kAlignment;
  }
  return layout;
}

}  // namespace cnnc

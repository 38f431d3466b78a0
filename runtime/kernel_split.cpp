#include "runtime/kernel_split.h"

#include "compiler/flops.h"

namespace cnnc {
namespace {

// Below both, a kernel runs in about 10 microseconds or less on one core of
// the development machine (memory traffic at some 25 GB/s, multiply-adds at
// some 100 GFLOP/s): splitting it would save less than it costs.
constexpr int64_t kMinBytes = int64_t{256} << 10;
constexpr int64_t kMinFlops = int64_t{1} << 20;

}  // namespace

bool worthSplitting(const Graph& graph, ValueId id, int64_t tasks) {
  if (tasks < 2) return false;
  const Node& node = graph.node(id);
  int64_t bytes = *byteSize(node.type);  // the verifier has checked every size fits
  for (ValueId operand : node.operands) bytes += *byteSize(graph.node(operand).type);
  return bytes >= kMinBytes || flopsOf(graph, id) >= kMinFlops;
}

}  // namespace cnnc

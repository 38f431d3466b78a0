#include "ir/fused_pooling.h"

#include <algorithm>

#include "ir/kernel_results.h"

namespace cnnc {

bool poolingFusesInto(const Node& conv, ValueId convId, const Node& pool) {
  if (conv.op != Op::Conv2D || conv.type.layout == Layout::Plain) return false;
  if ((pool.op != Op::MaxPool2D && pool.op != Op::AvgPool2D) || pool.operands[0] != convId) return false;
  const IntList pads = getInts(pool.attrs, "pads").value_or(IntList{});
  return getInts(pool.attrs, "window") == getInts(pool.attrs, "strides") &&
         std::all_of(pads.begin(), pads.end(), [](int64_t pad) { return pad == 0; });
}

int64_t poolRowStride(const Node& pool) { return (*getInts(pool.attrs, "strides"))[0]; }

std::optional<ValueId> fusedPooling(const Graph& graph, const Node& node) {
  return valueNamedBy(graph, node, kPoolAttr);
}

Status verifyFusedPooling(const Graph& graph) {
  return verifyNamedValues(graph, kPoolAttr, poolingFusesInto,
                           "a max_pool2d or avg_pool2d of its blocked result whose windows tile it (window = strides, "
                           "no padding)");
}

}  // namespace cnnc

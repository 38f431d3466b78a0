#include "compiler/traffic.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "ir/fused_residual.h"
#include "ir/inlined_norm.h"
#include "ir/kernel_results.h"
#include "ir/layout.h"

namespace cnnc {
namespace {

constexpr int64_t kCacheLineBytes = 64;

// A window over one axis of a read input: `outputs` positions `stride`
// apart, each reading `taps` neighbours from `pad` before it.
struct AxisWindow {
  int64_t outputs, taps, stride, pad;
  // For each position of an input axis of `extent`, whether an output reads it.
  std::vector<bool> touched(int64_t extent) const {
    std::vector<bool> read(static_cast<size_t>(extent), false);
    for (int64_t o = 0; o < outputs; ++o)
      for (int64_t k = 0; k < taps; ++k)
        if (const int64_t i = o * stride - pad + k; i >= 0 && i < extent) read[static_cast<size_t>(i)] = true;
    return read;
  }
};

// The rows and columns of `node`'s input (operand 0) that a window reads:
// a convolution's, a filter gradient's, a pooling's; none for other ops.
std::optional<std::pair<AxisWindow, AxisWindow>> inputWindow(const Graph& graph, const Node& node) {
  std::optional<IntList> window;
  const std::vector<int64_t>* out = &node.type.dims;
  switch (node.op) {
    case Op::Conv2D: {
      const std::vector<int64_t>& w = graph.node(node.operands[1]).type.dims;
      window = IntList{w[2], w[3]};
      break;
    }
    case Op::Conv2DBackwardFilter:
      window = getInts(node.attrs, "kernel");
      out = &graph.node(node.operands[1]).type.dims;
      break;
    case Op::MaxPool2D:
    case Op::AvgPool2D:
      window = getInts(node.attrs, "window");
      break;
    default:
      return std::nullopt;
  }
  const IntList strides = getInts(node.attrs, "strides").value_or(IntList{1, 1});
  const IntList pads = getInts(node.attrs, "pads").value_or(IntList{0, 0, 0, 0});
  if (!window || out->size() != 4) return std::nullopt;
  return std::pair{AxisWindow{(*out)[2], (*window)[0], strides[0], pads[0]},
                   AxisWindow{(*out)[3], (*window)[1], strides[1], pads[1]}};
}

// The share of `value`'s bytes that `reader` touches: the cache lines of
// the rows its window reads, of the columns it reads, or all of them.
double touchedShare(const Graph& graph, const Node& reader, ValueId value) {
  const TensorType& type = graph.node(value).type;
  if (reader.operands.empty() || reader.operands[0] != value || type.dims.size() != 4) return 1;
  const std::optional<std::pair<AxisWindow, AxisWindow>> window = inputWindow(graph, reader);
  if (!window) return 1;
  const std::vector<bool> rows = window->first.touched(type.dims[2]);
  const std::vector<bool> columns = window->second.touched(type.dims[3]);
  // A column's bytes within a row: one element, or a block of channels.
  const int64_t columnBytes = dtypeBits(type.dtype) * layoutBlock(type.layout) / 8;
  std::set<int64_t> lines;
  for (size_t c = 0; c < columns.size(); ++c)
    if (columns[c]) {
      const int64_t first = static_cast<int64_t>(c) * columnBytes;
      for (int64_t line = first / kCacheLineBytes; line <= (first + columnBytes - 1) / kCacheLineBytes; ++line)
        lines.insert(line);
    }
  const int64_t rowLines = (type.dims[3] * columnBytes + kCacheLineBytes - 1) / kCacheLineBytes;
  const auto readRows = std::count(rows.begin(), rows.end(), true);
  return static_cast<double>(readRows) / static_cast<double>(rows.size()) * static_cast<double>(lines.size()) /
         static_cast<double>(rowLines);
}

}  // namespace

std::vector<int64_t> kernelTraffic(const Graph& graph) {
  const std::vector<ValueId> computing = computingKernels(graph);
  // Per kernel, the share of each value it reads (the most that any of its
  // nodes touches) and the values it writes.
  std::vector<std::map<ValueId, double>> reads(graph.size());
  std::vector<std::set<ValueId>> writes(graph.size());
  for (ValueId id = 0; id < graph.size(); ++id) {
    const Node& node = graph.node(id);
    if (isLeaf(node.op) || isInlined(node)) continue;
    const ValueId kernel = computing[id];
    if (fusedResidualNorm(graph, graph.node(kernel)) != id) writes[kernel].insert(id);
    for (ValueId read : kernelReads(graph, node)) {
      double& share = reads[kernel][read];
      share = std::max(share, touchedShare(graph, node, read));
    }
  }
  std::vector<int64_t> traffic(graph.size(), 0);
  for (ValueId kernel = 0; kernel < graph.size(); ++kernel) {
    double bytes = 0;
    for (const auto& [value, share] : reads[kernel])
      if (computing[value] != kernel) bytes += share * static_cast<double>(*byteSize(graph.node(value).type));
    for (ValueId value : writes[kernel]) bytes += static_cast<double>(*byteSize(graph.node(value).type));
    traffic[kernel] = static_cast<int64_t>(bytes);
  }
  return traffic;
}

}  // namespace cnnc

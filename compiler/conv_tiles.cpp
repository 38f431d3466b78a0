#include "compiler/conv_tiles.h"

#include <algorithm>
#include <charconv>
#include <functional>
#include <map>
#include <numeric>
#include <optional>
#include <tuple>

#include <fmt/format.h>

#include "compiler/column_runs.h"
#include "compiler/graph_rebuilder.h"
#include "compiler/passes.h"
#include "ir/layout.h"
#include "ir/printer.h"

namespace cnnc {
namespace {

// Tasks enough to keep a few cores busy with even shares.
constexpr int64_t kEnoughTasks = 8;

// Vector registers left for accumulators, beside the few that hold filter
// (or gradient) vectors and the broadcast input.
int64_t accumulatorBudget(const Target& target) { return target.vectorRegisters - 4; }

int64_t blockOf(const Graph& graph, ValueId id) { return layoutBlock(graph.node(id).type.layout); }

// The dimensions every tile rule needs: output blocks, input channels and
// their block, filter size, output rows and columns, input rows and
// columns, strides and the top and left pads.
struct ConvShape {
  int64_t blocks, channels, inputBlock, kh, kw, batch, rows, columns, inputRows, inputColumns;
  int64_t strideH, strideW, padTop, padLeft;
};

ConvShape shapeOf(const Graph& graph, const Node& node) {
  // The filter (forward) or the output gradient (filter gradient) carries the block.
  const int64_t b = blockOf(graph, node.operands[1]);
  const std::vector<int64_t>& out = node.op == Op::Conv2D ? node.type.dims : graph.node(node.operands[1]).type.dims;
  const std::vector<int64_t>& w = node.op == Op::Conv2D ? graph.node(node.operands[1]).type.dims : node.type.dims;
  const std::vector<int64_t>& x = graph.node(node.operands[0]).type.dims;
  const IntList strides = getInts(node.attrs, "strides").value_or(IntList{1, 1});
  const IntList pads = getInts(node.attrs, "pads").value_or(IntList{0, 0, 0, 0});
  return {w[0] / b, w[1], blockOf(graph, node.operands[0]), w[2], w[3], out[0], out[2], out[3], x[2], x[3],
          strides[0], strides[1], pads[0], pads[1]};
}

// A chain of dependent FMAs (an accumulator's, one FMA per tap of its
// column) advances about one FMA every 6 cycles, not every 4 (the FMA
// latency): measured on the seed model's max_pool2d_3.grad (6x6 outputs,
// pads 2) on one thread, whose 12 accumulators of one row ran at 0.69 of
// the speed of 24 in two rows, as 4 / 6 predicts.
constexpr double kChainCycles = 6;

// What a register block of FB filter blocks x R rows x runs of at most
// `run` columns costs over its R rows, per input channel and filter row
// that all R read inside the image: cycles on a core that issues two FMAs
// and two loads a cycle, FMAs, and loads (FB x kw filter vectors a run, an
// input per row and input column read).
struct BlockCost {
  double cycles = 0, fmas = 0, loads = 0;
  BlockCost& operator+=(const BlockCost& other) {
    cycles += other.cycles, fmas += other.fmas, loads += other.loads;
    return *this;
  }
};

BlockCost blockCost(const ConvShape& s, int64_t FB, int64_t R, int64_t run) {
  const ColumnAxis axis{s.columns, s.inputColumns, s.kw, s.strideW, s.padLeft};
  BlockCost total;
  for (const RunShape& shape : columnRuns(axis, run)) {
    std::vector<int64_t> taps(static_cast<size_t>(shape.count));
    double inputs = 0;
    for (int64_t offset = shape.inputLo; offset < shape.inputHi; ++offset) {
      const std::vector<std::pair<int64_t, int64_t>> readers = readersOf(axis, offset, shape.count);
      inputs += readers.empty() ? 0 : 1;
      for (const auto& [column, tap] : readers) ++taps[static_cast<size_t>(column)];
    }
    BlockCost cost;
    cost.fmas = static_cast<double>(FB * R * std::accumulate(taps.begin(), taps.end(), int64_t{0}));
    cost.loads = static_cast<double>(FB * s.kw) + static_cast<double>(R) * inputs;
    const double chain = kChainCycles * static_cast<double>(*std::max_element(taps.begin(), taps.end()));
    cost.cycles = std::max({cost.fmas / 2, cost.loads / 2, chain});
    total += cost;
  }
  return total;
}

// The cost of one image's output rows in blocks of R rows (the rows left
// over one by one), per input channel: each block passes over every filter
// row with the block's rows that read inside the image.
BlockCost imageCost(const ConvShape& s, int64_t FB, int64_t R, int64_t run) {
  BlockCost total;
  auto block = [&](int64_t oh, int64_t rows) {
    for (int64_t i = 0; i < s.kh; ++i) {
      int64_t inside = 0;
      for (int64_t q = 0; q < rows; ++q) {
        const int64_t ih = (oh + q) * s.strideH - s.padTop + i;
        inside += ih >= 0 && ih < s.inputRows ? 1 : 0;
      }
      if (inside > 0) total += blockCost(s, FB, inside, run);
    }
  };
  const int64_t full = s.rows / R * R;
  for (int64_t oh = 0; oh < full; oh += R) block(oh, R);
  for (int64_t oh = full; oh < s.rows; ++oh) block(oh, 1);
  return total;
}

// Register blocks of more rows add loops (one per set of the rows that
// read inside the image) for little gain.
constexpr int64_t kMaxBlockRows = 4;

ForwardTile defaultForwardTile(const ConvShape& s, const Target& target) {
  // Among the register blocks that fit, the one that keeps the FMA units
  // busiest, then the fewest loads per FMA, then the fewest rows (less
  // code), then the most filter blocks.
  ForwardTile best{1, 1, 0, 0, 1};
  std::tuple<double, double, int64_t, int64_t> bestScore{0, 0, 0, 0};
  for (int64_t filterBlocks : {4, 2, 1}) {
    if (s.blocks % filterBlocks != 0) continue;
    for (int64_t R = 1; R <= std::min(s.rows, kMaxBlockRows); ++R) {
      // Registers hold the accumulators, every tap's filter vectors, the
      // broadcast input and one spare: without it LLVM spills an
      // accumulator on AVX2.
      const int64_t run = std::min(s.columns, (target.vectorRegisters - 2 - filterBlocks * s.kw) / (filterBlocks * R));
      if (run < 1) break;
      const BlockCost cost = imageCost(s, filterBlocks, R, run);
      const std::tuple<double, double, int64_t, int64_t> score{cost.fmas / 2 / cost.cycles, -cost.loads / cost.fmas, -R,
                                                               filterBlocks};
      if (score > bestScore) best = {filterBlocks, run, 0, 0, R}, bestScore = score;
    }
  }
  // The filter slice of one pass (its channels, all taps, the register
  // block's output channels) fits half of L1, beside the input rows.
  const int64_t bytesPerChannel = best.filterBlocks * target.vectorWidth * s.kh * s.kw * 4;
  const int64_t fitting = std::max<int64_t>(1, target.l1Bytes / 2 / bytesPerChannel);
  const int64_t chunkBlocks = largestDivisorUpTo(s.channels / s.inputBlock, std::max<int64_t>(1, fitting / s.inputBlock));
  best.channelChunk = chunkBlocks * s.inputBlock;
  // Rows per task: tasks enough, in whole register blocks.
  const int64_t tasks = s.batch * (s.blocks / best.filterBlocks);
  const int64_t rowSplits = std::min(s.rows, (kEnoughTasks + tasks - 1) / tasks);
  const int64_t rows = (s.rows + rowSplits - 1) / rowSplits;
  best.rows = std::min(s.rows, (rows + best.blockRows - 1) / best.blockRows * best.blockRows);
  return best;
}

FilterGradientTile defaultFilterGradientTile(const ConvShape& s, const Target& target) {
  // Channels of a register block lie in one block of the input. Among the
  // blocks that fit, the most FMAs per load: FB x CB of them for FB + CB loads.
  const int64_t channelLimit = std::gcd(s.channels, s.inputBlock == 1 ? s.channels : s.inputBlock);
  // Two tasks at least, so that the work splits at all, then the most FMAs
  // per load: on the first layer (3 channels, few tasks) FMAs per load
  // matter more than even shares (measured: 0.68 ms with 2 filter blocks in
  // 3 tasks, 0.87 ms with 1 in 6).
  auto score = [&](const FilterGradientTile& t) {
    const int64_t tasks = (s.blocks / t.filterBlocks) * (s.channels / t.channels) * s.kh;
    const double ratio = static_cast<double>(t.filterBlocks * t.channels) / static_cast<double>(t.filterBlocks + t.channels);
    return std::pair<int64_t, double>{std::min<int64_t>(tasks, 2), ratio};
  };
  std::optional<FilterGradientTile> best;
  for (int64_t filterBlocks : {4, 2, 1}) {
    if (s.blocks % filterBlocks != 0) continue;
    const int64_t channels = largestDivisorUpTo(channelLimit, std::max<int64_t>(1, accumulatorBudget(target) / filterBlocks));
    const FilterGradientTile candidate{filterBlocks, channels, 1};
    if (!best || score(candidate) > score(*best)) best = candidate;
  }
  // The images of one pass: their output-gradient rows of the register
  // block's channels, and the input rows, fit half of L1.
  const int64_t dyBytes = best->filterBlocks * target.vectorWidth * s.rows * s.columns * 4;
  const int64_t xBytes = s.inputRows * s.inputColumns * (s.inputBlock == 1 ? best->channels * 4 : 64);
  best->images = largestDivisorUpTo(s.batch, std::max<int64_t>(1, target.l1Bytes / 2 / (dyBytes + xBytes)));
  return *best;
}

std::optional<IntList> tileAttribute(const Node& node) { return getInts(node.attrs, "tile"); }

}  // namespace

int64_t largestDivisorUpTo(int64_t extent, int64_t limit) {
  for (int64_t d = std::min(extent, limit); d > 1; --d)
    if (extent % d == 0) return d;
  return 1;
}

bool isTiledConvolution(const Node& node) {
  return (node.op == Op::Conv2D || node.op == Op::Conv2DBackwardFilter) && node.type.layout != Layout::Plain;
}

ForwardTile forwardTile(const Graph& graph, const Node& node, const Target& target) {
  if (std::optional<IntList> tile = tileAttribute(node)) return {(*tile)[0], (*tile)[1], (*tile)[2], (*tile)[3], (*tile)[4]};
  return defaultForwardTile(shapeOf(graph, node), target);
}

FilterGradientTile filterGradientTile(const Graph& graph, const Node& node, const Target& target) {
  if (std::optional<IntList> tile = tileAttribute(node)) return {(*tile)[0], (*tile)[1], (*tile)[2]};
  return defaultFilterGradientTile(shapeOf(graph, node), target);
}

Status checkTile(const Graph& graph, const Node& node, const IntList& tile) {
  if (!isTiledConvolution(node))
    return Error{fmt::format("{} ({}) takes no tile: only blocked conv2d and conv2d_bwd_filter do", valueRef(node.name),
                             mnemonic(node.op))};
  const ConvShape s = shapeOf(graph, node);
  const bool forward = node.op == Op::Conv2D;
  const size_t arity = forward ? 5 : 3;
  auto bad = [&](const std::string& why) {
    return Error{fmt::format("tile {} of {} {}: {}", toString(Attribute(tile)), mnemonic(node.op),
                             valueRef(node.name), why)};
  };
  if (tile.size() != arity)
    return bad(forward ? "expected [filter blocks, columns, channel chunk, rows, block rows]"
                       : "expected [filter blocks, channels, images]");
  if (std::any_of(tile.begin(), tile.end(), [](int64_t v) { return v < 1; })) return bad("every entry must be positive");
  if (s.blocks % tile[0] != 0) return bad(fmt::format("filter blocks must divide the {} output blocks", s.blocks));
  if (forward) {
    if (s.channels % tile[2] != 0 || tile[2] % s.inputBlock != 0)
      return bad(fmt::format("the channel chunk must divide the {} input channels in whole blocks of {}", s.channels,
                             s.inputBlock));
    return Status::ok();
  }
  const int64_t channelLimit = std::gcd(s.channels, s.inputBlock == 1 ? s.channels : s.inputBlock);
  if (channelLimit % tile[1] != 0) return bad(fmt::format("channels must divide {}", channelLimit));
  if (s.batch % tile[2] != 0) return bad(fmt::format("images must divide the batch of {}", s.batch));
  return Status::ok();
}

namespace {

// A copy of `graph` with the tile of every node that `tileOf` gives one.
Expected<Graph> withTiles(const Graph& graph, const std::function<std::optional<IntList>(const Node&)>& tileOf) {
  GraphRebuilder rebuilder(graph);
  for (ValueId id = 0; id < graph.size(); ++id) {
    Node node = graph.node(id);
    for (ValueId& operand : node.operands) operand = rebuilder.mapped(operand);
    if (std::optional<IntList> tile = tileOf(graph.node(id))) node.attrs["tile"] = *tile;
    Expected<ValueId> now = rebuilder.out().addUnchecked(std::move(node));
    if (!now) return now.error();
    rebuilder.setMapped(id, *now);
  }
  return rebuilder.finish(graph.outputs());
}

IntList asList(const ForwardTile& t) { return {t.filterBlocks, t.run, t.channelChunk, t.rows, t.blockRows}; }
IntList asList(const FilterGradientTile& t) { return {t.filterBlocks, t.channels, t.images}; }

}  // namespace

Status chooseTiles(Graph& graph, const PassContext& context) {
  Expected<Graph> overridden = overrideTiles(graph, context.tileOverrides);
  if (!overridden) return overridden.error();
  graph = std::move(*overridden);
  Expected<Graph> tiled = withTiles(graph, [&](const Node& node) -> std::optional<IntList> {
    if (!isTiledConvolution(node) || tileAttribute(node)) return std::nullopt;
    return node.op == Op::Conv2D ? asList(forwardTile(graph, node, context.target))
                                 : asList(filterGradientTile(graph, node, context.target));
  });
  if (!tiled) return tiled.error();
  graph = std::move(*tiled);
  return Status::ok();
}

Expected<Graph> overrideTiles(const Graph& graph, const std::vector<std::string>& overrides) {
  std::map<ValueId, IntList> tiles;
  for (const std::string& text : overrides) {
    const size_t equals = text.rfind('=');
    auto bad = [&](const std::string& why) { return Error{fmt::format("--tile {}: {}", text, why)}; };
    if (equals == std::string::npos) return bad("expected NAME=a,b,...");
    const std::string name = text.substr(0, equals);
    std::optional<ValueId> id = graph.lookup(name);
    if (!id) return bad(fmt::format("the graph has no value {}", valueRef(name)));
    IntList tile;
    std::string_view rest = std::string_view(text).substr(equals + 1);
    while (true) {
      int64_t value = 0;
      auto [end, error] = std::from_chars(rest.data(), rest.data() + rest.size(), value);
      if (error != std::errc()) return bad("expected integers separated by commas after '='");
      tile.push_back(value);
      rest.remove_prefix(static_cast<size_t>(end - rest.data()));
      if (rest.empty()) break;
      if (rest.front() != ',') return bad("expected integers separated by commas after '='");
      rest.remove_prefix(1);
    }
    CNNC_TRY(checkTile(graph, graph.node(*id), tile));
    tiles[*id] = tile;
  }
  return withTiles(graph, [&](const Node& node) -> std::optional<IntList> {
    auto it = tiles.find(*graph.lookup(node.name));
    return it == tiles.end() ? std::nullopt : std::optional<IntList>(it->second);
  });
}

}  // namespace cnnc

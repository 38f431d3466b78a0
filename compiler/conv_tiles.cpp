#include "compiler/conv_tiles.h"

#include <algorithm>
#include <charconv>
#include <functional>
#include <map>
#include <numeric>
#include <optional>

#include <fmt/format.h>

#include "compiler/graph_rebuilder.h"
#include "compiler/passes.h"
#include "ir/layout.h"
#include "ir/printer.h"

namespace cnnc {
namespace {

// Tasks enough to keep a few cores busy with even shares.
constexpr int64_t kEnoughTasks = 8;

int64_t blockOf(const Graph& graph, ValueId id) { return layoutBlock(graph.node(id).type.layout); }

// The dimensions every tile rule needs: output blocks, input channels and
// their block, filter size, batch, output rows and columns, input columns.
struct ConvShape {
  int64_t blocks, channels, inputBlock, kh, kw, batch, rows, columns, inputColumns;
};

ConvShape shapeOf(const Graph& graph, const Node& node) {
  // The filter (forward) or the output gradient (filter gradient) carries the block.
  const int64_t b = blockOf(graph, node.operands[1]);
  const std::vector<int64_t>& out = node.op == Op::Conv2D ? node.type.dims : graph.node(node.operands[1]).type.dims;
  const std::vector<int64_t>& w = node.op == Op::Conv2D ? graph.node(node.operands[1]).type.dims : node.type.dims;
  const std::vector<int64_t>& x = graph.node(node.operands[0]).type.dims;
  return {w[0] / b, w[1], blockOf(graph, node.operands[0]), w[2], w[3], out[0], out[2], out[3], x[3]};
}

ForwardTile defaultForwardTile(const ConvShape& s, const Target& target) {
  // Narrow images leave few columns per register block: more filter blocks.
  const int64_t wanted = s.columns <= 6 && target.vectorWidth == 16 ? 4 : 2;
  const int64_t filterBlocks = s.blocks % wanted == 0 ? wanted : 1;
  const int64_t run = std::max<int64_t>(1, target.accumulatorRegisters() / filterBlocks);
  // The filter slice of one pass (its channels, all taps, the register
  // block's output channels) fits half of L1, beside the input rows.
  const int64_t bytesPerChannel = filterBlocks * target.vectorWidth * s.kh * s.kw * 4;
  const int64_t fitting = std::max<int64_t>(1, target.l1Bytes / 2 / bytesPerChannel);
  const int64_t chunkBlocks = largestDivisorUpTo(s.channels / s.inputBlock, std::max<int64_t>(1, fitting / s.inputBlock));
  const int64_t tasks = s.batch * (s.blocks / filterBlocks);
  const int64_t rowSplits = std::min(s.rows, (kEnoughTasks + tasks - 1) / tasks);
  return {filterBlocks, run, chunkBlocks * s.inputBlock, (s.rows + rowSplits - 1) / rowSplits};
}

// How fast a register block of `fmas` independent accumulators can run,
// in FMAs per cycle, when each step loads `loads` vectors or broadcasts: a
// rough model of a core with two FMA ports of four cycles' latency and
// three load ports. It only ranks tiles.
double fmaRate(int64_t fmas, int64_t loads) {
  const double f = static_cast<double>(fmas);
  return std::min({2.0, f / 4.0, 3.0 * f / static_cast<double>(loads)});
}

// The share of the cores' time that `tasks` equal tasks keep busy.
double balance(int64_t tasks, int64_t cores) {
  const int64_t rounds = (tasks + cores - 1) / cores;
  return static_cast<double>(tasks) / static_cast<double>(rounds * cores);
}

FilterGradientTile defaultFilterGradientTile(const ConvShape& s, const Target& target) {
  // Channels of a register block lie in one block of the input. Per output
  // position a register block loads FB gradient vectors and broadcasts CB x
  // JB inputs for FB x CB x JB FMAs; tasks are (FB blocks, a slice of
  // channels), at most one per register block's channels. Of the blocks that
  // fit, the fastest once spread over the cores, then the most FMAs per load.
  const int64_t channelLimit = std::gcd(s.channels, s.inputBlock == 1 ? s.channels : s.inputBlock);
  auto score = [&](const FilterGradientTile& t) {
    const int64_t fmas = t.filterBlocks * t.channels * t.taps, loads = t.filterBlocks + t.channels * t.taps;
    const int64_t tasks = (s.blocks / t.filterBlocks) * (s.channels / t.channels);
    return std::pair<double, double>{fmaRate(fmas, loads) * balance(tasks, target.cores),
                                     static_cast<double>(fmas) / static_cast<double>(loads)};
  };
  std::optional<FilterGradientTile> best;
  for (int64_t filterBlocks : {4, 2, 1}) {
    if (s.blocks % filterBlocks != 0) continue;
    for (int64_t taps = s.kw; taps >= 1; --taps) {
      const int64_t room = target.accumulatorRegisters() / (filterBlocks * taps);
      if (s.kw % taps != 0 || room < 1) continue;
      const FilterGradientTile candidate{filterBlocks, largestDivisorUpTo(channelLimit, room), taps, 0, 0};
      if (!best || score(candidate) > score(*best)) best = candidate;
    }
  }
  FilterGradientTile tile = best.value_or(FilterGradientTile{1, 1, 1, 0, 0});
  // Tasks as large as keep the cores evenly busy, so that more register
  // blocks share each band: the fewest channel slices with the best balance.
  const int64_t groups = s.blocks / tile.filterBlocks, channelGroups = s.channels / tile.channels;
  int64_t slices = channelGroups;
  for (int64_t d = channelGroups; d >= 1; --d)
    if (channelGroups % d == 0 && balance(groups * d, target.cores) >= balance(groups * slices, target.cores)) slices = d;
  tile.taskChannels = s.channels / slices;
  // A band's output gradients (the register block's channels) and input
  // rows (whole blocks, or the task's channels when plain) fit half of L1.
  const int64_t dyRow = tile.filterBlocks * target.vectorWidth * s.columns * 4;
  const int64_t xRow = s.inputColumns * (s.inputBlock == 1 ? tile.taskChannels : s.inputBlock) * 4;
  tile.rows = std::clamp<int64_t>(target.l1Bytes / 2 / (dyRow + xRow), 1, s.rows);
  return tile;
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
  if (std::optional<IntList> tile = tileAttribute(node)) return {(*tile)[0], (*tile)[1], (*tile)[2], (*tile)[3]};
  return defaultForwardTile(shapeOf(graph, node), target);
}

FilterGradientTile filterGradientTile(const Graph& graph, const Node& node, const Target& target) {
  if (std::optional<IntList> tile = tileAttribute(node))
    return {(*tile)[0], (*tile)[1], (*tile)[2], (*tile)[3], (*tile)[4]};
  return defaultFilterGradientTile(shapeOf(graph, node), target);
}

Status checkTile(const Graph& graph, const Node& node, const IntList& tile) {
  if (!isTiledConvolution(node))
    return Error{fmt::format("{} ({}) takes no tile: only blocked conv2d and conv2d_bwd_filter do", valueRef(node.name),
                             mnemonic(node.op))};
  const ConvShape s = shapeOf(graph, node);
  const bool forward = node.op == Op::Conv2D;
  const size_t arity = forward ? 4 : 5;
  auto bad = [&](const std::string& why) {
    return Error{fmt::format("tile {} of {} {}: {}", toString(Attribute(tile)), mnemonic(node.op),
                             valueRef(node.name), why)};
  };
  if (tile.size() != arity)
    return bad(forward ? "expected [filter blocks, columns, channel chunk, rows]"
                       : "expected [filter blocks, channels, taps, task channels, rows]");
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
  if (s.kw % tile[2] != 0) return bad(fmt::format("taps must divide the filter's {} columns", s.kw));
  if (tile[3] % tile[1] != 0 || s.channels % tile[3] != 0)
    return bad(fmt::format("task channels must be a multiple of the channels and divide the {} input channels", s.channels));
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

IntList asList(const ForwardTile& t) { return {t.filterBlocks, t.run, t.channelChunk, t.rows}; }
IntList asList(const FilterGradientTile& t) { return {t.filterBlocks, t.channels, t.taps, t.taskChannels, t.rows}; }

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

#include "compiler/conv_tiles.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <numeric>
#include <optional>
#include <tuple>

#include <fmt/format.h>

#include "compiler/column_runs.h"
#include "compiler/graph_rebuilder.h"
#include "compiler/passes.h"
#include "ir/conv_algorithm.h"
#include "ir/fused_pooling.h"
#include "ir/layout.h"
#include "ir/printer.h"

namespace cnnc {
namespace {

int64_t blockOf(const Graph& graph, ValueId id) { return layoutBlock(graph.node(id).type.layout); }

// Register blocks of more rows add loops (one per set of the rows that
// read inside the image) for little gain.
constexpr int64_t kMaxBlockRows = 4;

// The dimensions every tile rule needs: output blocks, input channels and
// their block, filter size, output rows and columns, input rows and
// columns, strides and the top and left pads; the filter's taps, of which a
// pass over the rows reads every one; the most rows of a default register
// block.
struct ConvShape {
  int64_t blocks, channels, inputBlock, kh, kw, batch, rows, columns, inputRows, inputColumns;
  int64_t strideH, strideW, padTop, padLeft;
  int64_t filterTaps;  // of a channel, that a pass over one row reads
  int64_t maxBlockRows;
};

ConvShape shapeOf(const Graph& graph, const Node& node) {
  // The filter (forward, backward data) or the output gradient (filter gradient) carries the block.
  const int64_t b = blockOf(graph, node.operands[1]);
  if (node.op == Op::Conv2DBackwardData) {
    // dx from dy, like a convolution's output from its input: priced as the
    // phase of rows and of columns with the most taps, each a stride-1
    // convolution over dy (column_runs.h); a register block holds one row.
    // A row reads the filter rows of its phase alone (of all the columns'
    // phases), so that a strided one's passes over the rows take more
    // channels, in fewer passes: each stores its rows and the next resumes
    // them, for fewer FMAs a row than the forward convolution's
    // (taps / stride^2). ResNet at batch 128 on AVX2, filter slices of 32
    // channels instead of 16: block1_out.grad's samples under perf, against
    // those of the strided forward and filter-gradient kernels in the same
    // run, 0.332-0.342 -> 0.308-0.323 of theirs (3 and 5 runs);
    // block2_out.grad's 0.336-0.340 -> 0.314-0.345 (3 and 2).
    const std::vector<int64_t>& dx = node.type.dims;
    const std::vector<int64_t>& w = graph.node(node.operands[1]).type.dims;
    const std::vector<int64_t>& dy = graph.node(node.operands[0]).type.dims;
    const IntList strides = *getInts(node.attrs, "strides"), pads = *getInts(node.attrs, "pads");
    auto widest = [&](size_t axis) {  // the phase whose first tap is the filter's first
      const int64_t stride = strides[axis - 2], pad = pads[axis - 2];
      return phaseAxis(dx[axis], dy[axis], w[axis], stride, pad, (stride - pad % stride) % stride).axis;
    };
    const ColumnAxis rows = widest(2), columns = widest(3);
    return {w[1] / b, w[0], blockOf(graph, node.operands[0]), rows.kw, columns.kw, dx[0], dx[2], columns.outWidth,
            dy[2], dy[3], 1, 1, rows.pad, columns.pad, rows.kw * w[3], 1};
  }
  const std::vector<int64_t>& out = node.op == Op::Conv2D ? node.type.dims : graph.node(node.operands[1]).type.dims;
  const std::vector<int64_t>& w = node.op == Op::Conv2D ? graph.node(node.operands[1]).type.dims : node.type.dims;
  const std::vector<int64_t>& x = graph.node(node.operands[0]).type.dims;
  const IntList strides = getInts(node.attrs, "strides").value_or(IntList{1, 1});
  const IntList pads = getInts(node.attrs, "pads").value_or(IntList{0, 0, 0, 0});
  // At a row stride above 1, register blocks of one row: ResNet's block2_conv1
  // (AMD EPYC Zen 3, AVX2, batch 128) took 2.43-2.46 ms in one row of 1
  // filter block x 2 runs of 8 columns, 2.76 in 2 rows x runs of 6 and
  // 3.15 in 3 x 4, whatever the rates below predict for their accumulators.
  return {w[0] / b, w[1], blockOf(graph, node.operands[0]), w[2], w[3], out[0], out[2], out[3], x[2], x[3],
          strides[0], strides[1], pads[0], pads[1], w[2] * w[3], strides[0] > 1 ? 1 : kMaxBlockRows};
}

// A chain of dependent FMAs (an accumulator's, one FMA per tap of its
// column) advances about one FMA every 6 cycles, not every 4 (the FMA
// latency): measured on the seed model's max_pool2d_3.grad (6x6 outputs,
// pads 2) on one thread, whose 12 accumulators of one row ran at 0.69 of
// the speed of 24 in two rows, as 4 / 6 predicts.
constexpr double kChainCycles = 6;
// FMAs and loads a core issues per cycle: two of each, as the tiles model it.
constexpr double kFmasPerCycle = 2, kLoadsPerCycle = 2;

// What a register block of FB filter blocks x R rows x runs of at most
// `run` columns costs over its R rows, per input channel and filter row
// that all R read inside the image: cycles on a core that issues two FMAs
// and two loads a cycle, FMAs, and loads (FB x kw filter vectors a run, an
// input per row and input column read; or, for a block that holds one
// tap's filter vectors at a time, an input per tap, row and column read,
// each feeding FB FMAs).
struct BlockCost {
  double cycles = 0, fmas = 0, loads = 0;
  BlockCost& operator+=(const BlockCost& other) {
    cycles += other.cycles, fmas += other.fmas, loads += other.loads;
    return *this;
  }
};

BlockCost blockCost(const ConvShape& s, int64_t FB, int64_t R, int64_t run, bool oneTap) {
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
    // The (row, column, tap) triples read inside the image: FB FMAs each.
    const int64_t reads = R * std::accumulate(taps.begin(), taps.end(), int64_t{0});
    BlockCost cost;
    cost.fmas = static_cast<double>(FB * reads);
    cost.loads = static_cast<double>(FB * s.kw) + (oneTap ? static_cast<double>(reads) : static_cast<double>(R) * inputs);
    const double chain = kChainCycles * static_cast<double>(*std::max_element(taps.begin(), taps.end()));
    cost.cycles = std::max({cost.fmas / kFmasPerCycle, cost.loads / kLoadsPerCycle, chain});
    total += cost;
  }
  return total;
}

// The cost of one image's output rows in blocks of R rows (the rows left
// over one by one), per input channel: each block passes over every filter
// row with the block's rows that read inside the image.
BlockCost imageCost(const ConvShape& s, int64_t FB, int64_t R, int64_t run, bool oneTap) {
  BlockCost total;
  auto block = [&](int64_t oh, int64_t rows) {
    for (int64_t i = 0; i < s.kh; ++i) {
      int64_t inside = 0;
      for (int64_t q = 0; q < rows; ++q) {
        const int64_t ih = (oh + q) * s.strideH - s.padTop + i;
        inside += ih >= 0 && ih < s.inputRows ? 1 : 0;
      }
      if (inside > 0) total += blockCost(s, FB, inside, run, oneTap);
    }
  };
  const int64_t full = s.rows / R * R;
  for (int64_t oh = 0; oh < full; oh += R) block(oh, R);
  for (int64_t oh = full; oh < s.rows; ++oh) block(oh, 1);
  return total;
}

// Channels per pass over the rows: the most whole input blocks, dividing
// the channels, whose share of a cache, `bytesPerChannel` each, fits
// `budget` bytes of it.
int64_t channelChunk(const ConvShape& s, int64_t budget, int64_t bytesPerChannel) {
  const int64_t fitting = std::max<int64_t>(1, budget / bytesPerChannel);
  return largestDivisorUpTo(s.channels / s.inputBlock, std::max<int64_t>(1, fitting / s.inputBlock)) * s.inputBlock;
}

// Rows per task of `taskBlocks` output blocks: tasks enough, in whole
// register blocks of `tile` and granules of `rowGranule` (or all the rows).
int64_t taskRows(const ConvShape& s, int64_t taskBlocks, const ForwardTile& tile, int64_t rowGranule) {
  const int64_t tasks = s.batch * (s.blocks / taskBlocks);
  const int64_t rowSplits = std::min(s.rows, (kEnoughTasks + tasks - 1) / tasks);
  const int64_t rows = (s.rows + rowSplits - 1) / rowSplits, granule = std::lcm(tile.blockRows, rowGranule);
  return std::min(s.rows, (rows + granule - 1) / granule * granule);
}

// Rows per task are a multiple of `rowGranule` (or all the rows).
ForwardTile defaultForwardTile(const ConvShape& s, const Target& target, int64_t rowGranule) {
  // Among the register blocks that fit, the one that keeps the FMA units
  // busiest, then at a column stride above 1 the fewest runs a row, then
  // the fewest loads per FMA, then the fewest rows (less code), then the
  // most filter blocks. ResNet's stride-2 convolutions at batch 128 (AMD
  // EPYC, alternating tiles): block2_conv1, 16 columns, 1.31 ms in runs of
  // 12 + 4 or 8 + 8 accumulators, 0.93 ms in one of 16; block3_conv1, 8
  // columns, 0.95 ms in two runs of 4 and 0.67 in one; block2_proj 0.37
  // and 0.25 ms: as the accumulators' FMA chains predict (kChainCycles).
  // On Zen 3's AVX2, in perf samples against the filter gradients' (3
  // alternating runs), block2_conv1 0.155-0.171 -> 0.146-0.149 from 1
  // filter block x runs of 8 + 8 to 2 x 6 + 5 + 5 of one tap's filter
  // vectors, block2_proj 0.043-0.050 -> 0.038-0.041 from 1 x 8 + 8 to 2 x
  // 6 + 5 + 5. At stride 1 a row's split into runs costs nothing
  // measurable (seed and ResNet data gradients).
  ForwardTile best{1, 1, 0, 0, 1};
  std::tuple<double, int64_t, double, int64_t, int64_t> bestScore{-1, 0, 0, 0, 0};
  for (int64_t filterBlocks : {4, 2, 1}) {
    if (s.blocks % filterBlocks != 0) continue;
    for (int64_t R = 1; R <= std::min(s.rows, s.maxBlockRows); ++R) {
      // Registers hold the accumulators, the filter vectors of every tap
      // or of one at a time (holdsOneTap), the broadcast input and a
      // spare. A register block of one tap's filter vectors takes more
      // accumulators (AMD EPYC Zen 3, AVX2, perf samples against the
      // filter gradients', 3 alternating runs each: the seed's
      // max_pool2d_3.grad, 6x6 outputs, pads 2, 4 filter blocks x 2
      // columns -> 2 x 6, 0.178-0.185 -> 0.170-0.173; ResNet's
      // block1_out.grad, 2 x 5 columns of every tap -> 2 x 6 of one,
      // 0.193-0.196 -> 0.182-0.186). Only in one row, of several filter
      // blocks (each broadcast input feeding as many FMAs), from a
      // channel-blocked input. Slower otherwise: at batch 1, ResNet's
      // block1 convolutions, 1 x 11 columns -> 2 x 2 rows x 3, 0.030-0.032
      // -> 0.045 ms (`cnnc bench --per-op`, 6 alternating runs), the seed's
      // conv2d_2, 1 x 2 rows x 5 -> 1 x 13, 0.087 -> 0.094 ms a step at
      // best; from a plain input, whose 3 channels make few FMAs per output
      // for the shorter runs' stores, ResNet's stem_conv 1 x 11 -> 2 x 2
      // rows x 3 took 0.051-0.052 -> 0.069-0.073 of the samples above, the
      // seed's conv2d_0.relu 1 x 11 -> 2 x 6 0.240-0.254 -> 0.257-0.264.
      auto columnsBeside = [&](int64_t heldTaps) {
        return std::min(s.columns, registerBlockColumns(filterBlocks, R, heldTaps, target));
      };
      if (columnsBeside(1) < 1) break;
      const int64_t everyTap = columnsBeside(s.kw);
      const bool mayHoldOneTap = everyTap < 1 || (filterBlocks > 1 && R == 1 && s.inputBlock > 1);
      for (const int64_t run : {everyTap, mayHoldOneTap ? columnsBeside(1) : 0}) {
        if (run < 1) continue;
        const BlockCost cost = imageCost(s, filterBlocks, R, run, holdsOneTap(filterBlocks, R, run, s.kw, target));
        const int64_t runsPerRow = s.strideW > 1 ? (s.columns + run - 1) / run : 1;
        const std::tuple<double, int64_t, double, int64_t, int64_t> score{
            cost.fmas / kFmasPerCycle / cost.cycles, -runsPerRow, -cost.loads / cost.fmas, -R, filterBlocks};
        if (score > bestScore) best = {filterBlocks, run, 0, 0, R}, bestScore = score;
      }
    }
  }
  // The filter slice of one pass (its channels, all taps, the register
  // block's output channels) fits half of L1, beside the input rows.
  best.channelChunk = channelChunk(s, target.l1Bytes / 2, best.filterBlocks * target.vectorWidth * s.filterTaps * 4);
  best.rows = taskRows(s, best.filterBlocks, best, rowGranule);
  return best;
}

// A Winograd kernel's register block (ir/conv_algorithm.h) holds FB filter
// blocks x blockRows/m x run/m blocks of m x m outputs (m = `side`), one
// of their products at a time. Per input channel it loads FB transformed
// filter vectors and broadcasts one transformed input per block of outputs.
// The filter vectors come from L2: a layer's transformed filter, (m + 2)^2
// products of every pair of channels, is far larger than L1. A register
// block of fewer than kWinogradFilterReuse blocks of outputs loads more
// than a quarter of a filter vector per FMA, more than the L2 delivers at
// the FMA peak: ResNet's block2_conv2 (AMD EPYC Zen 3, batch 128), its
// products in 4 filter blocks x 2 blocks of outputs took 0.095-0.102 of
// the filter gradients' perf samples, in 2 x 4 0.073-0.087 (3 runs each).
// With the groups of 2 filter blocks sharing the task's transformed inputs
// (winogradTaskBlocks), against 4 x 2 (3 alternating runs each): ResNet's
// block2_conv2 0.159-0.166 -> 0.148-0.155 of those samples, block2_bn1.grad
// 0.154-0.171 -> 0.136-0.141, block3_conv2 0.132-0.142 -> 0.116-0.123,
// block3_bn1.grad 0.140-0.146 -> 0.105-0.112; the seed's (batch 32)
// max_pool2d_1.grad 0.463-0.471 -> 0.365-0.367 and conv2d_4.relu
// 0.081-0.087 -> 0.066-0.069, conv2d_2.relu the same.
constexpr int64_t kWinogradFilterReuse = 4;

// What a Winograd pass keeps in cache per input channel: its register
// block's transformed inputs (on the stack) and the transformed filter of
// `filterBlocks` output blocks (in the workspace), (m + 2)^2 products each.
int64_t winogradPassBytesPerChannel(const ForwardTile& tile, int64_t side, int64_t filterBlocks, int64_t width) {
  const int64_t blocks = tile.run / side * tile.blockRows / side;
  return (filterBlocks * width + blocks) * winogradProducts(side) * 4;
}

// The output blocks of a Winograd task: the register block's FB times the
// most groups of FB (dividing the output's blocks) whose transformed filter
// of a pass's channels fits three quarters of L2 beside the register
// block's inputs (the budget of the pass's channels, below), at least one
// group. The task transforms its inputs once for all its groups
// (winograd.h).
int64_t winogradTaskBlocks(const ConvShape& s, const ForwardTile& tile, int64_t side, const Target& target) {
  int64_t groups = 1;
  for (int64_t g = 1; g <= s.blocks / tile.filterBlocks; ++g)
    if (s.blocks % (g * tile.filterBlocks) == 0 &&
        winogradPassBytesPerChannel(tile, side, g * tile.filterBlocks, target.vectorWidth) * tile.channelChunk <=
            target.l2Bytes * 3 / 4)
      groups = g;
  return groups * tile.filterBlocks;
}

ForwardTile defaultWinogradTile(const ConvShape& s, const Target& target, int64_t side, int64_t rowGranule) {
  // Of the register blocks whose accumulators fit beside the filter vectors
  // and the broadcast input, those whose runs split a row's blocks of
  // outputs evenly, then the most blocks of outputs up to
  // kWinogradFilterReuse, then the most FMAs per load, then the most
  // filter blocks, then the fewest rows. A row's blocks are split into
  // runs of as even a length as the register block allows; a shorter last
  // run is a second copy of the register block's code, whose transforms
  // are most of the kernel's: AVX2's ResNet block1 (8 blocks a row) in
  // runs of 3, 3 and 2 blocks x 2 rows made 40 KiB of code, more than a
  // Zen 3's 32 KiB instruction cache, and ran 3-9% slower than in runs of
  // 4 x 1 row (forward and data gradient; each against its twin layer in
  // the same runs, 4 alternating runs on a shared AMD EPYC Zen 3; whole
  // steps at batch 128, 5 alternating runs in a slow spell: block1's
  // forward kernels 3.74 and 3.85 -> 3.06 and 3.32 ms, its backward batch
  // groups 7.76 and 7.55 -> 6.67 and 6.45; VGG's block1_conv2, then 4
  // filter blocks x 2, the same within the noise).
  ForwardTile best{1, side, 0, 0, side};
  std::tuple<bool, int64_t, double> bestScore{false, 0, 0};
  const int64_t across = (s.columns + side - 1) / side;
  for (int64_t filterBlocks : {4, 2, 1}) {
    if (s.blocks % filterBlocks != 0) continue;
    for (int64_t down = 1; down <= std::min<int64_t>(2, (s.rows + side - 1) / side); ++down) {
      const int64_t room = registerBlockColumns(filterBlocks, down, 1, target);
      if (room < 1) continue;
      const int64_t runs = (across + room - 1) / room, run = (across + runs - 1) / runs, blocks = down * run;
      const std::tuple<bool, int64_t, double> score{
          across % run == 0, std::min(blocks, kWinogradFilterReuse),
          static_cast<double>(filterBlocks * blocks) / static_cast<double>(filterBlocks + blocks)};
      if (score > bestScore) best = {filterBlocks, side * run, 0, 0, side * down}, bestScore = score;
    }
  }
  // The pass's transformed filter slice and inputs fit three quarters of
  // L2, not half of L1 as the direct kernel's: every pass after the first
  // transforms all its outputs' products again and resumes from their
  // partial sums, which cost more than filter vectors from L2 (AMD EPYC,
  // ResNet at batch 128, 64 channels in one pass or in chunks of 16, 590
  // KiB of filter or 147: block3_conv2 0.49 ms or 0.67 with F(4x4, 3x3),
  // 0.77 or 0.93 with F(2x2, 3x3); block2_conv2, 32 channels, 0.60 or 0.78;
  // a budget of the whole L2 measured the same, of half of it slower).
  best.channelChunk = channelChunk(s, target.l2Bytes * 3 / 4,
                                   winogradPassBytesPerChannel(best, side, best.filterBlocks, target.vectorWidth));
  best.rows = taskRows(s, winogradTaskBlocks(s, best, side, target), best, rowGranule);
  return best;
}

// How fast a register block of `fmas` independent accumulators can run,
// in FMAs per cycle, when each step loads `loads` vectors or broadcasts, on
// the core blockCost models. It only ranks tiles.
double fmaRate(int64_t fmas, int64_t loads) {
  const double f = static_cast<double>(fmas);
  return std::min({kFmasPerCycle, f / kChainCycles, kLoadsPerCycle * f / static_cast<double>(loads)});
}

// The share of the cores' time that `tasks` equal tasks keep busy.
double balance(int64_t tasks, int64_t cores) {
  const int64_t rounds = (tasks + cores - 1) / cores;
  return static_cast<double>(tasks) / static_cast<double>(rounds * cores);
}

// The most output-gradient bytes of a band of a filter gradient of a plain
// input (defaultFilterGradientTile).
constexpr int64_t kPlainBandBytes = 4 << 10;

FilterGradientTile defaultFilterGradientTile(const ConvShape& s, const Target& target) {
  // Channels of a register block lie in one block of the input. Per output
  // position a register block loads FB gradient vectors and broadcasts CB x
  // JB inputs for FB x CB x JB FMAs, or when it slides CB x min(stride, JB)
  // inputs: of the blocks that fit, sliding or not, the fastest, then the
  // most FMAs per load, then the first (more filter blocks).
  const int64_t channelLimit = std::gcd(s.channels, s.inputBlock == 1 ? s.channels : s.inputBlock);
  auto score = [&](const FilterGradientTile& t) {
    const int64_t fmas = t.filterBlocks * t.channels * t.taps;
    const int64_t inputs = filterGradientSlides(t, s.strideW, target) ? std::min(s.strideW, t.taps) : t.taps;
    const int64_t loads = t.filterBlocks + t.channels * inputs;
    return std::pair<double, double>{fmaRate(fmas, loads), static_cast<double>(fmas) / static_cast<double>(loads)};
  };
  std::optional<FilterGradientTile> best;
  for (int64_t filterBlocks : {4, 2, 1}) {
    if (s.blocks % filterBlocks != 0) continue;
    for (int64_t taps = s.kw; taps >= 1; --taps) {
      if (s.kw % taps != 0) continue;
      // A sweep holds the FB gradient vectors of an output position and a
      // broadcast input beside its accumulators: with AVX2's 16 registers
      // 4 x 3 accumulators spilled (ResNet at batch 128, AMD EPYC Zen 3,
      // alternating runs: block2_conv1.weight.grad 4.0-10.7 ms a step as
      // 4 x 1 x 3, 2.3-3.0 as 2 x 2 x 3; block3_conv1's 2.8-4.6 and 2.0-2.6).
      const int64_t accumulators = target.accumulatorRegisters() / filterBlocks;
      const int64_t sweepRegisters = std::min(target.accumulatorRegisters(), target.vectorRegisters - filterBlocks - 1);
      const int64_t sliding = (accumulators - filterGradientLags(taps, s.strideW)) / taps,
                    sweeping = sweepRegisters / filterBlocks / taps;
      for (int64_t room : {sliding, sweeping}) {
        if (room < 1) continue;
        const FilterGradientTile candidate{filterBlocks, largestDivisorUpTo(channelLimit, room), taps, 0, 0, 1};
        if (!best || score(candidate) > score(*best)) best = candidate;
      }
    }
  }
  FilterGradientTile tile = *best;  // one filter block, one tap: always fits
  // Tasks: (FB blocks, a slice of the channels, a part of the batch). Slices
  // of whole input blocks (plain inputs: all channels), since the tasks of a
  // block's channels would each read all of its cache lines; the fewest
  // with the best balance over the cores, so that more register blocks
  // share each band. Layers that have too few tasks so (few filters, or
  // few channels) split the batch too, into parts for kEnoughTasks: the 16
  // filters and 16 channels of a ResNet's first block would otherwise be
  // one task.
  const int64_t groups = s.blocks / tile.filterBlocks;
  const int64_t wholeBlocks = s.inputBlock == 1 ? 1 : s.channels / std::max(s.inputBlock, tile.channels);
  int64_t slices = wholeBlocks;
  for (int64_t d = wholeBlocks; d >= 1; --d)
    if (wholeBlocks % d == 0 && balance(groups * d, target.cores) >= balance(groups * slices, target.cores)) slices = d;
  tile.taskChannels = s.channels / slices;
  if (balance(groups * slices, target.cores) < 1.0 || groups * slices < target.cores)
    tile.parts = std::min(s.batch, (kEnoughTasks + groups * slices - 1) / (groups * slices));
  // A band's output gradients (the register block's channels) and input
  // rows (of the task's channels, in whole blocks) fit half of L1; bands of
  // small images hold several.
  const int64_t dyRow = tile.filterBlocks * target.vectorWidth * s.columns * 4;
  const int64_t xRow = s.inputColumns * std::max(tile.taskChannels, s.inputBlock) * 4;
  const int64_t fitting = target.l1Bytes / 2 / (dyRow + xRow);
  tile.rows = fitting < s.rows ? std::max<int64_t>(1, fitting) : std::min(fitting / s.rows, s.batch) * s.rows;
  // A plain input's register blocks (the first layer's, of 3 channels) do
  // few FMAs per output-gradient vector, C x JB, so a band's first register
  // block, which reads the band's gradients from L3 or memory, outruns the
  // hardware's prefetchers; bands of at most kPlainBandBytes of gradients
  // stay within what they fetch while the band's other register blocks
  // run. Measured (alternating runs, a row of 2 KiB at 16 filters and 32
  // columns): ResNet's stem 0.38 ms in bands of 10 rows, 0.29 in bands of
  // 2; VGG's first layer 0.67 in 5, 0.60 in 1; the seed's the same in 5, 2
  // or 1. Blocked inputs' register blocks do 24 or more FMAs per vector:
  // ResNet's block1 measured the same in bands of 1 to 6 rows.
  if (s.inputBlock == 1) tile.rows = std::max<int64_t>(1, std::min(tile.rows, kPlainBandBytes / dyRow));
  return tile;
}

// The blocks of side x side output gradients in `rows` rows of one image.
int64_t winogradBlocks(const ConvShape& s, int64_t side, int64_t rows) {
  return ((rows + side - 1) / side) * ((s.columns + side - 1) / side);
}

// The stack that a Winograd filter gradient's band of `rows` output rows
// (beyond an image's, the whole images they cover) takes in tasks of
// `taskChannels` input channels: its blocks' (of side x side output
// gradients) transformed inputs and output gradients, (side + 2)^2
// products each (winograd_filter_gradient.cpp). In doubles: a --tile
// override may ask for any number of rows.
double winogradBandBytes(const ConvShape& s, int64_t side, int64_t taskChannels, int64_t rows) {
  const FilterGradientBand band = FilterGradientBand::of(rows, s.rows);
  const double blocks = static_cast<double>(band.images) * static_cast<double>(winogradBlocks(s, side, band.rows));
  return static_cast<double>(winogradProducts(side)) * blocks * static_cast<double>(taskChannels + s.blocks * s.inputBlock) * 4.0;
}

// A Winograd filter gradient's register block (ir/conv_algorithm.h) holds
// FB filter blocks x CB input channels of one of its products: per block
// of side x side output gradients it loads FB transformed gradient vectors
// and broadcasts CB transformed inputs. Of those whose accumulators fit,
// the most FMAs per load, then the most filter blocks. A task takes all
// the channels of a part of the batch, so that it transforms each input
// and gradient once; the parts give kEnoughTasks tasks, their sums added
// up by the kernel's second phase. A band holds the whole images whose
// transforms, of all the products, fit an eighth of L2, beside the partial
// sums they add to; where one image does not, the whole rows of blocks of
// one image that fit half of L2. Every band resumes all of its task's sums
// and stores them again, which with fewer blocks cost more than the L2
// misses of larger bands save (AMD EPYC, ResNet at batch 128, F(3x3, 4x4),
// alternating runs: block1_conv1.weight.grad 0.93-1.04 ms in bands of 12
// of its 32 rows, 0.81-0.92 in bands of all; block2_conv2.weight.grad
// 0.85-0.88 in bands of 12 of 16, 0.75-0.87 of 16; bands of two images
// measured slower, 1.10-1.13 and 0.80-0.98 ms). So a band holds at least
// kMinBandBlocks blocks, of as many whole images as that takes, where they
// fit half of L2: block3_conv2.weight.grad, 4 blocks an image, took a
// median of 0.70 ms in bands of one image and 0.57 in bands of four. An
// image that does not fit half of L2 but three quarters of it is a band of
// its own still, and one that does not is split into bands of as even a
// number of rows as fit half of L2: a short last band resumes and stores
// all the sums for few blocks (AMD EPYC Zen 3, 512 KiB of L2, ResNet's
// block1 at batch 128 without interleave-batch, its two filter gradients
// in one run, one of them tiled otherwise: bands of 28 and 4 rows took
// 10-20% longer than bands of 16, and those longer than bands of the whole
// image, 295 KiB; 5 alternating runs, medians 3.97 and 4.45 -> 3.64 and
// 3.80 ms; in its batch groups the same within the noise).
constexpr int64_t kMinBandBlocks = 16;

FilterGradientTile defaultWinogradFilterGradientTile(const ConvShape& s, const Target& target, int64_t side) {
  FilterGradientTile tile{1, 1, 1, s.channels, 0, std::min(s.batch, kEnoughTasks)};
  double bestRatio = 0;
  for (int64_t filterBlocks : {4, 2, 1}) {
    if (s.blocks % filterBlocks != 0) continue;
    const int64_t channels = largestDivisorUpTo(s.channels, target.accumulatorRegisters() / filterBlocks);
    const double ratio =
        static_cast<double>(filterBlocks * channels) / static_cast<double>(filterBlocks + channels);
    if (ratio > bestRatio) tile.filterBlocks = filterBlocks, tile.channels = channels, bestRatio = ratio;
  }
  // Bands that fit `budget`, of `rows` rows: never more than a thread's stack may take.
  const auto fitting = [&](int64_t budget, int64_t rows) {
    return static_cast<int64_t>(static_cast<double>(std::min(budget, kMaxWinogradBandBytes)) /
                                winogradBandBytes(s, side, s.channels, rows));
  };
  const int64_t imageBlocks = winogradBlocks(s, side, s.rows);
  const int64_t images = std::max({fitting(target.l2Bytes / 8, s.rows),
                                   std::min((kMinBandBlocks + imageBlocks - 1) / imageBlocks,
                                            fitting(target.l2Bytes / 2, s.rows)),
                                   std::min<int64_t>(1, fitting(target.l2Bytes * 3 / 4, s.rows))});
  if (images > 0) {
    tile.rows = std::min(images, s.batch) * s.rows;
  } else {
    const int64_t blockRows = (s.rows + side - 1) / side, fit = std::max<int64_t>(1, fitting(target.l2Bytes / 2, side));
    const int64_t bands = (blockRows + fit - 1) / fit;
    tile.rows = std::min(s.rows, side * ((blockRows + bands - 1) / bands));
  }
  return tile;
}

std::optional<IntList> tileAttribute(const Node& node) { return getInts(node.attrs, "tile"); }

// The row stride of a pooling that can fuse into `node` (ir/fused_pooling.h),
// 1 if none: tasks of rows in multiples of it hold whole windows.
int64_t fusiblePoolStride(const Graph& graph, const Node& node) {
  const ValueId id = *graph.lookup(node.name);  // a node of the graph, or a copy of one
  for (ValueId user = id + 1; user < graph.size(); ++user)
    if (poolingFusesInto(node, id, graph.node(user))) return poolRowStride(graph.node(user));
  return 1;
}

}  // namespace

int64_t largestDivisorUpTo(int64_t extent, int64_t limit) {
  for (int64_t d = std::min(extent, limit); d > 1; --d)
    if (extent % d == 0) return d;
  return 1;
}

bool filterGradientSlides(const FilterGradientTile& tile, int64_t strideW, const Target& target) {
  return tile.filterBlocks * (tile.channels * tile.taps + filterGradientLags(tile.taps, strideW)) <=
         target.accumulatorRegisters();
}

bool isTiledConvolution(const Node& node) {
  const bool convolution =
      node.op == Op::Conv2D || node.op == Op::Conv2DBackwardData || node.op == Op::Conv2DBackwardFilter;
  return convolution && node.type.layout != Layout::Plain;
}

int64_t channelPasses(const Graph& graph, const Node& node, const ForwardTile& tile) {
  const std::vector<int64_t>& w = graph.node(node.operands[1]).type.dims;
  return (node.op == Op::Conv2DBackwardData ? w[0] : w[1]) / tile.channelChunk;
}

ForwardTile forwardTile(const Graph& graph, const Node& node, const Target& target) {
  if (std::optional<IntList> tile = tileAttribute(node)) return {(*tile)[0], (*tile)[1], (*tile)[2], (*tile)[3], (*tile)[4]};
  if (usesWinograd(node))
    return defaultWinogradTile(shapeOf(graph, node), target, winogradBlockSide(node), fusiblePoolStride(graph, node));
  return defaultForwardTile(shapeOf(graph, node), target, fusiblePoolStride(graph, node));
}

int64_t forwardTaskBlocks(const Graph& graph, const Node& node, const ForwardTile& tile, const Target& target) {
  if (!usesWinograd(node)) return tile.filterBlocks;
  return winogradTaskBlocks(shapeOf(graph, node), tile, winogradBlockSide(node), target);
}

FilterGradientTile filterGradientTile(const Graph& graph, const Node& node, const Target& target) {
  if (std::optional<IntList> tile = tileAttribute(node))
    return {(*tile)[0], (*tile)[1], (*tile)[2], (*tile)[3], (*tile)[4], (*tile)[5]};
  if (usesWinograd(node)) return defaultWinogradFilterGradientTile(shapeOf(graph, node), target, winogradBlockSide(node));
  return defaultFilterGradientTile(shapeOf(graph, node), target);
}

bool winogradBandsFit(const Graph& graph, const Node& node, int64_t side) {
  const ConvShape s = shapeOf(graph, node);
  return winogradBandBytes(s, side, s.channels, side) <= static_cast<double>(kMaxWinogradBandBytes);
}

Status checkTile(const Graph& graph, const Node& node, const IntList& tile) {
  if (!isTiledConvolution(node))
    return Error{fmt::format("{} ({}) takes no tile: only blocked conv2d, conv2d_bwd_data and conv2d_bwd_filter do",
                             valueRef(node.name), mnemonic(node.op))};
  const ConvShape s = shapeOf(graph, node);
  const bool forward = node.op != Op::Conv2DBackwardFilter;
  const size_t arity = forward ? 5 : 6;
  auto bad = [&](const std::string& why) {
    return Error{fmt::format("tile {} of {} {}: {}", toString(Attribute(tile)), mnemonic(node.op),
                             valueRef(node.name), why)};
  };
  if (tile.size() != arity)
    return bad(forward ? "expected [filter blocks, columns, channel chunk, rows, block rows]"
                       : "expected [filter blocks, channels, taps, task channels, rows, parts]");
  if (std::any_of(tile.begin(), tile.end(), [](int64_t v) { return v < 1; })) return bad("every entry must be positive");
  if (s.blocks % tile[0] != 0) return bad(fmt::format("filter blocks must divide the {} output blocks", s.blocks));
  if (forward) {
    if (s.channels % tile[2] != 0 || tile[2] % s.inputBlock != 0)
      return bad(fmt::format("the channel chunk must divide the {} {} channels in whole blocks of {}", s.channels,
                             node.op == Op::Conv2DBackwardData ? "output-gradient" : "input", s.inputBlock));
    if (node.op == Op::Conv2DBackwardData && tile[4] != 1)
      return bad("block rows must be 1: the backward-data kernel blocks one row");
    if (usesWinograd(node)) {
      const int64_t side = winogradBlockSide(node);
      if (tile[1] % side != 0 || tile[4] % side != 0 || (tile[3] % side != 0 && tile[3] < s.rows))
        return bad(fmt::format("the Winograd kernel's columns, block rows and rows per task (unless all) must be "
                               "multiples of {0}: it makes {0}x{0} blocks of outputs", side));
      // Its register block's transformed inputs and sums, on the stack
      // (winograd.h); in doubles, since the tile may be any size.
      const double bytes = static_cast<double>(tile[1] / side) * static_cast<double>(tile[4] / side) *
                           static_cast<double>(winogradProducts(side)) *
                           (static_cast<double>(tile[2]) + static_cast<double>(tile[0]) * static_cast<double>(s.inputBlock)) * 4.0;
      if (bytes > static_cast<double>(kMaxWinogradBandBytes))
        return bad(fmt::format("its register block's transforms would take {:.0f} KiB of stack, more than {} KiB: "
                               "fewer columns, block rows or channels", bytes / 1024, kMaxWinogradBandBytes >> 10));
    }
    return checkFusedPoolRows(graph, node, {tile[0], tile[1], tile[2], tile[3], tile[4]});
  }
  if (tile[5] > s.batch) return bad(fmt::format("parts must not exceed the batch of {}", s.batch));
  if (usesWinograd(node)) {
    const int64_t side = winogradBlockSide(node);
    if (tile[2] != 1) return bad("taps must be 1: the Winograd kernel's register blocks hold one of its products");
    if (const double bytes = winogradBandBytes(s, side, tile[3], tile[4]); bytes > static_cast<double>(kMaxWinogradBandBytes))
      return bad(fmt::format("its bands' transforms would take {:.0f} KiB of stack, more than {} KiB: fewer rows or task "
                             "channels", bytes / 1024, kMaxWinogradBandBytes >> 10));
    if (tile[4] % side != 0 && tile[4] < s.rows)
      return bad(fmt::format("rows must be a multiple of {0}, unless they cover whole images: the Winograd kernel takes "
                             "{0}x{0} blocks of output gradients", side));
    if (tile[3] % tile[1] != 0 || tile[3] % s.inputBlock != 0 || s.channels % tile[3] != 0)
      return bad(fmt::format("task channels must be a multiple of the channels and of the input block of {}, and "
                             "divide the {} input channels", s.inputBlock, s.channels));
    return Status::ok();
  }
  const int64_t channelLimit = std::gcd(s.channels, s.inputBlock == 1 ? s.channels : s.inputBlock);
  if (channelLimit % tile[1] != 0) return bad(fmt::format("channels must divide {}", channelLimit));
  if (s.kw % tile[2] != 0) return bad(fmt::format("taps must divide the filter's {} columns", s.kw));
  if (tile[3] % tile[1] != 0 || s.channels % tile[3] != 0)
    return bad(fmt::format("task channels must be a multiple of the channels and divide the {} input channels", s.channels));
  return Status::ok();
}

Status checkFusedPoolRows(const Graph& graph, const Node& node, const ForwardTile& tile) {
  const std::optional<ValueId> pool = fusedPooling(graph, node);
  if (!pool) return Status::ok();
  const int64_t stride = poolRowStride(graph.node(*pool));
  if (tile.rows % stride == 0 || tile.rows >= node.type.dims[2]) return Status::ok();
  return Error{fmt::format("tile of {} {}: its {} rows per task must be a multiple of {}, the stride of the pooling "
                           "{} fused into it, or all {} rows",
                           mnemonic(node.op), valueRef(node.name), tile.rows, stride,
                           valueRef(graph.node(*pool).name), node.type.dims[2])};
}

namespace {

IntList asList(const ForwardTile& t) { return {t.filterBlocks, t.run, t.channelChunk, t.rows, t.blockRows}; }
IntList asList(const FilterGradientTile& t) {
  return {t.filterBlocks, t.channels, t.taps, t.taskChannels, t.rows, t.parts};
}

// The tiles that `--tile NAME=a,b,...` overrides give, each checked against
// its node; with `skipAbsent`, those of values the graph lacks are left out.
Expected<std::map<ValueId, IntList>> parseOverrides(const Graph& graph, const std::vector<std::string>& overrides,
                                                    bool skipAbsent) {
  std::map<ValueId, IntList> tiles;
  for (const std::string& text : overrides) {
    const size_t equals = text.rfind('=');
    auto bad = [&](const std::string& why) { return Error{fmt::format("--tile {}: {}", text, why)}; };
    if (equals == std::string::npos) return bad("expected NAME=a,b,...");
    const std::string name = text.substr(0, equals);
    std::optional<ValueId> id = graph.lookup(name);
    if (!id && skipAbsent) continue;
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
  return tiles;
}

// The "tile" attribute of node `id`: its override, if any.
AttributeMap overriddenTile(const std::map<ValueId, IntList>& tiles, ValueId id) {
  AttributeMap added;
  if (auto it = tiles.find(id); it != tiles.end()) added["tile"] = it->second;
  return added;
}

}  // namespace

Status chooseTiles(Graph& graph, const PassContext& context) {
  Expected<std::map<ValueId, IntList>> overrides =
      parseOverrides(graph, context.tileOverrides, context.tilesOfLargerGraph);
  if (!overrides) return overrides.error();
  // Overridden tiles first; then the default tile of every tiled
  // convolution that has none.
  return addAttributes(graph, [&](ValueId id) {
    AttributeMap added = overriddenTile(*overrides, id);
    const Node& node = graph.node(id);
    if (added.empty() && isTiledConvolution(node) && !tileAttribute(node))
      added["tile"] = node.op == Op::Conv2DBackwardFilter ? asList(filterGradientTile(graph, node, context.target))
                                                           : asList(forwardTile(graph, node, context.target));
    return added;
  });
}

Expected<Graph> overrideTiles(const Graph& graph, const std::vector<std::string>& overrides, bool skipAbsent) {
  Expected<std::map<ValueId, IntList>> tiles = parseOverrides(graph, overrides, skipAbsent);
  if (!tiles) return tiles.error();
  return withAttributes(graph, [&](ValueId id) { return overriddenTile(*tiles, id); });
}

}  // namespace cnnc

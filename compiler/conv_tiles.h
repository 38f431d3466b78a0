// How the channel-blocked convolution kernels (codegen/emit_conv_blocked_*.cpp)
// are scheduled: register blocks sized for the target's vector registers and
// cache blocks sized for its L1, written as the `tile` attribute of blocked
// conv2d, conv2d_bwd_data and conv2d_bwd_filter nodes so that dumps show
// them and `--tile` can override them. A tile changes speed only, and
// rounding: a filter gradient split over parts of the batch adds the parts'
// sums in another order.
#pragma once

#include <string>
#include <vector>

#include "compiler/target.h"
#include "ir/error.h"
#include "ir/graph.h"

namespace cnnc {

// Tasks enough to keep a few cores busy with even shares: a kernel with
// fewer splits its work further (rows, parts of the batch).
inline constexpr int64_t kEnoughTasks = 8;

// conv2d: tile=[filterBlocks, run, channelChunk, rows, blockRows]; for a
// Winograd kernel (ir/conv_algorithm.h) run and blockRows count the
// columns and rows of its m x m blocks of outputs (m = 2 or 4), and are
// multiples of m, as are the rows unless all.
struct ForwardTile {
  int64_t filterBlocks;  // output-channel blocks in one register block
  int64_t run;           // output columns in one register block, at most
  int64_t channelChunk;  // input channels per pass over the rows (the filter slice kept in L1)
  int64_t rows;          // output rows per task
  int64_t blockRows;     // output rows in one register block
};

// conv2d_bwd_filter: tile=[filterBlocks, channels, taps, taskChannels, rows, parts]; for a
// Winograd kernel (ir/conv_algorithm.h) taps is 1 (a register block holds
// one of its products), rows are a multiple of its blocks' side unless
// they cover whole images, and its partial sums always go through the
// workspace, whatever the parts.
struct FilterGradientTile {
  int64_t filterBlocks;  // output-channel blocks in one register block
  int64_t channels;      // input channels in one register block
  int64_t taps;          // neighbouring filter columns in one register block
  int64_t taskChannels;  // input channels of one task (its register blocks take turns on a band)
  int64_t rows;          // output rows of a band (its gradients and inputs kept in L1); beyond an
                         // image's, the whole images they cover
  int64_t parts;         // parts of the batch, summed by tasks of their own into partial gradients
                         // that a second phase adds up (1: none), for layers with too few tasks
};

// A filter gradient's band under its tile's `rows`, in images of
// `imageRows` rows: that many rows of one image, or when they exceed an
// image's, the whole images they cover.
struct FilterGradientBand {
  int64_t images, rows;
  static FilterGradientBand of(int64_t tileRows, int64_t imageRows) {
    return tileRows > imageRows ? FilterGradientBand{tileRows / imageRows, imageRows} : FilterGradientBand{1, tileRows};
  }
};

// A filter gradient's register block of `taps` neighbouring filter columns
// can slide along the input row: each broadcast input then serves all the
// filter columns that meet it, against the output gradients of the last
// ceil(taps / strideW) output columns (its lags), which it keeps in
// registers beside its accumulators, per filter block. It slides when they
// fit there, and sweeps the output columns otherwise.
inline int64_t filterGradientLags(int64_t taps, int64_t strideW) { return (taps + strideW - 1) / strideW; }
bool filterGradientSlides(const FilterGradientTile& tile, int64_t strideW, const Target& target);

// The most columns of a register block of `filterBlocks` x `rows` x
// columns accumulators (a Winograd kernel's: blocks of outputs) beside the
// filter vectors of `heldTaps` taps of each filter block, the broadcast
// input and a spare (without which LLVM spills an accumulator on AVX2).
inline int64_t registerBlockColumns(int64_t filterBlocks, int64_t rows, int64_t heldTaps, const Target& target) {
  return (target.vectorRegisters - 2 - filterBlocks * heldTaps) / (filterBlocks * rows);
}

// Whether a direct register block of `filterBlocks` x `rows` x `columns`
// accumulators holds the filter vectors of one of its `taps` filter
// columns at a time rather than of all: those of all leave too few
// registers (registerBlockColumns).
inline bool holdsOneTap(int64_t filterBlocks, int64_t rows, int64_t columns, int64_t taps, const Target& target) {
  return columns > registerBlockColumns(filterBlocks, rows, taps, target);
}

// The largest divisor of `extent` up to `limit` (at least 1): the size of a
// block that tiles an axis exactly.
int64_t largestDivisorUpTo(int64_t extent, int64_t limit);

// Whether `node` is a convolution kernel that tiles apply to.
bool isTiledConvolution(const Node& node);

// The passes that blocked conv2d or conv2d_bwd_data `node` makes over the
// channels it sums (its input's, its output gradient's), a chunk of `tile`
// (its forwardTile) each: each pass but the last stores partial sums that
// the next resumes, the last stores the results finished. The kernels and
// the memory plan, which computes a one-pass kernel's result in place,
// count them alike.
int64_t channelPasses(const Graph& graph, const Node& node, const ForwardTile& tile);

// The node's tile attribute, or the default for `target` when it has none.
// conv2d_bwd_data takes a forward tile: its result's channel blocks, the
// output gradient's channels as the input's, runs along one column phase.
ForwardTile forwardTile(const Graph& graph, const Node& node, const Target& target);
FilterGradientTile filterGradientTile(const Graph& graph, const Node& node, const Target& target);

// The output-channel blocks of one task of blocked conv2d or
// conv2d_bwd_data `node` under `tile`: the register block's filter blocks,
// or a Winograd kernel's several groups of them, which share the task's
// transformed inputs (winograd.h).
int64_t forwardTaskBlocks(const Graph& graph, const Node& node, const ForwardTile& tile, const Target& target);

// The most stack that a Winograd kernel's transforms may take: those of a
// filter gradient's band (winograd_filter_gradient.cpp), of a forward
// kernel's register block (winograd.h); the runtime's threads, or a
// program's own that calls it, have a few MiB.
inline constexpr int64_t kMaxWinogradBandBytes = 1 << 20;

// Whether Winograd filter gradient `node` fits bands of one row of its
// blocks of side x side output gradients, of all its input channels,
// within kMaxWinogradBandBytes.
bool winogradBandsFit(const Graph& graph, const Node& node, int64_t side);

// Whether `tile` is a schedule the kernel of `node` can run, or why not.
Status checkTile(const Graph& graph, const Node& node, const IntList& tile);

// Whether the tasks of conv2d `node` under `tile` hold whole windows of the
// pooling fused into it (ir/fused_pooling.h), if it has one: rows per task
// a multiple of the pooling's stride, or all the rows.
Status checkFusedPoolRows(const Graph& graph, const Node& node, const ForwardTile& tile);

// Applies `--tile NAME=a,b,...` overrides, each checked against its node;
// with `skipAbsent`, those of values the graph lacks are left out.
Expected<Graph> overrideTiles(const Graph& graph, const std::vector<std::string>& overrides, bool skipAbsent = false);

}  // namespace cnnc

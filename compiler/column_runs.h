// How the blocked forward convolution splits a row of output columns into
// register runs, and which input columns each run reads: code generation
// (codegen/blocked_conv.h) emits the runs, choose-tiles (conv_tiles.h)
// prices them.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace cnnc {

// A row of output columns and the input row it reads: filters kw wide,
// moved by stride, the input padded by pad on the left.
struct ColumnAxis {
  int64_t outWidth, inWidth, kw, stride, pad;
};

// A run of `count` output columns from `first`. Its columns read the input
// columns first * stride - pad + [0, span): column r tap j reads offset
// r * stride + j. Of them, the offsets [inputLo, inputHi) lie inside the
// image; the (column, tap) pairs that read outside are skipped.
struct RunShape {
  int64_t first, count, inputLo, inputHi;
};

// The offsets a run of `count` columns reads.
int64_t span(const ColumnAxis& axis, int64_t count);
// Whether every (column, tap) pair of the run reads inside the image.
bool isInterior(const ColumnAxis& axis, const RunShape& run);

// The runs of a row: at most maxRun columns each, as even as possible (the
// first ones a column longer), so that border columns get as many
// registers as interior ones.
std::vector<RunShape> columnRuns(const ColumnAxis& axis, int64_t maxRun);

// The (column, tap) pairs of a run of `count` columns that read its input
// offset `offset`.
std::vector<std::pair<int64_t, int64_t>> readersOf(const ColumnAxis& axis, int64_t offset, int64_t count);

// Backward data: the input-gradient columns iw = phase + stride * k of a
// convolution whose output column ow reads input columns ow * stride - pad
// + [0, kw) receive the output gradient through the filter columns
// firstTap + stride * t, t in [0, taps), and no others. As a stride-1 axis
// over the output gradient's columns, `axis` (axis.kw = taps): counted
// backwards, tap t' = taps - 1 - t of column k reads output-gradient column
// k + t' - axis.pad, so that its runs read consecutive columns.
struct PhaseAxis {
  ColumnAxis axis;
  int64_t firstTap;
};
PhaseAxis phaseAxis(int64_t width, int64_t gradientWidth, int64_t kw, int64_t stride, int64_t pad, int64_t phase);

}  // namespace cnnc

#include "compiler/column_runs.h"

#include <algorithm>

namespace cnnc {

int64_t span(const ColumnAxis& axis, int64_t count) { return (count - 1) * axis.stride + axis.kw; }

bool isInterior(const ColumnAxis& axis, const RunShape& run) {
  return run.inputLo == 0 && run.inputHi == span(axis, run.count);
}

std::vector<RunShape> columnRuns(const ColumnAxis& axis, int64_t maxRun) {
  const int64_t runs = (axis.outWidth + maxRun - 1) / maxRun;
  std::vector<RunShape> shapes;
  int64_t first = 0;
  for (int64_t t = 0; t < runs; ++t) {
    const int64_t count = axis.outWidth / runs + (t < axis.outWidth % runs ? 1 : 0);
    const int64_t start = first * axis.stride - axis.pad;
    shapes.push_back({first, count, std::max<int64_t>(0, -start), std::min(span(axis, count), axis.inWidth - start)});
    first += count;
  }
  return shapes;
}

std::vector<std::pair<int64_t, int64_t>> readersOf(const ColumnAxis& axis, int64_t offset, int64_t count) {
  std::vector<std::pair<int64_t, int64_t>> readers;
  for (int64_t j = 0; j < axis.kw && j <= offset; ++j)
    if ((offset - j) % axis.stride == 0 && (offset - j) / axis.stride < count)
      readers.emplace_back((offset - j) / axis.stride, j);
  return readers;
}

PhaseAxis phaseAxis(int64_t width, int64_t gradientWidth, int64_t kw, int64_t stride, int64_t pad, int64_t phase) {
  const int64_t firstTap = (phase + pad) % stride;
  const int64_t taps = firstTap < kw ? (kw - firstTap + stride - 1) / stride : 0;
  const int64_t columns = phase < width ? (width - phase + stride - 1) / stride : 0;
  return {{columns, gradientWidth, taps, 1, taps - 1 - (phase + pad - firstTap) / stride}, firstTap};
}

}  // namespace cnnc

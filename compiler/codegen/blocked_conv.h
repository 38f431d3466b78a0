// What the channel-blocked convolution kernels share (ir/layout.h). A
// vector holds one pixel's block of b output channels (b is the vector
// width: 16 on AVX-512, 8 on AVX2), so every lane does useful work whatever
// the image size, and the input is read one element at a time and
// broadcast. Borders are known at compile time: no padded copies. The sizes
// of the register blocks, and the cache blocks, are the node's tile
// (compiler/conv_tiles.h).
#pragma once

#include <functional>
#include <utility>
#include <vector>

#include "compiler/codegen/emitters.h"
#include "compiler/codegen/inlined_norm.h"
#include "compiler/column_runs.h"
#include "compiler/conv_tiles.h"
#include "ir/layout.h"

namespace cnnc::blocked {

// An image operand whose channels are blocked (NCHW{b}c) or plain (the
// first layer's few channels): channel c is lane `inner` of block `outer`.
// Of an inlined batch norm (inlined_norm.h), its input, which has its type:
// the kernels that read one apply it as they load.
struct Image {
  Image(const KernelBuilder& kb, ValueId value)
      : id(loadedInPlaceOf(kb, value)), dims(kb.dims(value)), block(layoutBlock(kb.graph().node(value).type.layout)) {}

  int64_t outerChannels() const { return dims[1] / block; }

  llvm::Value* index(KernelBuilder& kb, llvm::Value* n, llvm::Value* outer, llvm::Value* h, llvm::Value* w,
                     llvm::Value* inner) const {
    llvm::Value* pixel = kb.index({n, outer, h, w}, {dims[0], outerChannels(), dims[2], dims[3]});
    if (block == 1) return pixel;
    return kb.ir().CreateAdd(kb.ir().CreateMul(pixel, kb.i64(block)), inner);
  }

  // Channel c0 as (outer, inner).
  std::pair<llvm::Value*, llvm::Value*> channel(KernelBuilder& kb, llvm::Value* c0) const {
    auto& ir = kb.ir();
    if (block == 1) return {c0, kb.i64(0)};
    return {ir.CreateSDiv(c0, kb.i64(block)), ir.CreateSRem(c0, kb.i64(block))};
  }

  // How far channel c0 + k lies from channel c0 per k, where channels
  // c0.. lie within one block (their count divides the block): a constant
  // that addressing folds, where the index of each channel took a register.
  int64_t channelStride() const { return block == 1 ? dims[2] * dims[3] : 1; }

  ValueId id;
  std::vector<int64_t> dims;
  int64_t block;  // 1 when plain
};

// What the forward and filter-gradient kernels keep of their node: the
// builder, the node, its input image, the vector width and the window.
struct ConvolutionKernel {
  ConvolutionKernel(KernelBuilder& kb, ValueId id)
      : kb_(kb), ir_(kb.ir()), id_(id), node_(kb.graph().node(id)), x_(kb, node_.operands[0]), b_(kb.width()),
        win_(windowAttrs(node_)) {}

  KernelBuilder& kb_;
  llvm::IRBuilder<>& ir_;
  const ValueId id_;
  const Node& node_;
  const Image x_;  // the input image
  const int64_t b_;
  const WindowAttrs win_;
};

// A pass of a forward kernel's task over a chunk of its input channels, as
// its direct and Winograd register blocks take it: the task's image and
// first filter block, the chunk's first input block, and whether the pass
// resumes from the partial sums of the one before, and finishes the sums.
struct ForwardPass {
  llvm::Value* n;
  llvm::Value* firstBlock;
  llvm::Value* firstOuter;
  llvm::Value* resumes;
  llvm::Value* finishes;
};

// How a forward kernel's register block stores output vector `sum` of its
// filter block k (from the pass's firstBlock) at element `at` of the
// result: through the node's bias and fused epilogue.
using OutputStore = std::function<void(int64_t k, llvm::Value* at, llvm::Value* sum)>;

// A run of output columns (compiler/column_runs.h) whose first column is
// `first`, a run-time value when the run is one of a loop's.
struct ColumnRun {
  llvm::Value* first;
  int64_t count, inputLo, inputHi;
};

// Calls body for every run of output columns of a row (columnRuns): the
// runs that read only inside the image in a loop per run length, the
// others one by one, at positions known at compile time.
void forEachColumnRun(KernelBuilder& kb, int64_t outWidth, int64_t inWidth, int64_t kw, const WindowAttrs& win,
                      int64_t maxRun, const std::function<void(const ColumnRun&)>& body);

// The FMAs of a direct register block's run over one filter row and input
// channel: for rows [rows.first, rows.second) of the block, each (column,
// tap) pair of the run that reads inside the image (readersOf) multiplies
// the broadcast input at its offset, input(q, origin, offset), by the
// filter vector filter(k, tap) into accumulator slot(q, k, column), for the
// FB filter blocks k. Without `oneTap` (holdsOneTap) it loads every tap's
// filter vectors first and broadcasts each input once, for all the pairs
// that read it. With it, tap after tap: the tap's FB filter vectors, then
// the tap's inputs, from an opaque copy of `origin` (a run-time index) per
// tap (KernelBuilder::opaqueCopy). Neighbouring taps read most inputs
// alike, and LLVM, merging those loads, would keep them in registers across
// the taps and spill accumulators.
struct RunFmas {
  const ColumnAxis& axis;
  const ColumnRun& run;
  int64_t filterBlocks;
  std::pair<int64_t, int64_t> rows;
  bool oneTap;
};
void multiplyRun(KernelBuilder& kb, const RunFmas& fmas, Accumulators& acc, llvm::Value* origin,
                 const std::function<llvm::Value*(int64_t k, int64_t tap)>& filter,
                 const std::function<llvm::Value*(int64_t q, llvm::Value* origin, int64_t offset)>& input,
                 const std::function<size_t(int64_t q, int64_t k, int64_t column)>& slot);

// Calls body(iLo, iHi, qLo, qHi) for every set of rows [qLo, qHi) of the
// block of `rows` output rows from `oh` (a run-time value) that some filter
// rows read inside the image: the filter rows [iLo, iHi) (run-time values)
// for which the rows of the set, and no others, read inside. (Rows further
// down read further down the input, so each filter row's set is contiguous.)
void forEachRowSet(KernelBuilder& kb, llvm::Value* oh, int64_t rows, int64_t kh, int64_t inHeight, int64_t stride,
                   int64_t pad, const std::function<void(llvm::Value*, llvm::Value*, int64_t, int64_t)>& body);

inline llvm::Value* add(KernelBuilder& kb, llvm::Value* a, int64_t b) { return kb.ir().CreateAdd(a, kb.i64(b)); }

// The vector a kernel that sums over `chunks` passes stores at element
// `index` of node's result: `sum` through the node's fused activation or
// activation gradient (finishResult, activation.h) in the last pass
// (`finishes`), as it is in the others, which later passes resume from.
// `activationOutput`: the activation's output there if the kernel computes
// it (an inlined batch norm's, inlined_norm.h), else null.
llvm::Value* finishChunkedSum(KernelBuilder& kb, const Node& node, llvm::Value* sum, llvm::Value* index, int64_t chunks,
                              llvm::Value* finishes, llvm::Value* activationOutput = nullptr);

// Requests the cache lines of what the last of `chunks` passes (`finishes`)
// of node `id` reads at a register block's outputs (`outputs`, element
// indices of the result) once it has summed them: the operands of
// finishResult, into L1, and `later` (read after the task's rows,
// FusedSums::operands), into L2. Requested before the sums, they arrive
// while the FMAs run; read only as the block is stored, they would leave
// the FMA units idle for a miss to memory at every row (the ResNet's
// 16-channel data gradients spent almost as long on their epilogue as on
// their multiply-adds). With `ownLines`, where finishResult reads no
// operand, every pass requests the result's own lines at those outputs
// too, into L2: for kernels that store their outputs in bursts long after
// they last touched those lines (the Winograd kernels, winograd.cpp).
void prefetchFinishing(KernelBuilder& kb, ValueId id, const std::vector<ValueId>& later,
                       const std::vector<llvm::Value*>& outputs, int64_t chunks, llvm::Value* finishes,
                       bool ownLines = false);

// Requests into L2 the cache lines of row `row` (clamped into the image) of
// image n of a blocked `image`, channel blocks [firstOuter, firstOuter +
// outers), or only those of every `columnStep`-th column from the first:
// a row that a strided kernel reads next, which the hardware's prefetchers
// do not fetch in time (emit_conv_blocked_forward.cpp).
void prefetchRow(KernelBuilder& kb, const Image& image, llvm::Value* n, llvm::Value* firstOuter, int64_t outers,
                 llvm::Value* row, int64_t columnStep = 1);

// The outputs [lo, hi) of an axis whose input o*stride + tap - pad lies in
// [0, in), for a run-time filter tap.
std::pair<llvm::Value*, llvm::Value*> outputsInside(KernelBuilder& kb, llvm::Value* tap, int64_t pad, int64_t stride,
                                                    int64_t in, int64_t out);

// The bands that a filter gradient's task sweeps (FilterGradientBand) over
// its part of a batch of output gradients `dy` ([N,F,H,W]) split into
// `parts`: `count` of them, numbered by group of images, then by rows.
struct FilterGradientBands {
  FilterGradientBands(int64_t tileRows, const std::vector<int64_t>& dy, int64_t parts);

  // Band `band` of the part of images [partBegin, partEnd): its images
  // [firstImage, endImage) and output rows [top, bottom).
  struct Span {
    llvm::Value *firstImage, *endImage, *top, *bottom;
  };
  Span at(KernelBuilder& kb, llvm::Value* partBegin, llvm::Value* partEnd, llvm::Value* band) const;

  const FilterGradientBand shape;
  const int64_t imageRows, perImage, count;
};

// A task of the kernels tiled like a forward convolution (ForwardTile),
// forward and backward data: image n, the first output-channel block of its
// register block, its output rows [firstRow, endRow).
struct RowsTask {
  llvm::Value* index;  // in [0, tasks)
  llvm::Value* n;
  llvm::Value* firstBlock;
  llvm::Value* firstRow;
  llvm::Value* endRow;
};

// The tasks of such a kernel: (n, group of `groupBlocks` of the output's
// `blocks` channel blocks, block of `taskRows` of its `rows` rows), for
// `images` images, numbered by image, then group, then block of rows.
struct RowsTasks {
  int64_t images, blocks, rows, groupBlocks, taskRows;

  // Those of blocked conv2d or conv2d_bwd_data `node` under `tile`: of its
  // result, in groups of forwardTaskBlocks (conv_tiles.h) and the tile's
  // rows; the kernel and the workspace's fused sums count them alike.
  static RowsTasks of(const Graph& graph, const Node& node, const ForwardTile& tile, const Target& target);

  int64_t groups() const { return blocks / groupBlocks; }
  int64_t rowBlocks() const { return (rows + taskRows - 1) / taskRows; }
  int64_t count() const { return images * groups() * rowBlocks(); }
  // The number of task (n, group, row block), of run-time values.
  llvm::Value* index(KernelBuilder& kb, llvm::Value* n, llvm::Value* group, llvm::Value* rowBlock) const;
};

// Calls body for each of `tasks` in the kernel's range. Returns their count.
int64_t forEachRowsTask(KernelBuilder& kb, const RowsTasks& tasks, const std::function<void(const RowsTask&)>& body);

}  // namespace cnnc::blocked

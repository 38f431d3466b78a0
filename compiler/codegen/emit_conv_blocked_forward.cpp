// conv2d in channel-blocked layouts (blocked_conv.h). In registers: FB
// blocks of output channels x a few output rows x a run of output columns,
// and the FB filter vectors of every filter tap, which all the block's rows
// share, or of one tap at a time where those of all leave too few
// registers (multiplyRun). The taps are unrolled; the (column, tap) pairs
// of the run that read outside the image are skipped at compile time, so
// that border columns take part in full runs. Border rows are skipped at
// run time: each set of the block's rows loops over the filter rows that
// it, and no other row, reads inside the image.
#include "compiler/codegen/activation.h"
#include "compiler/codegen/blocked_conv.h"
#include "compiler/codegen/channel_sums.h"
#include "compiler/codegen/fused_sums.h"
#include "compiler/codegen/winograd.h"
#include "compiler/conv_tiles.h"
#include "ir/conv_algorithm.h"
#include "ir/fused_activation.h"
#include "ir/fused_norm.h"
#include "ir/fused_pooling.h"

namespace cnnc {

using namespace blocked;

namespace {

// One node's kernel: its shapes and tile, and the run-time values of the
// task and channel chunk being emitted.
class ForwardConvolution : ConvolutionKernel {
 public:
  ForwardConvolution(KernelBuilder& kb, ValueId id)
      : ConvolutionKernel(kb, id),
        w_(node_.operands[1]),
        y_(node_.type.dims),
        wd_(kb.dims(w_)),
        blocks_(y_[1] / b_),
        tile_(forwardTile(kb.graph(), node_, kb.target())),
        FB_(tile_.filterBlocks),
        chunks_(channelPasses(kb.graph(), node_, tile_)),
        tasks_(RowsTasks::of(kb.graph(), node_, tile_, kb.target())),
        pool_(fusedPooling(kb.graph(), node_)),
        gated_(readsActivationOutput(node_.op, node_.attrs) ? InlinedNorm::of(kb, activationOutputOf(node_))
                                                            : std::nullopt),
        sums_(kb, id, tasks_) {
    // A Winograd kernel's transformed filter follows the fused sums in the workspace.
    if (usesWinograd(node_))
      winograd_.emplace(kb, id, tile_, tasks_.groupBlocks,
                        *elementCount(node_.type) + fusedSumsFloats(kb.graph(), node_, tasks_, b_), sums_.operands());
  }

  // Tasks: (n, group of output blocks, block of output rows): FB blocks, a
  // Winograd kernel's several groups of FB (forwardTaskBlocks). Each task
  // passes over its rows once per chunk of input channels, whose filter
  // slice stays in L1 (conv_tiles.h); passes after the first resume from
  // the partial sums stored by the previous one.
  int64_t emit() {
    if (winograd_) kb_.nextPhase(winograd_->transformFilter());
    const int64_t R = tile_.blockRows;
    // Rows left over from blocks of R go one by one, or a block's side at a
    // time in a Winograd kernel, whose last block may lie past the rows.
    const int64_t least = winograd_ ? winogradBlockSide(node_) : 1;
    const int64_t tasks = forEachRowsTask(kb_, tasks_, [&](const RowsTask& task) {
      pass_.n = task.n;
      pass_.firstBlock = task.firstBlock;
      llvm::Value *firstRow = task.firstRow, *endRow = task.endRow;
      // Blocks of R rows, then the rows left over (the task's rows counted
      // in whole blocks of `least`).
      llvm::Value* rows = ir_.CreateMul(ir_.CreateSDiv(add(kb_, ir_.CreateSub(endRow, firstRow), least - 1), kb_.i64(least)),
                                        kb_.i64(least));
      llvm::Value* fullEnd = ir_.CreateAdd(firstRow, ir_.CreateMul(ir_.CreateSDiv(rows, kb_.i64(R)), kb_.i64(R)));
      kb_.rolledLoop(0, chunks_, [&](llvm::Value* chunk) {
        pass_.resumes = ir_.CreateICmpSGT(chunk, kb_.i64(0));
        pass_.finishes = ir_.CreateICmpEQ(chunk, kb_.i64(chunks_ - 1));
        pass_.firstOuter = ir_.CreateMul(chunk, kb_.i64(tile_.channelChunk / x_.block));
        kb_.loop(firstRow, fullEnd, [&](llvm::Value* oh) { rowBlock(oh, R); }, R);
        if (R > least) kb_.loop(fullEnd, endRow, [&](llvm::Value* oh) { rowBlock(oh, least); }, least);
      });
      if (pool_) poolRows(firstRow, endRow);
      sums_.sumTask(task);
    });
    return sums_.addTasks(tasks);
  }

 private:
  // A fused pooling (ir/fused_pooling.h): the pooled rows whose windows lie
  // in the task's rows [firstRow, endRow), just written and still in cache.
  // Its tile has tasks of whole windows (checkFusedPoolRows).
  void poolRows(llvm::Value* firstRow, llvm::Value* endRow) {
    const int64_t stride = poolRowStride(kb_.graph().node(*pool_));
    const int64_t pooledRows = kb_.dims(*pool_)[2];
    llvm::Value* first = ir_.CreateSDiv(add(kb_, firstRow, stride - 1), kb_.i64(stride));
    llvm::Value* end = kb_.smin(ir_.CreateSDiv(endRow, kb_.i64(stride)), kb_.i64(pooledRows));
    for (int64_t k = 0; k < tasks_.groupBlocks; ++k) {
      llvm::Value* plane = ir_.CreateAdd(ir_.CreateMul(pass_.n, kb_.i64(blocks_)), add(kb_, pass_.firstBlock, k));
      emitPoolingRows(kb_, *pool_, plane, first, end);
    }
  }

  // How the register blocks of `pass` (its FB blocks from pass.firstBlock)
  // store output vector `sum` of their filter block k at element `at`:
  // through the node's bias, a batch norm folded into it (ir/fused_norm.h),
  // applied with the last chunk, and its fused epilogue, where an inlined
  // batch norm whose output the node's relu gradient reads
  // (ir/inlined_norm.h) is computed from its input.
  OutputStore storeOf(const ForwardPass& pass) {
    const std::vector<llvm::Value*> biases = lastChunkBiases(pass);
    const std::vector<NormAffine> norms = blockAffines(pass, foldedNormOf(node_) ? &node_ : nullptr);
    const std::vector<NormAffine> gates = blockAffines(pass, gated_ ? &gated_->node() : nullptr);
    return [this, pass, biases, norms, gates](int64_t k, llvm::Value* at, llvm::Value* sum) {
      if (!biases.empty()) sum = ir_.CreateFAdd(sum, biases[static_cast<size_t>(k)]);
      if (!norms.empty()) {
        llvm::Value* normalized = norms[static_cast<size_t>(k)].apply(kb_, sum);
        sum = chunks_ == 1 ? normalized : ir_.CreateSelect(pass.finishes, normalized, sum);
      }
      llvm::Value* y = nullptr;
      if (!gates.empty())
        y = gated_->apply(kb_, gates[static_cast<size_t>(k)], kb_.loadVector(gated_->input(), at, b_));
      kb_.storeVector(id_, at, finishChunkedSum(kb_, node_, sum, at, chunks_, pass.finishes, y));
    };
  }

  // Output rows [oh, oh + rows) of the task's blocks, a register block per
  // run of columns (and, in a Winograd kernel, per group of FB blocks).
  void rowBlock(llvm::Value* oh, int64_t rows) {
    if (winograd_) {
      winograd_->rowBlock(pass_, oh, rows, [&](const ForwardPass& group) { return storeOf(group); });
      return;
    }
    const OutputStore store = storeOf(pass_);
    prefetchInputRows(add(kb_, oh, rows), rows);  // the next row block's, while this one runs
    forEachColumnRun(kb_, y_[3], x_.dims[3], wd_[3], win_, tile_.run, [&](const ColumnRun& run) {
      auto output = [&](int64_t q, int64_t k, int64_t r) {
        llvm::Value* at =
            kb_.index({pass_.n, add(kb_, pass_.firstBlock, k), add(kb_, oh, q), add(kb_, run.first, r)}, {y_[0], blocks_, y_[2], y_[3]});
        return ir_.CreateMul(at, kb_.i64(b_));
      };
      Accumulators acc(kb_, static_cast<size_t>(rows * FB_ * run.count), [&](size_t) { return kb_.f32(0.0); });
      auto forEachAccumulator = [&](const std::function<void(int64_t, int64_t, int64_t)>& body) {
        for (int64_t q = 0; q < rows; ++q)
          for (int64_t k = 0; k < FB_; ++k)
            for (int64_t r = 0; r < run.count; ++r) body(q, k, r);
      };
      std::vector<llvm::Value*> outputs;
      forEachAccumulator([&](int64_t q, int64_t k, int64_t r) { outputs.push_back(output(q, k, r)); });
      prefetchFinishing(kb_, id_, sums_.operands(), outputs, chunks_, pass_.finishes);
      if (chunks_ > 1)
        kb_.when(pass_.resumes, [&] {
          forEachAccumulator([&](int64_t q, int64_t k, int64_t r) {
            acc.set(slot(run, q, k, r), kb_.loadVector(id_, output(q, k, r), b_));
          });
        });
      kb_.rolledLoop(0, tile_.channelChunk / x_.block, [&](llvm::Value* chunkOuter) {
        llvm::Value* outer = ir_.CreateAdd(pass_.firstOuter, chunkOuter);
        // The loops over filter rows stay rolled: LLVM unrolled them (up to
        // kh copies of the channel loop inside each, for no measurable
        // speed), and spent most of the machine-code time of the seed's
        // padded data gradients in strength-reducing the copies.
        forEachRowSet(kb_, oh, rows, wd_[2], x_.dims[2], win_.sh, win_.padTop,
                      [&](llvm::Value* iLo, llvm::Value* iHi, int64_t qLo, int64_t qHi) {
                        kb_.rolledLoop(iLo, iHi, [&](llvm::Value* i) {
                          kb_.rolledLoop(0, x_.block, [&](llvm::Value* inner) {
                            multiplyAdd(acc, run, oh, rows, {qLo, qHi}, outer, inner, i);
                          });
                        });
                      });
      });
      forEachAccumulator([&](int64_t q, int64_t k, int64_t r) { store(k, output(q, k, r), acc.get(slot(run, q, k, r))); });
    });
  }

  // A strided convolution requests, into L2, the input rows that the row
  // block of `rows` rows at oh reads and the block before it did not, of
  // the pass's channels: the hardware's prefetchers kept up with stride-1
  // kernels' inputs but not with strided ones' (ResNet at batch 128,
  // alternating runs: with their inputs just streamed to memory by the
  // batch norm before them, block2_conv1 0.88 -> 0.82 ms, block3_proj 0.21
  // -> 0.14 ms, block3_conv1 and block2_proj 3-5% faster; with their inputs
  // in the L3, block2_conv1 0.81 -> 0.73 ms, block3_proj 0.11 -> 0.10 ms,
  // block2_proj 0.20 -> 0.18 ms; at stride 1 the same requests made
  // block1's convolutions and data gradients slower).
  // Of those, only the rows and columns it reads: a 1x1 filter at stride 2
  // reads every other column of every other row (alternating runs without
  // the rest: block2_proj 0.18 -> 0.17 ms, faster in 5 of 5; block3_proj
  // 0.103 -> 0.098).
  void prefetchInputRows(llvm::Value* oh, int64_t rows) {
    if (x_.block == 1 || win_.sh == 1) return;
    const int64_t S = win_.sh, KH = wd_[2], span = (rows - 1) * S + KH;
    const int64_t columnStep = wd_[3] == 1 ? win_.sw : 1;
    llvm::Value* top = ir_.CreateSub(ir_.CreateMul(oh, kb_.i64(S)), kb_.i64(win_.padTop));
    for (int64_t r = span - std::min(span, rows * S); r < span; ++r)
      if (KH >= S || r % S < KH)
        prefetchRow(kb_, x_, pass_.n, pass_.firstOuter, tile_.channelChunk / x_.block, add(kb_, top, r), columnStep);
  }

  // The bias of each of the pass's FB blocks, added with the last chunk
  // (none if the node has no bias).
  std::vector<llvm::Value*> lastChunkBiases(const ForwardPass& pass) {
    std::vector<llvm::Value*> biases;
    for (int64_t k = 0; ownOperandCount(node_) == 3 && k < FB_; ++k) {
      llvm::Value* bias = kb_.loadVector(node_.operands[2], ir_.CreateMul(add(kb_, pass.firstBlock, k), kb_.i64(b_)), b_);
      biases.push_back(ir_.CreateSelect(pass.finishes, bias, kb_.splat(kb_.f32(0.0))));
    }
    return biases;
  }

  // The affine map of batch norm `norm` for each of the pass's FB blocks
  // (none without a norm).
  std::vector<NormAffine> blockAffines(const ForwardPass& pass, const Node* norm) {
    std::vector<NormAffine> affines;
    for (int64_t k = 0; norm && k < FB_; ++k)
      affines.push_back(blockNormAffine(kb_, *norm, add(kb_, pass.firstBlock, k), b_));
    return affines;
  }

  // The accumulator of block row q, filter block k, column r of the run.
  size_t slot(const ColumnRun& run, int64_t q, int64_t k, int64_t r) const {
    return static_cast<size_t>((q * FB_ + k) * run.count + r);
  }

  // acc += input channel (outer, inner) through filter row i, for the
  // block rows [rows.first, rows.second) of the run (multiplyRun), whose
  // accumulators are those of `blockRows` rows.
  void multiplyAdd(Accumulators& acc, const ColumnRun& run, llvm::Value* oh, int64_t blockRows,
                   std::pair<int64_t, int64_t> rows, llvm::Value* outer, llvm::Value* inner, llvm::Value* i) {
    const int64_t kw = wd_[3];
    const ColumnAxis axis{y_[3], x_.dims[3], kw, win_.sw, win_.padLeft};
    llvm::Value* c = ir_.CreateAdd(ir_.CreateMul(outer, kb_.i64(x_.block)), inner);
    // The inputs a run reads lie at constant offsets from its block's first
    // row's first column (x's layout is linear in rows and columns).
    llvm::Value* top = ir_.CreateSub(ir_.CreateMul(oh, kb_.i64(win_.sh)), kb_.i64(win_.padTop));
    llvm::Value* start = ir_.CreateSub(ir_.CreateMul(run.first, kb_.i64(win_.sw)), kb_.i64(win_.padLeft));
    const int64_t columnStride = x_.block, rowStride = win_.sh * x_.dims[3] * x_.block;
    multiplyRun(
        kb_, {axis, run, FB_, rows, holdsOneTap(FB_, blockRows, run.count, kw, kb_.target())}, acc,
        x_.index(kb_, pass_.n, outer, ir_.CreateAdd(top, i), start, inner),
        [&](int64_t k, int64_t j) {
          llvm::Value* at = kb_.index({add(kb_, pass_.firstBlock, k), c, i, kb_.i64(j)}, {blocks_, wd_[1], wd_[2], kw});
          return kb_.loadVector(w_, ir_.CreateMul(at, kb_.i64(b_)), b_);
        },
        [&](int64_t q, llvm::Value* origin, int64_t offset) {
          return kb_.splat(kb_.load(x_.id, add(kb_, origin, q * rowStride + offset * columnStride)));
        },
        [&](int64_t q, int64_t k, int64_t r) { return slot(run, q, k, r); });
  }

  const ValueId w_;
  const std::vector<int64_t>& y_;
  const std::vector<int64_t>& wd_;
  const int64_t blocks_;
  const ForwardTile tile_;
  const int64_t FB_, chunks_;
  const RowsTasks tasks_;
  const std::optional<ValueId> pool_;
  const std::optional<InlinedNorm> gated_;  // the relu gradient's inlined batch norm, if any
  FusedSums sums_;
  std::optional<WinogradBlocks> winograd_;
  ForwardPass pass_{};  // of the task and chunk being emitted
};

}  // namespace

// y [N,F,OH,OW]<NCHW{b}c> = activation(norm(conv(x [N,C,H,W] blocked or
// plain, w<OIhw{b}o>) + bias) + residual), norm a folded batch norm if any,
// and a fused pooling and batch statistics of y, or
// the gamma and beta gradients of the batch norm whose output gradient y is.
int64_t emitBlockedForward(KernelBuilder& kb, ValueId id) { return ForwardConvolution(kb, id).emit(); }

}  // namespace cnnc

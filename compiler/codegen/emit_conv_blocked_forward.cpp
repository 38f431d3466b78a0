// conv2d in channel-blocked layouts (blocked_conv.h). In registers: FB
// blocks of output channels x a few output rows x a run of output columns,
// and every filter tap's FB filter vectors, which all the block's rows
// share. The taps are unrolled and each input column a row of the run reads
// is broadcast once and multiplied by the (column, tap) pairs that read it:
// border columns take part in full runs, their pairs outside the image
// skipped at compile time. Border rows are skipped at run time: each set of
// the block's rows loops over the filter rows that it, and no other row,
// reads inside the image. (With the columns inner and the taps outer
// instead, LLVM would keep the inputs that neighbouring taps share in
// registers and spill accumulators.)

#include "compiler/codegen/activation.h"
#include "compiler/codegen/blocked_conv.h"
#include "compiler/codegen/channel_sums.h"
#include "compiler/conv_tiles.h"
#include "ir/fused_activation.h"
#include "ir/fused_bias_gradient.h"
#include "ir/fused_pooling.h"
#include "ir/fused_statistics.h"

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
        chunks_(wd_[1] / tile_.channelChunk),
        tasks_(RowsTasks::of(y_, b_, FB_, tile_.rows)),
        pool_(fusedPooling(kb.graph(), node_)),
        stats_(fusedStatistics(kb.graph(), node_)),
        gamma_(fusedGammaGradient(kb.graph(), node_)),
        sumVectors_(stats_ ? kStatisticsVectors : kGammaGradientVectors),
        elements_(*elementCount(node_.type)) {}

  // Tasks: (n, group of FB output blocks, block of output rows). Each task
  // passes over its rows once per chunk of input channels, whose filter
  // slice stays in L1 (conv_tiles.h); passes after the first resume from
  // the partial sums stored by the previous one.
  int64_t emit() {
    const int64_t R = tile_.blockRows;
    const int64_t tasks = forEachRowsTask(kb_, tasks_, [&](const RowsTask& task) {
      n_ = task.n;
      f0_ = task.firstBlock;
      llvm::Value *firstRow = task.firstRow, *endRow = task.endRow;
      // Blocks of R rows, then the rows left over one by one.
      llvm::Value* fullEnd = ir_.CreateAdd(
          firstRow, ir_.CreateMul(ir_.CreateSDiv(ir_.CreateSub(endRow, firstRow), kb_.i64(R)), kb_.i64(R)));
      kb_.rolledLoop(0, chunks_, [&](llvm::Value* chunk) {
        resumes_ = ir_.CreateICmpSGT(chunk, kb_.i64(0));
        finishes_ = ir_.CreateICmpEQ(chunk, kb_.i64(chunks_ - 1));
        firstOuter_ = ir_.CreateMul(chunk, kb_.i64(tile_.channelChunk / x_.block));
        kb_.loop(firstRow, fullEnd, [&](llvm::Value* oh) { rowBlock(oh, R); }, R);
        if (R > 1) kb_.loop(fullEnd, endRow, [&](llvm::Value* oh) { rowBlock(oh, 1); });
      });
      if (pool_) poolRows(firstRow, endRow);
      if (stats_) sumStatistics(task);
      if (gamma_) sumGammaGradient(task);
    });
    if (!stats_ && !gamma_) return tasks;
    kb_.nextPhase(tasks);
    if (stats_) addStatistics();
    if (gamma_) addGammaGradient();
    return 1;
  }

 private:
  // Fused batch sums (ir/fused_statistics.h), in the workspace: per task
  // and block of its FB, sumVectors_ vectors (kStatisticsVectors,
  // kGammaGradientVectors).
  llvm::Value* partial(llvm::Value* task, llvm::Value* block, int64_t vector) {
    llvm::Value* slot = ir_.CreateAdd(ir_.CreateMul(task, kb_.i64(FB_)), block);
    return ir_.CreateAdd(kb_.i64(elements_ + vector * b_), ir_.CreateMul(slot, kb_.i64(sumVectors_ * b_)));
  }

  // The task's sums over its rows, just written and still in cache (in each
  // block's plane they are one contiguous run of vectors), stored in the
  // workspace: per block k of its FB, `count` accumulators that
  // termsOf(k, first) adds each vector's terms to (given its index; `first`
  // is the block's first), and the vectors stored(vectors, sums) gives,
  // `vectors` the count of vectors summed.
  using Terms = std::function<void(Accumulators&, llvm::Value*)>;
  void sumRows(const RowsTask& task, size_t count, const std::function<Terms(int64_t, llvm::Value*)>& termsOf,
               const std::function<std::vector<llvm::Value*>(llvm::Value*, Accumulators&)>& stored) {
    llvm::Value* vectors = ir_.CreateMul(ir_.CreateSub(task.endRow, task.firstRow), kb_.i64(y_[3]));
    for (int64_t k = 0; k < FB_; ++k) {
      llvm::Value* plane = ir_.CreateAdd(ir_.CreateMul(n_, kb_.i64(blocks_)), add(kb_, f0_, k));
      llvm::Value* first = ir_.CreateMul(kb_.index({plane, task.firstRow, kb_.i64(0)}, {y_[0] * blocks_, y_[2], y_[3]}),
                                         kb_.i64(b_));
      const Terms terms = termsOf(k, first);
      Accumulators sums(kb_, count, [&](size_t) { return kb_.f32(0.0); });
      kb_.loop(kb_.i64(0), vectors,
               [&](llvm::Value* v) { terms(sums, ir_.CreateAdd(first, ir_.CreateMul(v, kb_.i64(b_)))); });
      const std::vector<llvm::Value*> values = stored(vectors, sums);
      for (size_t vector = 0; vector < values.size(); ++vector)
        kb_.storeVector(id_, partial(task.index, kb_.i64(k), static_cast<int64_t>(vector)), values[vector]);
    }
  }

  // Statistics: the shift K (the block's first element in the task), the
  // sums of y - K and of its square, and their count. The shift keeps the
  // squares from cancelling against the mean's where the mean is large
  // beside the spread (as batch_norm_stats does).
  void sumStatistics(const RowsTask& task) {
    llvm::Value* shift = nullptr;
    sumRows(task, 2, [&](int64_t, llvm::Value* first) -> Terms {
      shift = kb_.loadVector(id_, first, b_);
      return [&](Accumulators& sums, llvm::Value* index) {
        llvm::Value* d = ir_.CreateFSub(kb_.loadVector(id_, index, b_), shift);
        sums.set(0, ir_.CreateFAdd(sums.get(0), d));
        sums.fma(1, d, d);
      };
    }, [&](llvm::Value* vectors, Accumulators& sums) {
      return std::vector<llvm::Value*>{shift, sums.get(0), sums.get(1),
                                       kb_.splat(ir_.CreateSIToFP(vectors, ir_.getFloatTy()))};
    });
  }

  // A gamma gradient: the sums of dy * (x - mean) and of dy (the result is
  // dy; x, the batch norm's input, has its type).
  void sumGammaGradient(const RowsTask& task) {
    const Node& gamma = kb_.graph().node(*gamma_);
    llvm::Value* mean = nullptr;
    sumRows(task, 2, [&](int64_t k, llvm::Value*) -> Terms {
      mean = kb_.loadVector(gamma.operands[2], ir_.CreateMul(add(kb_, f0_, k), kb_.i64(b_)), b_);
      return [&](Accumulators& sums, llvm::Value* index) {
        llvm::Value* dy = kb_.loadVector(id_, index, b_);
        sums.fma(0, dy, ir_.CreateFSub(kb_.loadVector(gamma.operands[1], index, b_), mean));
        sums.set(1, ir_.CreateFAdd(sums.get(1), dy));
      };
    }, [&](llvm::Value*, Accumulators& sums) { return std::vector<llvm::Value*>{sums.get(0), sums.get(1)}; });
  }

  // The second phase, one task: body(c, group, k) for each output-channel
  // block c, the k-th of its group's FB.
  void forEachBlock(const std::function<void(llvm::Value*, llvm::Value*, llvm::Value*)>& body) {
    kb_.loop(kb_.taskBegin(), kb_.taskEnd(), [&](llvm::Value*) {
      kb_.loop(0, blocks_, [&](llvm::Value* c) {
        body(c, ir_.CreateSDiv(c, kb_.i64(FB_)), ir_.CreateSRem(c, kb_.i64(FB_)));
      });
    });
  }

  // Calls f with the sums of block (group, k) of each task, in task order:
  // a function that loads the sums' vector v.
  using TaskSums = std::function<llvm::Value*(int64_t)>;
  void forEachTaskSums(llvm::Value* group, llvm::Value* k, const std::function<void(const TaskSums&)>& f) {
    const int64_t rowBlocks = tasks_.rowBlocks();
    kb_.loop(0, y_[0] * rowBlocks, [&](llvm::Value* at) {
      // Task (n, group, row block) for at = n * rowBlocks + row block.
      llvm::Value* task =
          tasks_.index(kb_, ir_.CreateSDiv(at, kb_.i64(rowBlocks)), group, ir_.CreateSRem(at, kb_.i64(rowBlocks)));
      f([&, task](int64_t vector) { return kb_.loadVector(id_, partial(task, k, vector), b_); });
    });
  }

  // Each block's statistics from its tasks' sums, moved to the shift of its
  // first task K0: with d = K - K0, the sum of y - K0 is S1 + m d and of its
  // square S2 + 2 d S1 + m d^2.
  void addStatistics() {
    const auto M = static_cast<double>(y_[0] * y_[2] * y_[3]);
    forEachBlock([&](llvm::Value* c, llvm::Value* group, llvm::Value* k) {
      llvm::Value* shift = kb_.loadVector(id_, partial(tasks_.index(kb_, kb_.i64(0), group, kb_.i64(0)), k, 0), b_);
      Accumulators sums(kb_, 2, [&](size_t) { return kb_.f32(0.0); });
      forEachTaskSums(group, k, [&](const TaskSums& load) {
        llvm::Value *s1 = load(1), *count = load(3);
        llvm::Value* d = ir_.CreateFSub(load(0), shift);
        sums.set(0, ir_.CreateFAdd(sums.get(0), kb_.fma(count, d, s1)));
        llvm::Value* moved = ir_.CreateFAdd(load(2), ir_.CreateFMul(d, kb_.fma(count, d, ir_.CreateFAdd(s1, s1))));
        sums.set(1, ir_.CreateFAdd(sums.get(1), moved));
      });
      const Moments moments = shiftedMoments(kb_, shift, sums.get(0), sums.get(1), M);
      llvm::Value* at = ir_.CreateMul(c, kb_.i64(b_));
      kb_.storeVector(*stats_, at, moments.mean);
      kb_.storeVector(*stats_, add(kb_, at, y_[1]), moments.variance);
    });
  }

  // Each block's gamma gradient, the sum of dy * (x - mean) over the tasks
  // times 1 / std, and the beta gradient fused into it, the sum of dy.
  void addGammaGradient() {
    const Node& gamma = kb_.graph().node(*gamma_);
    const std::optional<ValueId> beta = fusedBiasGradient(kb_.graph(), gamma);
    forEachBlock([&](llvm::Value* c, llvm::Value* group, llvm::Value* k) {
      Accumulators sums(kb_, 2, [&](size_t) { return kb_.f32(0.0); });
      forEachTaskSums(group, k, [&](const TaskSums& load) {
        for (size_t sum = 0; sum < 2; ++sum)
          sums.set(sum, ir_.CreateFAdd(sums.get(sum), load(static_cast<int64_t>(sum))));
      });
      llvm::Value* at = ir_.CreateMul(c, kb_.i64(b_));
      llvm::Value* variance = kb_.loadVector(gamma.operands[2], add(kb_, at, y_[1]), b_);
      llvm::Value* scale = inverseStd(kb_, variance, *getFloat(gamma.attrs, "epsilon"));
      kb_.storeVector(*gamma_, at, ir_.CreateFMul(sums.get(0), scale));
      if (beta) kb_.storeVector(*beta, at, sums.get(1));
    });
  }

  // A fused pooling (ir/fused_pooling.h): the pooled rows whose windows lie
  // in the task's rows [firstRow, endRow), just written and still in cache.
  // Its tile has tasks of whole windows (checkFusedPoolRows).
  void poolRows(llvm::Value* firstRow, llvm::Value* endRow) {
    const int64_t stride = poolRowStride(kb_.graph().node(*pool_));
    const int64_t pooledRows = kb_.dims(*pool_)[2];
    llvm::Value* first = ir_.CreateSDiv(add(kb_, firstRow, stride - 1), kb_.i64(stride));
    llvm::Value* end = kb_.smin(ir_.CreateSDiv(endRow, kb_.i64(stride)), kb_.i64(pooledRows));
    for (int64_t k = 0; k < FB_; ++k) {
      llvm::Value* plane = ir_.CreateAdd(ir_.CreateMul(n_, kb_.i64(blocks_)), add(kb_, f0_, k));
      emitPoolingRows(kb_, *pool_, plane, first, end);
    }
  }

  // Output rows [oh, oh + rows) of the task's FB blocks, a register block
  // per run of columns.
  void rowBlock(llvm::Value* oh, int64_t rows) {
    forEachColumnRun(kb_, y_[3], x_.dims[3], wd_[3], win_, tile_.run, [&](const ColumnRun& run) {
      auto output = [&](int64_t q, int64_t k, int64_t r) {
        llvm::Value* at =
            kb_.index({n_, add(kb_, f0_, k), add(kb_, oh, q), add(kb_, run.first, r)}, {y_[0], blocks_, y_[2], y_[3]});
        return ir_.CreateMul(at, kb_.i64(b_));
      };
      Accumulators acc(kb_, static_cast<size_t>(rows * FB_ * run.count), [&](size_t) { return kb_.f32(0.0); });
      auto forEachAccumulator = [&](const std::function<void(int64_t, int64_t, int64_t)>& body) {
        for (int64_t q = 0; q < rows; ++q)
          for (int64_t k = 0; k < FB_; ++k)
            for (int64_t r = 0; r < run.count; ++r) body(q, k, r);
      };
      if (chunks_ > 1)
        kb_.when(resumes_, [&] {
          forEachAccumulator([&](int64_t q, int64_t k, int64_t r) {
            acc.set(slot(run, q, k, r), kb_.loadVector(id_, output(q, k, r), b_));
          });
        });
      kb_.rolledLoop(0, tile_.channelChunk / x_.block, [&](llvm::Value* chunkOuter) {
        llvm::Value* outer = ir_.CreateAdd(firstOuter_, chunkOuter);
        forEachRowSet(kb_, oh, rows, wd_[2], x_.dims[2], win_.sh, win_.padTop,
                      [&](llvm::Value* iLo, llvm::Value* iHi, int64_t qLo, int64_t qHi) {
                        kb_.loop(iLo, iHi, [&](llvm::Value* i) {
                          kb_.rolledLoop(0, x_.block, [&](llvm::Value* inner) {
                            multiplyAdd(acc, run, oh, {qLo, qHi}, outer, inner, i);
                          });
                        });
                      });
      });
      // The bias, added with the last chunk.
      std::vector<llvm::Value*> biases;
      for (int64_t k = 0; ownOperandCount(node_) == 3 && k < FB_; ++k) {
        llvm::Value* bias = kb_.loadVector(node_.operands[2], ir_.CreateMul(add(kb_, f0_, k), kb_.i64(b_)), b_);
        biases.push_back(ir_.CreateSelect(finishes_, bias, kb_.splat(kb_.f32(0.0))));
      }
      forEachAccumulator([&](int64_t q, int64_t k, int64_t r) {
        llvm::Value* sum = acc.get(slot(run, q, k, r));
        if (!biases.empty()) sum = ir_.CreateFAdd(sum, biases[static_cast<size_t>(k)]);
        llvm::Value* at = output(q, k, r);
        kb_.storeVector(id_, at, finishChunkedSum(kb_, node_, sum, at, chunks_, finishes_));
      });
    });
  }

  // The accumulator of block row q, filter block k, column r of the run.
  size_t slot(const ColumnRun& run, int64_t q, int64_t k, int64_t r) const {
    return static_cast<size_t>((q * FB_ + k) * run.count + r);
  }

  // acc += input channel (outer, inner) through filter row i, for the
  // block rows [rows.first, rows.second) of the run.
  void multiplyAdd(Accumulators& acc, const ColumnRun& run, llvm::Value* oh,
                   std::pair<int64_t, int64_t> rows, llvm::Value* outer, llvm::Value* inner, llvm::Value* i) {
    const int64_t kw = wd_[3];
    const ColumnAxis axis{y_[3], x_.dims[3], kw, win_.sw, win_.padLeft};
    llvm::Value* c = ir_.CreateAdd(ir_.CreateMul(outer, kb_.i64(x_.block)), inner);
    std::vector<llvm::Value*> filters;  // [k * kw + j]
    for (int64_t k = 0; k < FB_; ++k)
      for (int64_t j = 0; j < kw; ++j) {
        llvm::Value* at = kb_.index({add(kb_, f0_, k), c, i, kb_.i64(j)}, {blocks_, wd_[1], wd_[2], kw});
        filters.push_back(kb_.loadVector(w_, ir_.CreateMul(at, kb_.i64(b_)), b_));
      }
    llvm::Value* start = ir_.CreateSub(ir_.CreateMul(run.first, kb_.i64(win_.sw)), kb_.i64(win_.padLeft));
    for (int64_t q = rows.first; q < rows.second; ++q) {
      llvm::Value* top = ir_.CreateSub(ir_.CreateMul(add(kb_, oh, q), kb_.i64(win_.sh)), kb_.i64(win_.padTop));
      llvm::Value* ih = ir_.CreateAdd(top, i);
      for (int64_t offset = run.inputLo; offset < run.inputHi; ++offset) {
        const std::vector<std::pair<int64_t, int64_t>> readers = readersOf(axis, offset, run.count);
        if (readers.empty()) continue;
        llvm::Value* input = kb_.splat(kb_.load(x_.id, x_.index(kb_, n_, outer, ih, add(kb_, start, offset), inner)));
        for (const auto& [r, j] : readers)
          for (int64_t k = 0; k < FB_; ++k)
            acc.fma(slot(run, q, k, r), input, filters[static_cast<size_t>(k * kw + j)]);
      }
    }
  }

  const ValueId w_;
  const std::vector<int64_t>& y_;
  const std::vector<int64_t>& wd_;
  const int64_t blocks_;
  const ForwardTile tile_;
  const int64_t FB_, chunks_;
  const RowsTasks tasks_;
  const std::optional<ValueId> pool_, stats_, gamma_;
  const int64_t sumVectors_;  // of fused batch sums per task and block, if any
  const int64_t elements_;
  // Of the task and chunk being emitted.
  llvm::Value* n_ = nullptr;
  llvm::Value* f0_ = nullptr;
  llvm::Value* resumes_ = nullptr;
  llvm::Value* finishes_ = nullptr;
  llvm::Value* firstOuter_ = nullptr;
};

}  // namespace

// y [N,F,OH,OW]<NCHW{b}c> = activation(conv(x [N,C,H,W] blocked or plain,
// w<OIhw{b}o>) + bias), and a fused pooling and batch statistics of y, or
// the gamma and beta gradients of the batch norm whose output gradient y is.
int64_t emitBlockedForward(KernelBuilder& kb, ValueId id) { return ForwardConvolution(kb, id).emit(); }

}  // namespace cnnc

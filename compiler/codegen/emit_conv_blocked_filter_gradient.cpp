// conv2d_bwd_filter in channel-blocked layouts (blocked_conv.h). In
// registers: FB blocks of output channels x CB input channels x JB
// neighbouring filter columns of one filter row; each output-gradient
// vector feeds CB x JB of them, each broadcast input FB, or when the block
// slides along the row (slide(), where the window fits the registers) FB x
// the filter columns that meet it: JB at stride 1, about JB / S at stride
// S. Holding several filter columns lets a layer with few input channels
// (the first, with 3) keep enough independent accumulators to hide the FMA
// latency.
//
// Every register block sweeps all output positions, so the kernel would
// stream the whole batch once per block if blocks came first. It sweeps a
// band of output rows (of one image, or of a few small ones) instead, whose
// output gradients and inputs stay in L1, with every register block of its
// task in turn; each block resumes from the partial sums it stored after
// the previous band.
#include <algorithm>
#include <optional>

#include "compiler/codegen/blocked_conv.h"
#include "compiler/codegen/winograd.h"
#include "compiler/codegen/workspace.h"
#include "compiler/conv_tiles.h"
#include "ir/conv_algorithm.h"
#include "ir/fused_bias_gradient.h"

namespace cnnc {

using namespace blocked;

namespace {

// One node's kernel: its shapes and tile, and the run-time values of the
// task, band and register block being emitted.
class FilterGradient : ConvolutionKernel {
 public:
  FilterGradient(KernelBuilder& kb, ValueId id)
      : ConvolutionKernel(kb, id),
        dy_(node_.operands[1]),
        dyd_(kb.dims(dy_)),
        wd_(node_.type.dims),
        blocks_(wd_[0] / b_),
        tile_(filterGradientTile(kb.graph(), node_, kb.target())),
        FB_(tile_.filterBlocks),
        CB_(tile_.channels),
        JB_(tile_.taps),
        // Bands of whole images when the tile's rows exceed an image's
        // (small images: more positions per stored partial sum).
        bands_(tile_.rows, dyd_, tile_.parts),
        bias_(fusedBiasGradient(kb.graph(), node_)),
        parts_(tile_.parts),
        elements_(*elementCount(node_.type)) {}

  // Tasks: (group of FB output blocks, slice of the input channels, part of
  // the batch). Each task owns its weights, or with parts its part's partial
  // gradient in the workspace (workspace.h), so threads need no locks; a
  // second phase then adds the parts up.
  int64_t emit() {
    const int64_t slices = wd_[1] / tile_.taskChannels;
    kb_.loop(kb_.taskBegin(), kb_.taskEnd(), [&](llvm::Value* task) {
      llvm::Value* part = ir_.CreateSRem(task, kb_.i64(parts_));
      llvm::Value* rest = ir_.CreateSDiv(task, kb_.i64(parts_));
      f0_ = ir_.CreateMul(ir_.CreateSDiv(rest, kb_.i64(slices)), kb_.i64(FB_));
      llvm::Value* firstChannel = ir_.CreateMul(ir_.CreateSRem(rest, kb_.i64(slices)), kb_.i64(tile_.taskChannels));
      partOffset_ = parts_ > 1 ? ir_.CreateAdd(kb_.i64(elements_), ir_.CreateMul(part, kb_.i64(partStride()))) : kb_.i64(0);
      const auto [partBegin, partEnd] = imagesOfPart(kb_, part, parts_, dyd_[0]);
      kb_.rolledLoop(0, bands_.count, [&](llvm::Value* band) {
        band_ = bands_.at(kb_, partBegin, partEnd, band);
        llvm::Value* next = add(kb_, band, 1);
        hasNext_ = ir_.CreateICmpSLT(next, kb_.i64(bands_.count));
        next_ = bands_.at(kb_, partBegin, partEnd, next);
        resumes_ = ir_.CreateICmpSGT(band, kb_.i64(0));
        if (bias_) kb_.when(ir_.CreateICmpEQ(firstChannel, kb_.i64(0)), [&] { biasBand(); });
        kb_.rolledLoop(0, tile_.taskChannels / CB_, [&](llvm::Value* channelGroup) {
          c0_ = ir_.CreateAdd(firstChannel, ir_.CreateMul(channelGroup, kb_.i64(CB_)));
          firstChannel_ = x_.channel(kb_, c0_);
          kb_.rolledLoop(0, wd_[2], [&](llvm::Value* i) {
            kb_.rolledLoop(0, wd_[3] / JB_, [&](llvm::Value* tapGroup) {
              llvm::Value* ordinal =
                  kb_.index({channelGroup, i, tapGroup}, {tile_.taskChannels / CB_, wd_[2], wd_[3] / JB_});
              requestNextBand(firstChannel, ordinal);
              registerBlock(i, ir_.CreateMul(tapGroup, kb_.i64(JB_)));
            });
          });
        });
      });
    });
    const int64_t tasks = (blocks_ / FB_) * slices * parts_;
    if (parts_ == 1) return tasks;
    if (tasks == parts_) kb_.splitsBatch(dyd_[0]);
    kb_.nextPhase(tasks);
    addParts();
    return 1;
  }

 private:
  // The floats of one part's partial sums in the workspace: the gradient's,
  // then the fused bias gradient's.
  int64_t partStride() const { return elements_ + (bias_ ? wd_[0] : 0); }

  // The second phase: the result, and the fused bias gradient, as the sums
  // of the parts' in order. One task: a few thousand vectors at most.
  void addParts() {
    auto total = [&](ValueId to, int64_t begin, int64_t count) {
      kb_.loop(0, count, [&](llvm::Value* at) {
        llvm::Value* index = ir_.CreateMul(at, kb_.i64(b_));
        kb_.storeVector(to, index, addInOrder(kb_, parts_, [&](int64_t p) {
          return kb_.loadVector(id_, add(kb_, index, elements_ + p * partStride() + begin), b_);
        }));
      });
    };
    kb_.loop(kb_.taskBegin(), kb_.taskEnd(), [&](llvm::Value*) {
      total(id_, 0, elements_ / b_);
      if (bias_) total(*bias_, elements_, wd_[0] / b_);
    });
  }

  // Requests into L2 a share of the input rows that the next band reads,
  // those of its `ordinal`-th register block (of blocksPerBand()), at the
  // task's channels. Without them each band began with misses to memory
  // while the FMA units idled (the hardware's prefetchers do not follow a
  // band's rows): ResNet's strided 3x3 gradients at batch 128 take about 6%
  // less time with them. Only rows whose every column the band reads (its
  // filter at least as wide as its stride: a strided 1x1 filter's took
  // longer with them), and no output gradients (no faster with them).
  void requestNextBand(llvm::Value* firstChannel, llvm::Value* ordinal) {
    const int64_t S = win_.sh, KH = wd_[2], rows = bands_.shape.rows;
    if (wd_[3] < win_.sw) return;
    // An image's input rows under a band of `rows` output rows: all those
    // between its first and last when the filter's rows overlap from one
    // output row to the next, else only the filter's rows of each.
    const bool overlap = KH >= S;
    const int64_t inputRows = overlap ? (rows - 1) * S + KH : rows * KH;
    const int64_t total = bands_.shape.images * inputRows;
    const int64_t share = (total + blocksPerBand() - 1) / blocksPerBand();
    kb_.when(hasNext_, [&] {
      kb_.rolledLoop(0, share, [&](llvm::Value* k) {
        llvm::Value* row = ir_.CreateAdd(ir_.CreateMul(ordinal, kb_.i64(share)), k);
        kb_.when(ir_.CreateICmpSLT(row, kb_.i64(total)), [&] {
          llvm::Value* n = ir_.CreateAdd(next_.firstImage, ir_.CreateSDiv(row, kb_.i64(inputRows)));
          llvm::Value* r = ir_.CreateSRem(row, kb_.i64(inputRows));
          // Below the band's first: row r, or filter row r % KH of output row r / KH.
          llvm::Value* below = overlap ? r
                                       : ir_.CreateAdd(ir_.CreateMul(ir_.CreateSDiv(r, kb_.i64(KH)), kb_.i64(S)),
                                                       ir_.CreateSRem(r, kb_.i64(KH)));
          llvm::Value* ih = ir_.CreateAdd(ir_.CreateMul(next_.top, kb_.i64(S)), below);
          prefetchRow(kb_, x_, kb_.smin(n, kb_.i64(dyd_[0] - 1)), x_.channel(kb_, firstChannel).first,
                      std::max<int64_t>(1, tile_.taskChannels / x_.block), add(kb_, ih, -win_.padTop));
        });
      });
    });
  }

  // The register blocks that take turns on a band.
  int64_t blocksPerBand() const { return tile_.taskChannels / CB_ * wd_[2] * (wd_[3] / JB_); }

  // An output row of the sweep: image n, output row oh, the input row ih it
  // reads through the block's filter row, and the block's first filter column.
  struct Position {
    llvm::Value *n, *oh, *ih, *j0;
  };

  // The register block of filter row i, filter columns [j0, j0 + JB) over
  // the band: resumed from the partial sums stored after the previous band,
  // stored again after this one.
  void registerBlock(llvm::Value* i, llvm::Value* j0) {
    const auto [ohLo, ohHi] = outputsInside(kb_, i, win_.padTop, win_.sh, x_.dims[2], dyd_[2]);
    const Stretch stretch = stretchOf(j0);
    auto weight = [&](int64_t f, int64_t c, int64_t t) {
      llvm::Value* at =
          kb_.index({add(kb_, f0_, f), add(kb_, c0_, c), i, add(kb_, j0, t)}, {blocks_, wd_[1], wd_[2], wd_[3]});
      return ir_.CreateAdd(partOffset_, ir_.CreateMul(at, kb_.i64(b_)));
    };
    Accumulators acc(kb_, static_cast<size_t>(FB_ * CB_ * JB_), [&](size_t) { return kb_.f32(0.0); });
    auto forEachSlot = [&](const std::function<void(int64_t, int64_t, int64_t)>& body) {
      for (int64_t f = 0; f < FB_; ++f)
        for (int64_t c = 0; c < CB_; ++c)
          for (int64_t t = 0; t < JB_; ++t) body(f, c, t);
    };
    kb_.when(resumes_, [&] {
      forEachSlot([&](int64_t f, int64_t c, int64_t t) {
        acc.set(slot(f, c, t), kb_.loadVector(id_, weight(f, c, t), b_));
      });
    });
    kb_.loop(band_.firstImage, band_.endImage, [&](llvm::Value* n) {
      kb_.loop(kb_.smax(ohLo, band_.top), kb_.smin(ohHi, band_.bottom), [&](llvm::Value* oh) {
        llvm::Value* ih = ir_.CreateSub(ir_.CreateAdd(ir_.CreateMul(oh, kb_.i64(win_.sh)), i), kb_.i64(win_.padTop));
        const Position at{n, oh, ih, j0};
        if (slides()) {
          slide(acc, at, stretch);
        } else {
          kb_.loop(stretch.begin, stretch.fullBegin, [&](llvm::Value* ow) { column(acc, at, ow, &stretch.meets); });
          kb_.loop(stretch.fullBegin, stretch.fullEnd, [&](llvm::Value* ow) { column(acc, at, ow, nullptr); });
          kb_.loop(stretch.fullEnd, stretch.end, [&](llvm::Value* ow) { column(acc, at, ow, &stretch.meets); });
        }
      });
    });
    forEachSlot([&](int64_t f, int64_t c, int64_t t) {
      kb_.storeVector(id_, weight(f, c, t), acc.get(slot(f, c, t)));
    });
  }

  // Whether the register blocks slide along the input row (slide()) rather
  // than sweep the output columns (column()).
  bool slides() const { return filterGradientSlides(tile_, win_.sw, kb_.target()); }

  // The positions along a row that the register block of filter columns
  // [j0, j0 + JB) visits: output columns when it sweeps them, groups of S
  // input columns when it slides (slide()). Filter column t meets the row
  // inside the image at `meets`[t] ([lo, hi): the output columns whose input
  // through it is inside, shifted by its lag t / S when the block slides);
  // the block visits [begin, end), where all of them meet the row at
  // [fullBegin, fullEnd), the row's middle, and some at its ends, which
  // test each filter column.
  struct Stretch {
    std::vector<std::pair<llvm::Value*, llvm::Value*>> meets;
    llvm::Value *begin, *fullBegin, *fullEnd, *end;
  };
  Stretch stretchOf(llvm::Value* j0) {
    const int64_t S = win_.sw;
    Stretch stretch;
    llvm::Value *spanHi = nullptr, *coreLo = nullptr, *coreHi = nullptr;
    for (int64_t t = 0; t < JB_; ++t) {
      const auto [lo, hi] = outputsInside(kb_, add(kb_, j0, t), win_.padLeft, S, x_.dims[3], dyd_[3]);
      const int64_t lag = slides() ? t / S : 0;
      stretch.meets.emplace_back(add(kb_, lo, lag), add(kb_, hi, lag));
      const auto [first, last] = stretch.meets.back();
      stretch.begin = t == 0 ? first : kb_.smin(stretch.begin, first);
      spanHi = t == 0 ? last : kb_.smax(spanHi, last);
      coreLo = t == 0 ? first : kb_.smax(coreLo, first);
      coreHi = t == 0 ? last : kb_.smin(coreHi, last);
    }
    stretch.end = kb_.smax(stretch.begin, spanHi);
    stretch.fullBegin = kb_.smax(stretch.begin, kb_.smin(coreLo, stretch.end));
    stretch.fullEnd = kb_.smax(stretch.fullBegin, coreHi);
    return stretch;
  }

  // One row, along its input columns in groups of S, the horizontal
  // stride: group q holds input columns S q - lead + r for r in [0, S)
  // (lead = padLeft - j0), and input column S q - lead + r meets output
  // column q - m through filter column j0 + r + m S. So each broadcast input
  // serves every filter column of its residue r, against the output
  // gradients of the last M = ceil(JB / S) output columns, which slide
  // through registers (a window of FB x M vectors). Per group (an output
  // column) FB + CB x min(S, JB) loads feed FB x CB x JB FMAs, where a sweep
  // of the output columns needs FB + CB x JB. The groups are those of
  // `stretch`.
  void slide(Accumulators& acc, const Position& at, const Stretch& stretch) {
    const int64_t S = win_.sw, M = filterGradientLags(JB_, S);
    llvm::Value* lead = ir_.CreateSub(kb_.i64(win_.padLeft), at.j0);
    const auto& [meets, begin, fullBegin, fullEnd, end] = stretch;
    // The window of filter block f: a ring of M slots. At a group that is
    // step u of a run of M (u = M - 1 when it is not in one, after the
    // window shifted), the gradient of lag m is in slot (m - u - 1) mod M:
    // the new one replaces the oldest, and a run of M ends where it began,
    // with no moves.
    Accumulators window(kb_, static_cast<size_t>(FB_ * M), [&](size_t) { return kb_.f32(0.0); });
    auto ring = [&](int64_t f, int64_t m, int64_t u) {
      return static_cast<size_t>(f * M + ((m - u - 1) % M + M) % M);
    };
    // A group's FMAs, those of every filter column or, at the row's ends,
    // of those that meet the row there; the loads there are clamped into
    // the row, their values never multiplied where they had to be.
    auto step = [&](llvm::Value* q, int64_t u, bool ends) {
      for (int64_t f = 0; f < FB_; ++f)
        window.set(ring(f, 0, u), ends ? gradientInRow(at.n, f, at.oh, q) : gradient(at.n, f, at.oh, q));
      for (int64_t r = 0; r < std::min(S, JB_); ++r) {
        llvm::Value* iw = ir_.CreateSub(add(kb_, ir_.CreateMul(q, kb_.i64(S)), r), lead);
        if (ends) iw = kb_.smax(kb_.i64(0), kb_.smin(iw, kb_.i64(x_.dims[3] - 1)));
        llvm::Value* first = firstInput(at, iw);
        std::vector<llvm::Value*> inputs;
        for (int64_t c = 0; c < CB_; ++c) inputs.push_back(inputOf(first, c));
        for (int64_t t = r; t < JB_; t += S) {
          auto taps = [&] {
            for (int64_t c = 0; c < CB_; ++c)
              for (int64_t f = 0; f < FB_; ++f)
                acc.fma(slot(f, c, t), inputs[static_cast<size_t>(c)], window.get(ring(f, t / S, u)));
          };
          if (!ends) {
            taps();
            continue;
          }
          kb_.when(within(q, meets[static_cast<size_t>(t)]), taps);
        }
      }
    };
    // Outside runs: each lag's gradient moves to the next slot, the oldest
    // leaves, and the step's new one takes slot 0.
    auto shiftWindow = [&] {
      for (int64_t f = 0; f < FB_; ++f)
        for (int64_t m = M - 1; m > 0; --m) window.set(ring(f, m, M - 1), window.get(ring(f, m - 1, M - 1)));
    };
    auto shiftedSteps = [&](llvm::Value* from, llvm::Value* to, bool ends) {
      kb_.loop(from, to, [&](llvm::Value* q) {
        shiftWindow();
        step(q, M - 1, ends);
      });
    };
    // The row's first group meets the output columns before its own
    // through the block's further filter columns: those in the row enter
    // the window first.
    for (int64_t m = M - 1; m > 0; --m) {
      shiftWindow();
      for (int64_t f = 0; f < FB_; ++f) window.set(ring(f, 0, M - 1), gradientInRow(at.n, f, at.oh, add(kb_, begin, -m)));
    }
    // The groups at the row's start; those where every filter column meets
    // the row, in runs of M, then one by one; those at its end, whose
    // window empties.
    shiftedSteps(begin, fullBegin, true);
    llvm::Value* runsEnd = ir_.CreateAdd(
        fullBegin, ir_.CreateMul(ir_.CreateSDiv(ir_.CreateSub(fullEnd, fullBegin), kb_.i64(M)), kb_.i64(M)));
    kb_.loop(fullBegin, runsEnd, [&](llvm::Value* q0) {
      for (int64_t u = 0; u < M; ++u) step(add(kb_, q0, u), u, false);
    }, M);
    shiftedSteps(runsEnd, fullEnd, false);
    shiftedSteps(fullEnd, end, true);
  }

  // A fused bias gradient (ir/fused_bias_gradient.h), in the tasks of the
  // first channel slice: the sum of the band's output gradients, while they
  // are in L1, resumed from the partial sums of the previous band.
  void biasBand() {
    // Its own buffer, or with parts the part's sums after its gradient's.
    const ValueId to = parts_ > 1 ? id_ : *bias_;
    llvm::Value* offset = parts_ > 1 ? add(kb_, partOffset_, elements_) : kb_.i64(0);
    auto at = [&](int64_t f) { return ir_.CreateAdd(offset, ir_.CreateMul(add(kb_, f0_, f), kb_.i64(b_))); };
    Accumulators acc(kb_, static_cast<size_t>(FB_), [&](size_t) { return kb_.f32(0.0); });
    kb_.when(resumes_, [&] {
      for (int64_t f = 0; f < FB_; ++f) acc.set(static_cast<size_t>(f), kb_.loadVector(to, at(f), b_));
    });
    kb_.loop(band_.firstImage, band_.endImage, [&](llvm::Value* n) {
      kb_.loop(band_.top, band_.bottom, [&](llvm::Value* oh) {
        kb_.loop(0, dyd_[3], [&](llvm::Value* ow) {
          for (int64_t f = 0; f < FB_; ++f)
            acc.set(static_cast<size_t>(f), ir_.CreateFAdd(acc.get(static_cast<size_t>(f)), gradient(n, f, oh, ow)));
        });
      });
    });
    for (int64_t f = 0; f < FB_; ++f) kb_.storeVector(to, at(f), acc.get(static_cast<size_t>(f)));
  }

  // The output-gradient vector of image n, block f of the task, at (oh, ow).
  llvm::Value* gradient(llvm::Value* n, int64_t f, llvm::Value* oh, llvm::Value* ow) {
    llvm::Value* index = kb_.index({n, add(kb_, f0_, f), oh, ow}, {dyd_[0], blocks_, dyd_[2], dyd_[3]});
    return kb_.loadVector(dy_, ir_.CreateMul(index, kb_.i64(b_)), b_);
  }

  // The same at ow clamped into the row: where ow is outside it, a value
  // that is never multiplied (slide() guards the lags off the row's ends).
  llvm::Value* gradientInRow(llvm::Value* n, int64_t f, llvm::Value* oh, llvm::Value* ow) {
    return gradient(n, f, oh, kb_.smax(kb_.i64(0), kb_.smin(ow, kb_.i64(dyd_[3] - 1))));
  }

  // One output column: its gradient vectors times the inputs of each of the
  // block's filter columns; only where that input is inside the image
  // ([lo, hi) of `inside`) when the column is tested.
  void column(Accumulators& acc, const Position& at, llvm::Value* ow,
              const std::vector<std::pair<llvm::Value*, llvm::Value*>>* inside) {
    std::vector<llvm::Value*> gradients;
    for (int64_t f = 0; f < FB_; ++f) gradients.push_back(gradient(at.n, f, at.oh, ow));
    llvm::Value* left = ir_.CreateSub(ir_.CreateAdd(ir_.CreateMul(ow, kb_.i64(win_.sw)), at.j0), kb_.i64(win_.padLeft));
    // At stride 1 a column's inputs through filter columns 1.. are the next
    // column's through 0..: LLVM, unrolling the sweep, loaded each once and
    // held it across the columns, beside the accumulators, and spilled (the
    // seed's third-layer filter gradient on AVX2, 2 x 2 x 3: 81 stack
    // references, 50 with each column's inputs from an opaque copy of its
    // origin, KernelBuilder::opaqueCopy, none of them in the sweep). Its
    // perf samples against the second layer's kernels, alternating runs:
    // 2-13% fewer in 8 of 8. At stride 2 columns share less, and the
    // opaque origin stopped LLVM from unrolling the sweep: ResNet's
    // block3_conv1 filter gradient took 25% more samples.
    if (win_.sw == 1) left = kb_.opaqueCopy(left, "column");
    for (int64_t t = 0; t < JB_; ++t) {
      auto taps = [&] {
        llvm::Value* first = firstInput(at, add(kb_, left, t));
        for (int64_t c = 0; c < CB_; ++c) {
          llvm::Value* input = inputOf(first, c);
          for (int64_t f = 0; f < FB_; ++f) acc.fma(slot(f, c, t), input, gradients[static_cast<size_t>(f)]);
        }
      };
      if (!inside) {
        taps();
        continue;
      }
      kb_.when(within(ow, (*inside)[static_cast<size_t>(t)]), taps);
    }
  }

  // Whether position v lies in [lo, hi) of `range`.
  llvm::Value* within(llvm::Value* v, const std::pair<llvm::Value*, llvm::Value*>& range) {
    return ir_.CreateAnd(ir_.CreateICmpSGE(v, range.first), ir_.CreateICmpSLT(v, range.second));
  }

  // Where the block's first input channel is at column iw of the row.
  llvm::Value* firstInput(const Position& at, llvm::Value* iw) {
    const auto [outer, inner] = firstChannel_;
    return x_.index(kb_, at.n, outer, at.ih, iw, inner);
  }

  // The block's input channel c at `first` (firstInput), broadcast.
  llvm::Value* inputOf(llvm::Value* first, int64_t c) {
    return kb_.splat(kb_.load(x_.id, add(kb_, first, c * x_.channelStride())));
  }

  // The accumulator of filter block f, channel c, filter column t of the block.
  size_t slot(int64_t f, int64_t c, int64_t t) const { return static_cast<size_t>((f * CB_ + c) * JB_ + t); }

  const ValueId dy_;
  const std::vector<int64_t>& dyd_;
  const std::vector<int64_t>& wd_;
  const int64_t blocks_;
  const FilterGradientTile tile_;
  const int64_t FB_, CB_, JB_;
  const FilterGradientBands bands_;
  const std::optional<ValueId> bias_;
  const int64_t parts_, elements_;
  // Of the task, band and channel group being emitted.
  llvm::Value* partOffset_ = nullptr;  // where its partial sums go in id_'s buffer: 0, or the part's in the workspace
  llvm::Value* f0_ = nullptr;
  llvm::Value* c0_ = nullptr;
  FilterGradientBands::Span band_{};
  FilterGradientBands::Span next_{};  // the band after it, where hasNext_
  llvm::Value* hasNext_ = nullptr;
  llvm::Value* resumes_ = nullptr;
  std::pair<llvm::Value*, llvm::Value*> firstChannel_;  // the group's first, as (outer, inner) in x
};

}  // namespace

// dw [F,C,KH,KW]<OIhw{b}o> = sum over n, oh, ow of x[n,c,ih,iw] * dy[n,f,oh,ow]
// with dy<NCHW{b}c>, and a fused bias gradient db [F] = the sum of dy over
// n, oh, ow.
int64_t emitBlockedFilterGradient(KernelBuilder& kb, ValueId id) {
  if (usesWinograd(kb.graph().node(id))) return emitWinogradFilterGradient(kb, id);
  return FilterGradient(kb, id).emit();
}

}  // namespace cnnc

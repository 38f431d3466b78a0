// conv2d_bwd_filter by Winograd's F(3x3, m x m), m = 2 or 4
// (ir/conv_algorithm.h), in channel-blocked layouts. Each m x m block of
// output gradients dy and the (m + 2)^2 block of inputs d that it reads
// make (m + 2)^2 products per pair of channels, (A dy A') . (B' d B),
// summed over the batch and the blocks; the 3x3 gradient of each pair is
// G' (sum) G. The direct kernel takes 9 m^2 multiply-adds per block and
// pair (36 or 144) where this one takes 16 or 36.
//
// Phase 1, tasks (slice of the input channels, part of the batch): a band
// (a few rows of blocks of one image, or whole images) at a time, the task
// transforms the band's inputs, B' d B (vectors of b input channels), and
// output gradients, A dy A' (vectors of b output channels), into stack
// buffers laid out by product, then block; for each product, register
// blocks of FB filter blocks x CB input channels sum over the band's
// blocks, each transformed gradient vector feeding CB FMAs, each broadcast
// transformed input FB, resumed from the sums that the part's previous
// band stored in the workspace. Phase 2, a task per filter block, adds the
// parts' sums in order and transforms them into the gradient.
#include <optional>
#include <vector>

#include "compiler/codegen/winograd.h"
#include "compiler/codegen/workspace.h"
#include "ir/conv_algorithm.h"
#include "ir/fused_bias_gradient.h"

namespace cnnc::blocked {
namespace {

// Output gradients y0..y(m-1) -> A y: m + 2 values (A' of winograd.cpp).
//   m = 2: (y0, y0 + y1, y0 - y1, -y1);
//   m = 4: (y0, (y0 + y2) + (y1 + y3), (y0 + y2) - (y1 + y3),
//           (y0 + 4 y2) + 2 (y1 + 4 y3), (y0 + 4 y2) - 2 (y1 + 4 y3), y3).
Values transformGradient(KernelBuilder& kb, int64_t m, const Values& y) {
  auto& ir = kb.ir();
  if (m == 2) return {y[0], ir.CreateFAdd(y[0], y[1]), ir.CreateFSub(y[0], y[1]), ir.CreateFNeg(y[1])};
  llvm::Value *even = ir.CreateFAdd(y[0], y[2]), *odd = ir.CreateFAdd(y[1], y[3]);
  llvm::Value* four = coefficient(y[0], 4);
  llvm::Value *evenFar = kb.fma(four, y[2], y[0]), *oddFar = kb.fma(four, y[3], y[1]);
  return {y[0], ir.CreateFAdd(even, odd), ir.CreateFSub(even, odd), kb.fma(coefficient(y[0], 2), oddFar, evenFar),
          kb.fma(coefficient(y[0], -2), oddFar, evenFar), y[3]};
}

// Sums m0..m(m+1) -> G' m: 3 taps (G of winograd.cpp).
//   m = 2: (m0 + (m1 + m2) / 2, (m1 - m2) / 2, (m1 + m2) / 2 + m3);
//   m = 4: (m0 / 4 - (m1 + m2) / 6 + (m3 + m4) / 24,
//           (m2 - m1) / 6 + (m3 - m4) / 12,
//           (m3 + m4 - m1 - m2) / 6 + m5).
Values transformSums(KernelBuilder& kb, int64_t m, const Values& p) {
  auto& ir = kb.ir();
  if (m == 2) {
    llvm::Value* middle = ir.CreateFMul(ir.CreateFAdd(p[1], p[2]), coefficient(p[0], 0.5));
    return {ir.CreateFAdd(p[0], middle), ir.CreateFMul(ir.CreateFSub(p[1], p[2]), coefficient(p[0], 0.5)),
            ir.CreateFAdd(middle, p[3])};
  }
  llvm::Value *near = ir.CreateFAdd(p[1], p[2]), *far = ir.CreateFAdd(p[3], p[4]);
  llvm::Value* sixth = coefficient(p[0], 1.0 / 6);
  llvm::Value* first = kb.fma(coefficient(p[0], -1.0 / 6), near, ir.CreateFMul(far, coefficient(p[0], 1.0 / 24)));
  llvm::Value* second = ir.CreateFMul(ir.CreateFSub(p[3], p[4]), coefficient(p[0], 1.0 / 12));
  return {kb.fma(coefficient(p[0], 0.25), p[0], first), kb.fma(sixth, ir.CreateFSub(p[2], p[1]), second),
          kb.fma(sixth, ir.CreateFSub(far, near), p[5])};
}

class WinogradFilterGradient : ConvolutionKernel {
 public:
  WinogradFilterGradient(KernelBuilder& kb, ValueId id)
      : ConvolutionKernel(kb, id),
        dy_(kb, node_.operands[1]),
        blocks_(node_.type.dims[0] / b_),
        channels_(node_.type.dims[1]),
        tile_(filterGradientTile(kb.graph(), node_, kb.target())),
        FB_(tile_.filterBlocks),
        CB_(tile_.channels),
        side_(winogradBlockSide(node_)),
        t_(side_ + 2),
        bands_(tile_.rows, dy_.dims, tile_.parts),
        across_((dy_.dims[3] + side_ - 1) / side_),
        bandBlocks_(bands_.shape.images * ((bands_.shape.rows + side_ - 1) / side_) * across_),
        parts_(tile_.parts),
        bias_(fusedBiasGradient(kb.graph(), node_)),
        products_(winogradProducts(side_)),
        productFloats_(winogradProductFloats(kb.graph(), node_)),
        partFloats_(winogradFilterGradientPartFloats(kb.graph(), node_)),
        norm_(InlinedNorm::of(kb, node_.operands[0])) {}

  int64_t emit() {
    const int64_t slices = channels_ / tile_.taskChannels;
    inputs_ = kb_.scratch(products_ * inputStride());
    gradients_ = kb_.scratch(products_ * gradientStride());
    if (norm_) normalized_ = kb_.scratch(t_ * x_.dims[3] * b_);
    kb_.loop(kb_.taskBegin(), kb_.taskEnd(), [&](llvm::Value* task) {
      llvm::Value* part = ir_.CreateSRem(task, kb_.i64(parts_));
      c0_ = ir_.CreateMul(ir_.CreateSDiv(task, kb_.i64(parts_)), kb_.i64(tile_.taskChannels));
      sums_ = ir_.CreateAdd(kb_.i64(partStart(0)), ir_.CreateMul(part, kb_.i64(partFloats_)));
      const auto [partBegin, partEnd] = imagesOfPart(kb_, part, parts_, dy_.dims[0]);
      // A fused bias gradient: the first slice's tasks sum their part's
      // output gradients after the products' sums.
      if (bias_) kb_.when(sumsBias(), [&] { kb_.zero(id_, biasAt(kb_.i64(0)), blocks_ * b_); });
      kb_.rolledLoop(0, bands_.count, [&](llvm::Value* band) {
        const auto [firstImage, endImage, top, bottom] = bands_.at(kb_, partBegin, partEnd, band);
        // The band's blocks, numbered by image, row of blocks, column.
        llvm::Value* blockRows = ir_.CreateSDiv(add(kb_, ir_.CreateSub(bottom, top), side_ - 1), kb_.i64(side_));
        kb_.loop(firstImage, endImage, [&](llvm::Value* n) {
          kb_.rolledLoop(kb_.i64(0), blockRows, [&](llvm::Value* row) {
            llvm::Value* first = ir_.CreateMul(
                ir_.CreateAdd(ir_.CreateMul(ir_.CreateSub(n, firstImage), blockRows), row), kb_.i64(across_));
            llvm::Value* oh = ir_.CreateAdd(top, ir_.CreateMul(row, kb_.i64(side_)));
            transformInputs(n, oh, first);
            transformGradients(n, oh, first);
          });
        });
        llvm::Value* count = ir_.CreateMul(
            ir_.CreateMul(kb_.smax(kb_.i64(0), ir_.CreateSub(endImage, firstImage)), blockRows), kb_.i64(across_));
        const FilterGradientBands::Span next = bands_.at(kb_, partBegin, partEnd, add(kb_, band, 1));
        multiply(count, ir_.CreateICmpSGT(band, kb_.i64(0)),
                 [&](llvm::Value* product) { requestRows(next.firstImage, next.top, product); });
      });
    });
    if (slices == 1) kb_.splitsBatch(dy_.dims[0]);  // tasks are parts
    kb_.nextPhase(slices * parts_);
    transformSumsToGradient();
    return blocks_;
  }

 private:
  // The blocks of inputs that the row of m x m output-gradient blocks from
  // row oh of image n reads, of the task's channels, transformed into the
  // band's blocks [first, first + across) (transformInputRow). Rows outside
  // the image load as zeros, under a mask; columns outside it are zeros,
  // known when the kernel is built. An inlined batch norm's rows are
  // normalized first (normalizeRows), and the transform reads them there.
  void transformInputs(llvm::Value* n, llvm::Value* oh, llvm::Value* first) {
    Values ih, rowInside;
    for (int64_t i = 0; i < t_; ++i) {
      ih.push_back(add(kb_, oh, i - win_.padTop));
      llvm::Value* inside = ir_.CreateAnd(ir_.CreateICmpSGE(ih.back(), kb_.i64(0)), ir_.CreateICmpSLT(ih.back(), kb_.i64(x_.dims[2])));
      rowInside.push_back(ir_.CreateVectorSplat(static_cast<unsigned>(b_), inside));
    }
    llvm::Value* zero = kb_.splat(kb_.f32(0.0), b_);
    kb_.rolledLoop(0, tile_.taskChannels / b_, [&](llvm::Value* k) {
      llvm::Value* outer = ir_.CreateAdd(ir_.CreateSDiv(c0_, kb_.i64(b_)), k);
      auto load = [&](size_t i, int64_t iw) {
        return kb_.loadVector(x_.id, x_.index(kb_, n, outer, ih[i], kb_.i64(iw), kb_.i64(0)), b_, rowInside[i]);
      };
      if (norm_) normalizeRows(n, outer, ih, rowInside);
      transformInputRow(
          kb_, side_, across_, b_,
          [&](int64_t c) {
            const int64_t iw = c - win_.padLeft;
            Values d;
            for (size_t i = 0; i < static_cast<size_t>(t_); ++i) {
              if (iw < 0 || iw >= x_.dims[3])
                d.push_back(zero);
              else
                d.push_back(norm_ ? kb_.loadScratch(normalized_, kb_.i64((static_cast<int64_t>(i) * x_.dims[3] + iw) * b_), b_)
                                  : load(i, iw));
            }
            return d;
          },
          [&](llvm::Value* q, int64_t product, llvm::Value* v) {
            kb_.storeScratch(inputs_, inputAt(kb_.i64(product), ir_.CreateAdd(first, q), ir_.CreateMul(k, kb_.i64(b_))), v);
          });
    });
  }

  // The t input rows ih of image n, channel block `outer`, through the
  // inlined batch norm into `normalized_` (zeros for the rows outside the
  // image, rowInside), in loops of their own. Applied as the transform
  // loaded each vector, the norm's work went into the row's straight-line
  // code, whose loads and subtractions LLVM scheduled first and spilled to
  // the stack (ResNet at batch 128, alternating runs:
  // block1_conv2.weight.grad 1.15-1.16 ms so, 0.94-0.99 ms this way, 0.82-0.85
  // with no norm at all).
  void normalizeRows(llvm::Value* n, llvm::Value* outer, const Values& ih, const Values& rowInside) {
    const NormAffine affine = norm_->affine(kb_, outer, b_);
    for (size_t i = 0; i < static_cast<size_t>(t_); ++i)
      kb_.rolledLoop(0, x_.dims[3], [&](llvm::Value* iw) {
        llvm::Value* v = kb_.loadVector(x_.id, x_.index(kb_, n, outer, ih[i], iw, kb_.i64(0)), b_, rowInside[i]);
        llvm::Value* at = ir_.CreateMul(add(kb_, iw, static_cast<int64_t>(i) * x_.dims[3]), kb_.i64(b_));
        kb_.storeScratch(normalized_, at, norm_->apply(kb_, affine, v, rowInside[i]));
      });
  }

  // The row of m x m output-gradient blocks from row oh of image n, of
  // every filter block, transformed into the band's blocks [first, first +
  // across); past the rows or columns (not a multiple of m), the gradients
  // are zeros. With a fused bias gradient, the first slice's tasks add them
  // to their part's sums as well.
  void transformGradients(llvm::Value* n, llvm::Value* oh, llvm::Value* first) {
    llvm::Value* zero = kb_.splat(kb_.f32(0.0), b_);
    Values rowInside;  // of the block's rows that may lie past the gradient's (null: inside)
    for (int64_t i = 0; i < side_; ++i)
      rowInside.push_back(mayLiePast(dy_.dims[2], side_, i)
                              ? ir_.CreateVectorSplat(static_cast<unsigned>(b_), ir_.CreateICmpSLT(add(kb_, oh, i), kb_.i64(dy_.dims[2])))
                              : nullptr);
    kb_.rolledLoop(0, blocks_, [&](llvm::Value* f) {
      llvm::Value* total = zero;
      for (int64_t q = 0; q < across_; ++q) {
        // A y of each column, [column][row], then of each row of those.
        std::vector<Values> columns;
        for (int64_t j = 0; j < side_; ++j) {
          const int64_t ow = side_ * q + j;
          Values y(static_cast<size_t>(side_), zero);  // past the columns: zeros
          if (ow < dy_.dims[3])
            for (int64_t i = 0; i < side_; ++i) {
              y[static_cast<size_t>(i)] = kb_.loadVector(
                  dy_.id, dy_.index(kb_, n, f, add(kb_, oh, i), kb_.i64(ow), kb_.i64(0)), b_, rowInside[static_cast<size_t>(i)]);
              total = ir_.CreateFAdd(total, y[static_cast<size_t>(i)]);
            }
          columns.push_back(transformGradient(kb_, side_, y));
        }
        for (int64_t row = 0; row < t_; ++row) {
          Values y;
          for (const Values& column : columns) y.push_back(column[static_cast<size_t>(row)]);
          const Values v = transformGradient(kb_, side_, y);
          for (int64_t column = 0; column < t_; ++column)
            kb_.storeScratch(gradients_, gradientAt(kb_.i64(row * t_ + column), add(kb_, first, q), f),
                             v[static_cast<size_t>(column)]);
        }
      }
      if (bias_)
        kb_.when(sumsBias(), [&] {
          llvm::Value* at = biasAt(ir_.CreateMul(f, kb_.i64(b_)));
          kb_.storeVector(id_, at, ir_.CreateFAdd(kb_.loadVector(id_, at, b_), total));
        });
    });
  }

  // Whether the task being emitted sums its part's output gradients (those
  // of the first channel slice), and where its part's sums of them are.
  llvm::Value* sumsBias() { return ir_.CreateICmpEQ(c0_, kb_.i64(0)); }
  llvm::Value* biasAt(llvm::Value* index) { return ir_.CreateAdd(add(kb_, sums_, productFloats_), index); }

  // For each product, the sums over the band's `count` blocks of every
  // register block of the task, resumed from the part's sums in the
  // workspace (`resumes`) or from zero, and stored there; `beside(product)`
  // first, the work spread over the products (requestRows).
  void multiply(llvm::Value* count, llvm::Value* resumes, const std::function<void(llvm::Value*)>& beside) {
    kb_.rolledLoop(0, products_, [&](llvm::Value* product) {
      beside(product);
      kb_.rolledLoop(0, blocks_ / FB_, [&](llvm::Value* group) {
        llvm::Value* f0 = ir_.CreateMul(group, kb_.i64(FB_));
        kb_.rolledLoop(0, tile_.taskChannels / CB_, [&](llvm::Value* channelGroup) {
          llvm::Value* first = ir_.CreateMul(channelGroup, kb_.i64(CB_));  // of the task's channels
          auto sumAt = [&](int64_t k, int64_t c) {
            llvm::Value* channel = ir_.CreateAdd(c0_, add(kb_, first, c));
            llvm::Value* at = kb_.index({product, add(kb_, f0, k), channel}, {products_, blocks_, channels_});
            return ir_.CreateAdd(sums_, ir_.CreateMul(at, kb_.i64(b_)));
          };
          Accumulators acc(kb_, static_cast<size_t>(FB_ * CB_), [&](size_t) { return kb_.f32(0.0); });
          auto slot = [&](int64_t k, int64_t c) { return static_cast<size_t>(k * CB_ + c); };
          kb_.when(resumes, [&] {
            for (int64_t k = 0; k < FB_; ++k)
              for (int64_t c = 0; c < CB_; ++c) acc.set(slot(k, c), kb_.loadVector(id_, sumAt(k, c), b_));
          });
          kb_.rolledLoop(kb_.i64(0), count, [&](llvm::Value* block) {
            std::vector<llvm::Value*> gradients;
            for (int64_t k = 0; k < FB_; ++k)
              gradients.push_back(kb_.loadScratch(gradients_, gradientAt(product, block, add(kb_, f0, k)), b_));
            for (int64_t c = 0; c < CB_; ++c) {
              llvm::Value* input = kb_.splat(kb_.loadScratch(inputs_, inputAt(product, block, add(kb_, first, c)), 1), b_);
              for (int64_t k = 0; k < FB_; ++k) acc.fma(slot(k, c), input, gradients[static_cast<size_t>(k)]);
            }
          });
          for (int64_t k = 0; k < FB_; ++k)
            for (int64_t c = 0; c < CB_; ++c) kb_.storeVector(id_, sumAt(k, c), acc.get(slot(k, c)));
        });
      });
    });
  }

  // Requests into L2 what the band from row `top` of image n transforms,
  // a row of inputs and one of output gradients per `product`: requested
  // during the band before it, they arrive while its products are summed,
  // where the transforms would wait for every block's loads from memory.
  void requestRows(llvm::Value* n, llvm::Value* top, llvm::Value* product) {
    llvm::Value* image = kb_.smin(n, kb_.i64(dy_.dims[0] - 1));
    kb_.when(ir_.CreateICmpSLT(product, kb_.i64(bands_.shape.rows + 2)), [&] {
      prefetchRow(kb_, x_, image, ir_.CreateSDiv(c0_, kb_.i64(b_)), tile_.taskChannels / b_,
                  ir_.CreateAdd(top, add(kb_, product, -win_.padTop)));
    });
    kb_.when(ir_.CreateICmpSLT(product, kb_.i64(bands_.shape.rows)), [&] {
      prefetchRow(kb_, dy_, image, kb_.i64(0), blocks_, ir_.CreateAdd(top, product));
    });
  }

  // Phase 2: for filter block f of each task and every input channel, the
  // parts' sums of the products, added in order, make the 3x3 gradient
  // G' m G.
  void transformSumsToGradient() {
    kb_.loop(kb_.taskBegin(), kb_.taskEnd(), [&](llvm::Value* f) {
      if (bias_) {
        llvm::Value* at = ir_.CreateMul(f, kb_.i64(b_));
        kb_.storeVector(*bias_, at, addInOrder(kb_, parts_, [&](int64_t part) {
          return kb_.loadVector(id_, add(kb_, at, partStart(part) + productFloats_), b_);
        }));
      }
      kb_.rolledLoop(0, channels_, [&](llvm::Value* c) {
        Values m;
        for (int64_t p = 0; p < products_; ++p) {
          llvm::Value* at = ir_.CreateMul(kb_.index({kb_.i64(p), f, c}, {products_, blocks_, channels_}), kb_.i64(b_));
          m.push_back(addInOrder(kb_, parts_, [&](int64_t part) { return kb_.loadVector(id_, add(kb_, at, partStart(part)), b_); }));
        }
        // G' m of each product column, [column][row], then of each row of those.
        std::vector<Values> columns;
        for (int64_t column = 0; column < t_; ++column) {
          Values sums;
          for (int64_t row = 0; row < t_; ++row) sums.push_back(m[static_cast<size_t>(row * t_ + column)]);
          columns.push_back(transformSums(kb_, side_, sums));
        }
        for (size_t i = 0; i < 3; ++i) {
          Values sums;
          for (const Values& column : columns) sums.push_back(column[i]);
          const Values taps = transformSums(kb_, side_, sums);
          for (size_t j = 0; j < 3; ++j) {
            llvm::Value* at = kb_.index({f, c, kb_.i64(static_cast<int64_t>(i)), kb_.i64(static_cast<int64_t>(j))},
                                        {blocks_, channels_, 3, 3});
            kb_.storeVector(id_, ir_.CreateMul(at, kb_.i64(b_)), taps[j]);
          }
        }
      });
    });
  }

  // Where part `part`'s sums start in the node's buffer: after the gradient.
  int64_t partStart(int64_t part) const { return *elementCount(node_.type) + part * partFloats_; }

  // Where the stack buffers keep product p of the band's block `block`: of
  // the task's input channel `channel`; of filter block f (a vector).
  // Each product's floats are a cache line more than its blocks': the
  // transforms store a block's products at once, which at a multiple of
  // 4 KiB apart would all fall in one set of L1 (ResNet's
  // block2_conv2.weight.grad took 1.14 ms so, 0.94 ms without, in
  // alternating runs; block3_conv2's 0.89 and 0.82).
  int64_t inputStride() const { return bandBlocks_ * tile_.taskChannels + 16; }
  int64_t gradientStride() const { return bandBlocks_ * blocks_ * b_ + 16; }
  llvm::Value* inputAt(llvm::Value* product, llvm::Value* block, llvm::Value* channel) {
    return ir_.CreateAdd(ir_.CreateMul(product, kb_.i64(inputStride())),
                         ir_.CreateAdd(ir_.CreateMul(block, kb_.i64(tile_.taskChannels)), channel));
  }
  llvm::Value* gradientAt(llvm::Value* product, llvm::Value* block, llvm::Value* f) {
    return ir_.CreateAdd(ir_.CreateMul(product, kb_.i64(gradientStride())),
                         ir_.CreateMul(ir_.CreateAdd(ir_.CreateMul(block, kb_.i64(blocks_)), f), kb_.i64(b_)));
  }

  const Image dy_;
  const int64_t blocks_, channels_;
  const FilterGradientTile tile_;
  const int64_t FB_, CB_;
  const int64_t side_, t_;  // of its blocks of output gradients, and of inputs
  const FilterGradientBands bands_;
  const int64_t across_, bandBlocks_, parts_;
  const std::optional<ValueId> bias_;
  // Its products per pair of channels; the floats of their sums over all
  // pairs, and of a part in the workspace (those, then its bias sums).
  const int64_t products_, productFloats_, partFloats_;
  const std::optional<InlinedNorm> norm_;  // of the input, if inlined
  llvm::Value* inputs_ = nullptr;     // the band's transformed inputs [product][block][task channel]
  llvm::Value* gradients_ = nullptr;  // and output gradients [product][block][filter block][lane]
  llvm::Value* normalized_ = nullptr;  // an inlined norm's input rows [row][column][lane] (normalizeRows)
  // Of the task being emitted: its first input channel, and where its
  // part's sums start in the node's buffer (after the gradient).
  llvm::Value* c0_ = nullptr;
  llvm::Value* sums_ = nullptr;
};

}  // namespace

int64_t winogradFilterGradientPartFloats(const Graph& graph, const Node& node) {
  return winogradProductFloats(graph, node) + (fusedBiasGradient(graph, node) ? node.type.dims[0] : 0);
}

int64_t emitWinogradFilterGradient(KernelBuilder& kb, ValueId id) { return WinogradFilterGradient(kb, id).emit(); }

}  // namespace cnnc::blocked

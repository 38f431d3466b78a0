#include "compiler/codegen/winograd.h"

#include <algorithm>
#include <vector>

#include "ir/conv_algorithm.h"
#include "ir/fused_pooling.h"

namespace cnnc::blocked {
namespace {

// The one-dimensional transforms of F(m, 3) (m = 2 or 4), which the
// two-dimensional ones apply along the columns of a block, then along its
// rows; Lavin and Gray's, at the points 0, 1, -1 (and 2, -2) and infinity.
// Taps g0..g2 -> G g: m + 2 values.
//   m = 2: (g0, (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2, g2);
//   m = 4: (g0 / 4, -(g0 + g1 + g2) / 6, -(g0 - g1 + g2) / 6,
//           g0 / 24 + g1 / 12 + g2 / 6, g0 / 24 - g1 / 12 + g2 / 6, g2).
Values transformFilterTaps(KernelBuilder& kb, int64_t m, const Values& g) {
  auto& ir = kb.ir();
  llvm::Value* outer = ir.CreateFAdd(g[0], g[2]);
  if (m == 2) {
    llvm::Value* half = coefficient(g[0], 0.5);
    return {g[0], ir.CreateFMul(ir.CreateFAdd(outer, g[1]), half), ir.CreateFMul(ir.CreateFSub(outer, g[1]), half), g[2]};
  }
  llvm::Value* minusSixth = coefficient(g[0], -1.0 / 6);
  llvm::Value* even = kb.fma(g[0], coefficient(g[0], 1.0 / 24), ir.CreateFMul(g[2], coefficient(g[0], 1.0 / 6)));
  llvm::Value* odd = ir.CreateFMul(g[1], coefficient(g[0], 1.0 / 12));
  return {ir.CreateFMul(g[0], coefficient(g[0], 0.25)), ir.CreateFMul(ir.CreateFAdd(outer, g[1]), minusSixth),
          ir.CreateFMul(ir.CreateFSub(outer, g[1]), minusSixth), ir.CreateFAdd(even, odd), ir.CreateFSub(even, odd), g[2]};
}

// Inputs d0..d(m+1) -> B' d.
//   m = 2: (d0 - d2, d1 + d2, d2 - d1, d1 - d3);
//   m = 4: (4 d0 - 5 d2 + d4, d3 + d4 - 4 (d1 + d2), d4 - d3 + 4 (d1 - d2),
//           d4 - d2 + 2 (d3 - d1), d4 - d2 - 2 (d3 - d1), 4 d1 - 5 d3 + d5).
Values transformInputColumn(KernelBuilder& kb, int64_t m, const Values& d) {
  auto& ir = kb.ir();
  if (m == 2)
    return {ir.CreateFSub(d[0], d[2]), ir.CreateFAdd(d[1], d[2]), ir.CreateFSub(d[2], d[1]), ir.CreateFSub(d[1], d[3])};
  llvm::Value *four = coefficient(d[0], 4), *minusFive = coefficient(d[0], -5), *two = coefficient(d[0], 2);
  llvm::Value *outer = ir.CreateFSub(d[4], d[2]), *inner = ir.CreateFSub(d[3], d[1]);
  return {kb.fma(four, d[0], kb.fma(minusFive, d[2], d[4])),
          kb.fma(coefficient(d[0], -4), ir.CreateFAdd(d[1], d[2]), ir.CreateFAdd(d[3], d[4])),
          kb.fma(four, ir.CreateFSub(d[1], d[2]), ir.CreateFSub(d[4], d[3])),
          kb.fma(two, inner, outer),
          kb.fma(coefficient(d[0], -2), inner, outer),
          kb.fma(four, d[1], kb.fma(minusFive, d[3], d[5]))};
}

// Products p0..p(m+1) -> A' p: m values.
//   m = 2: (p0 + p1 + p2, p1 - p2 - p3);
//   m = 4: (p0 + (p1 + p2) + (p3 + p4), (p1 - p2) + 2 (p3 - p4),
//           (p1 + p2) + 4 (p3 + p4), (p1 - p2) + 8 (p3 - p4) + p5).
Values transformProducts(KernelBuilder& kb, int64_t m, const Values& p) {
  auto& ir = kb.ir();
  if (m == 2) return {ir.CreateFAdd(ir.CreateFAdd(p[0], p[1]), p[2]), ir.CreateFSub(ir.CreateFSub(p[1], p[2]), p[3])};
  llvm::Value *a = ir.CreateFAdd(p[1], p[2]), *b = ir.CreateFSub(p[1], p[2]);
  llvm::Value *c = ir.CreateFAdd(p[3], p[4]), *d = ir.CreateFSub(p[3], p[4]);
  return {ir.CreateFAdd(ir.CreateFAdd(p[0], a), c), kb.fma(coefficient(d, 2), d, b), kb.fma(coefficient(c, 4), c, a),
          ir.CreateFAdd(kb.fma(coefficient(d, 8), d, b), p[5])};
}

}  // namespace

int64_t winogradProductFloats(const Graph& graph, const Node& node) {
  const std::vector<int64_t>& w =
      node.op == Op::Conv2DBackwardFilter ? node.type.dims : graph.node(node.operands[1]).type.dims;
  return winogradProducts(winogradBlockSide(node)) * w[0] * w[1];
}

void transformInputRow(KernelBuilder& kb, int64_t side, int64_t count, int64_t lanes,
                       const std::function<Values(int64_t)>& column,
                       const std::function<void(llvm::Value*, int64_t, llvm::Value*)>& store) {
  const int64_t t = side + 2;
  // B' of each column into scratch as soon as it is loaded, then B' of each
  // block's rows of those, in a loop over the blocks that reads them back:
  // kept in registers, the row's columns (t x t vectors a block, of which
  // two carry over to the next) were more than AVX2's 16 and LLVM spilled
  // them, with the masks and constants besides (ResNet's block1 forward
  // kernels: 784 of the 2,057 instructions of a row of 4 blocks touched the
  // stack).
  llvm::Value* columns = kb.scratch((side * count + 2) * t * lanes);  // [column][row]
  auto columnAt = [&](llvm::Value* c, int64_t row) {
    return kb.ir().CreateMul(add(kb, kb.ir().CreateMul(c, kb.i64(t)), row), kb.i64(lanes));
  };
  for (int64_t c = 0; c < side * count + 2; ++c) {
    const Values v = transformInputColumn(kb, side, column(c));
    for (int64_t row = 0; row < t; ++row) kb.storeScratch(columns, columnAt(kb.i64(c), row), v[static_cast<size_t>(row)]);
  }
  kb.rolledLoop(0, count, [&](llvm::Value* q) {
    llvm::Value* firstColumn = kb.ir().CreateMul(q, kb.i64(side));
    for (int64_t row = 0; row < t; ++row) {
      Values d;
      for (int64_t j = 0; j < t; ++j) d.push_back(kb.loadScratch(columns, columnAt(add(kb, firstColumn, j), row), lanes));
      const Values v = transformInputColumn(kb, side, d);
      for (int64_t j = 0; j < t; ++j) store(q, row * t + j, v[static_cast<size_t>(j)]);
    }
  });
}

WinogradBlocks::WinogradBlocks(KernelBuilder& kb, ValueId id, const ForwardTile& tile, int64_t taskBlocks,
                               int64_t filterStart, std::vector<ValueId> later)
    : ConvolutionKernel(kb, id),
      w_(node_.operands[1]),
      y_(node_.type.dims),
      channels_(kb.dims(w_)[1]),
      outputBlocks_(y_[1] / b_),
      side_(winogradBlockSide(node_)),
      products_(winogradProducts(side_)),
      tile_(tile),
      FB_(tile.filterBlocks),
      groups_(taskBlocks / tile.filterBlocks),
      chunks_(channelPasses(kb.graph(), node_, tile)),
      filterStart_(filterStart),
      norm_(InlinedNorm::of(kb, node_.operands[0])),
      later_(std::move(later)) {}

int64_t WinogradBlocks::transformFilter() {
  // Filter vector (k, c, i, j) holds b output channels (OIhw{b}o); so does
  // transformed filter vector (k, product, c).
  kb_.loop(kb_.taskBegin(), kb_.taskEnd(), [&](llvm::Value* k) {
    kb_.rolledLoop(0, channels_, [&](llvm::Value* c) {
      std::vector<Values> columns;  // G g of filter column j, [j][row]
      for (int64_t j = 0; j < 3; ++j) {
        Values taps;
        for (int64_t i = 0; i < 3; ++i)
          taps.push_back(kb_.loadVector(
              w_, ir_.CreateMul(kb_.index({k, c, kb_.i64(i), kb_.i64(j)}, {outputBlocks_, channels_, 3, 3}), kb_.i64(b_)),
              b_));
        columns.push_back(transformFilterTaps(kb_, side_, taps));
      }
      const size_t t = static_cast<size_t>(side_ + 2);
      for (size_t row = 0; row < t; ++row) {
        const Values u = transformFilterTaps(kb_, side_, {columns[0][row], columns[1][row], columns[2][row]});
        for (size_t column = 0; column < t; ++column)
          kb_.storeVector(id_, filterAt(k, kb_.i64(static_cast<int64_t>(row * t + column)), c), u[column]);
      }
    });
  });
  return outputBlocks_;
}

void WinogradBlocks::rowBlock(const ForwardPass& pass, llvm::Value* oh, int64_t rows, const StoreOf& storeOf) {
  if (!inputs_) {
    const int64_t blocks = tile_.blockRows / side_ * (tile_.run / side_);
    inputs_ = kb_.scratch(blocks * products_ * tile_.channelChunk);
    sums_ = kb_.scratch(blocks * products_ * FB_ * b_);
  }
  // The row's blocks of outputs in runs of as even a length as fits.
  const int64_t across = (y_[3] + side_ - 1) / side_, most = tile_.run / side_;
  const int64_t runs = (across + most - 1) / most, run = (across + runs - 1) / runs;
  // The runs of that length in a loop, then the shorter one left, if any.
  const int64_t full = across / run;
  if (full > 1)
    kb_.rolledLoop(0, full, [&](llvm::Value* r) { blocks(pass, oh, rows / side_, ir_.CreateMul(r, kb_.i64(run)), run, storeOf); });
  else
    blocks(pass, oh, rows / side_, kb_.i64(0), run, storeOf);
  if (across % run != 0) blocks(pass, oh, rows / side_, kb_.i64(full * run), across % run, storeOf);
}

void WinogradBlocks::blocks(const ForwardPass& pass, llvm::Value* oh, int64_t down, llvm::Value* first, int64_t across,
                            const StoreOf& storeOf) {
  transformInputs(pass, oh, down, first, across);
  // Then each group of FB filter blocks, in a loop (one group: straight).
  auto group = [&](llvm::Value* g) {
    ForwardPass groupPass = pass;
    groupPass.firstBlock = ir_.CreateAdd(pass.firstBlock, ir_.CreateMul(g, kb_.i64(FB_)));
    productsAndOutputs(groupPass, oh, down, first, across, storeOf(groupPass));
  };
  if (groups_ == 1)
    group(kb_.i64(0));
  else
    kb_.rolledLoop(0, groups_, group);
}

void WinogradBlocks::productsAndOutputs(const ForwardPass& pass, llvm::Value* oh, int64_t down, llvm::Value* first,
                                        int64_t across, const OutputStore& store) {
  // The epilogue's operands requested before the products, as the direct
  // kernels request theirs (blocked_conv.h), a request a cache line (rows
  // and columns past the result's ask for its last): the data gradients'
  // fused relu gradient and residual, and into L2 the batch norm inputs
  // that their fused gamma gradients read after the task's rows (later_).
  // ResNet at batch 128 on AVX2, perf samples against the other
  // convolutions' in the same runs, 3 runs each: stem_bn.grad 0.101-0.109
  // -> 0.094-0.103 of theirs, block2_bn1.grad 0.068-0.073 -> 0.064-0.068,
  // block1_bn1.grad and block3_bn1.grad 2-3% fewer with the operands; with
  // the gamma gradients' inputs too, block1_bn1.grad 0.104-0.107 ->
  // 0.094-0.100, stem_bn.grad 0.107-0.111 -> 0.101-0.111, block2's and
  // block3's the same.
  std::vector<llvm::Value*> outputs;
  llvm::Value* left = ir_.CreateMul(first, kb_.i64(side_));
  for (int64_t k = 0; k < FB_; ++k)
    for (int64_t r = 0; r < down * side_; ++r)
      for (int64_t c = 0; c < across * side_; c += std::max<int64_t>(1, 16 / b_))
        outputs.push_back(outputIndex(pass, k, kb_.smin(add(kb_, oh, r), kb_.i64(y_[2] - 1)),
                                      kb_.smin(add(kb_, left, c), kb_.i64(y_[3] - 1))));
  // Where the epilogue reads nothing, the outputs' own lines, into L2: the
  // output transform stores them in bursts of (side x side) x FB vectors a
  // block, where the direct kernels store a register block right after its
  // FMAs. The forward kernels' samples against the filter gradients', 4
  // runs of each: block1_conv1 0.151-0.155 -> 0.129-0.140, block1_conv2
  // 0.143-0.150 -> 0.134-0.143, block2_conv2 0.115-0.123 -> 0.109-0.119,
  // block3_conv2 0.101-0.108 -> 0.097-0.105. The direct forward kernels
  // requesting theirs measured the same within the noise, a direct data
  // gradient (block1_out.grad) 6% slower, and the Winograd data gradients,
  // on top of their operands, 3-8% slower. Not with a fused pooling: the
  // seed's conv2d_2 (13x13 outputs, pooled, at batch 32) took 10-15% more
  // samples against its filter gradients' with them, in 6 runs against 4,
  // for a reason not found.
  prefetchFinishing(kb_, id_, later_, outputs, chunks_, pass.finishes, !fusedPooling(kb_.graph(), node_));
  multiply(pass, down * across);
  transformOutputs(pass, oh, down, first, across, store);
}

void WinogradBlocks::transformInputs(const ForwardPass& pass, llvm::Value* oh, int64_t down, llvm::Value* first,
                                     int64_t across) {
  // A row of blocks at a time (transformInputRow): inputs outside the image
  // load as zeros, under a mask (and stay zeros through an inlined batch
  // norm, which each vector inside goes through).
  auto within = [&](llvm::Value* at, int64_t size) {
    return ir_.CreateAnd(ir_.CreateICmpSGE(at, kb_.i64(0)), ir_.CreateICmpSLT(at, kb_.i64(size)));
  };
  llvm::Value* left = ir_.CreateSub(ir_.CreateMul(first, kb_.i64(side_)), kb_.i64(win_.padLeft));
  const int64_t t = side_ + 2;
  for (int64_t row = 0; row < down; ++row) {
    Values ih, rowInside;
    for (int64_t i = 0; i < t; ++i) {
      ih.push_back(add(kb_, oh, side_ * row + i - win_.padTop));
      rowInside.push_back(within(ih.back(), x_.dims[2]));
    }
    kb_.rolledLoop(0, tile_.channelChunk / b_, [&](llvm::Value* chunkOuter) {
      llvm::Value* outer = ir_.CreateAdd(pass.firstOuter, chunkOuter);
      std::optional<NormAffine> affine;
      if (norm_) affine = norm_->affine(kb_, outer, b_);
      // Each input row's columns lie at constant offsets from its first,
      // which the loads' addressing takes, where an index per column took
      // five integer instructions.
      Values rowStart;
      for (int64_t i = 0; i < t; ++i) rowStart.push_back(x_.index(kb_, pass.n, outer, ih[static_cast<size_t>(i)], left, kb_.i64(0)));
      transformInputRow(
          kb_, side_, across, b_,
          [&](int64_t c) {
            llvm::Value* columnInside = within(add(kb_, left, c), x_.dims[3]);
            Values d;
            for (size_t i = 0; i < static_cast<size_t>(t); ++i) {
              llvm::Value* inside =
                  ir_.CreateVectorSplat(static_cast<unsigned>(b_), ir_.CreateAnd(rowInside[i], columnInside));
              llvm::Value* v = kb_.loadVector(x_.id, add(kb_, rowStart[i], c * x_.block), b_, inside);
              if (norm_) v = norm_->apply(kb_, *affine, v, inside);
              d.push_back(v);
            }
            return d;
          },
          [&](llvm::Value* q, int64_t product, llvm::Value* v) {
            kb_.storeScratch(inputs_, inputAt(add(kb_, q, row * across), kb_.i64(product), ir_.CreateMul(chunkOuter, kb_.i64(b_))), v);
          });
    });
  }
}

void WinogradBlocks::multiply(const ForwardPass& pass, int64_t count) {
  kb_.rolledLoop(0, products_, [&](llvm::Value* product) {
    Accumulators acc(kb_, static_cast<size_t>(FB_ * count), [&](size_t) { return kb_.f32(0.0); });
    // Rolled: the body's FB x count FMAs keep the cores busy, and LLVM's
    // unrolling of it only lengthened compiling.
    kb_.rolledLoop(0, tile_.channelChunk, [&](llvm::Value* c) {
      llvm::Value* channel = ir_.CreateAdd(ir_.CreateMul(pass.firstOuter, kb_.i64(b_)), c);
      std::vector<llvm::Value*> filters;
      for (int64_t k = 0; k < FB_; ++k)
        filters.push_back(kb_.loadVector(id_, filterAt(add(kb_, pass.firstBlock, k), product, channel), b_));
      for (int64_t block = 0; block < count; ++block) {
        llvm::Value* input = kb_.splat(kb_.loadScratch(inputs_, inputAt(kb_.i64(block), product, c), 1), b_);
        for (int64_t k = 0; k < FB_; ++k)
          acc.fma(static_cast<size_t>(k * count + block), input, filters[static_cast<size_t>(k)]);
      }
    });
    for (int64_t block = 0; block < count; ++block)
      for (int64_t k = 0; k < FB_; ++k)
        kb_.storeScratch(sums_, sumAt(kb_.i64(block), product, k), acc.get(static_cast<size_t>(k * count + block)));
  });
}

void WinogradBlocks::transformOutputs(const ForwardPass& pass, llvm::Value* oh, int64_t down, llvm::Value* first,
                                      int64_t across, const OutputStore& store) {
  // A block at a time, in a loop: unrolled over the register block's
  // blocks, this code made most of the kernel's, and of its compile time.
  kb_.rolledLoop(0, down * across, [&](llvm::Value* block) {
    const auto [top, left] = corner(oh, first, across, block);
    const int64_t t = side_ + 2;
    for (int64_t k = 0; k < FB_; ++k) {
      std::vector<Values> rows;  // A' m of product row a, [a][column]
      for (int64_t row = 0; row < t; ++row) {
        Values m;
        for (int64_t column = 0; column < t; ++column)
          m.push_back(kb_.loadScratch(sums_, sumAt(block, kb_.i64(row * t + column), k), b_));
        rows.push_back(transformProducts(kb_, side_, m));
      }
      for (int64_t column = 0; column < side_; ++column) {
        Values m;
        for (const Values& row : rows) m.push_back(row[static_cast<size_t>(column)]);
        const Values y = transformProducts(kb_, side_, m);
        llvm::Value* ow = add(kb_, left, column);
        for (int64_t row = 0; row < side_; ++row) {
          llvm::Value* ohRow = add(kb_, top, row);
          auto storeOutput = [&] {
            llvm::Value* at = outputIndex(pass, k, ohRow, ow);
            llvm::Value* sum = y[static_cast<size_t>(row)];
            // Passes after the first add the partial sums of those before.
            if (chunks_ > 1)
              sum = ir_.CreateSelect(pass.resumes, ir_.CreateFAdd(sum, kb_.loadVector(id_, at, b_)), sum);
            store(k, at, sum);
          };
          // The last block's rows and columns from the remainder of the
          // rows or columns by the side on may lie past them.
          llvm::Value* inside = kb_.ir().getTrue();
          if (mayLiePast(y_[2], side_, row)) inside = ir_.CreateICmpSLT(ohRow, kb_.i64(y_[2]));
          if (mayLiePast(y_[3], side_, column)) inside = ir_.CreateAnd(inside, ir_.CreateICmpSLT(ow, kb_.i64(y_[3])));
          if (inside == kb_.ir().getTrue())
            storeOutput();
          else
            kb_.when(inside, storeOutput);
        }
      }
    }
  });
}

llvm::Value* WinogradBlocks::filterAt(llvm::Value* k, llvm::Value* product, llvm::Value* channel) {
  llvm::Value* at = kb_.index({k, product, channel}, {outputBlocks_, products_, channels_});
  return add(kb_, ir_.CreateMul(at, kb_.i64(b_)), filterStart_);
}

std::pair<llvm::Value*, llvm::Value*> WinogradBlocks::corner(llvm::Value* oh, llvm::Value* first, int64_t across,
                                                             llvm::Value* block) {
  llvm::Value* row = ir_.CreateAdd(oh, ir_.CreateMul(ir_.CreateSDiv(block, kb_.i64(across)), kb_.i64(side_)));
  return {row, ir_.CreateMul(ir_.CreateAdd(ir_.CreateSRem(block, kb_.i64(across)), first), kb_.i64(side_))};
}

llvm::Value* WinogradBlocks::inputAt(llvm::Value* block, llvm::Value* product, llvm::Value* channel) {
  return ir_.CreateAdd(ir_.CreateMul(ir_.CreateAdd(ir_.CreateMul(block, kb_.i64(products_)), product), kb_.i64(tile_.channelChunk)),
                       channel);
}

llvm::Value* WinogradBlocks::sumAt(llvm::Value* block, llvm::Value* product, int64_t k) {
  llvm::Value* at = ir_.CreateAdd(ir_.CreateMul(block, kb_.i64(products_)), product);
  return ir_.CreateMul(add(kb_, ir_.CreateMul(at, kb_.i64(FB_)), k), kb_.i64(b_));
}

llvm::Value* WinogradBlocks::outputIndex(const ForwardPass& pass, int64_t k, llvm::Value* row, llvm::Value* column) {
  llvm::Value* at = kb_.index({pass.n, add(kb_, pass.firstBlock, k), row, column}, {y_[0], outputBlocks_, y_[2], y_[3]});
  return ir_.CreateMul(at, kb_.i64(b_));
}

}  // namespace cnnc::blocked

#include "compiler/codegen/winograd.h"

#include <array>
#include <vector>

namespace cnnc::blocked {
namespace {

// The 4x4 products of a block: product p is row p / 4, column p % 4.
constexpr int64_t kProducts = 16;

// The one-dimensional transforms of F(2, 3), which the two-dimensional ones
// apply along the columns of a block, then along its rows.
// Taps g0..g2 -> G g = (g0, (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2, g2).
std::array<llvm::Value*, 4> transformFilterTaps(KernelBuilder& kb, const std::array<llvm::Value*, 3>& g) {
  auto& ir = kb.ir();
  llvm::Value* half = kb.splat(kb.f32(0.5), kb.width());
  llvm::Value* outer = ir.CreateFAdd(g[0], g[2]);
  return {g[0], ir.CreateFMul(ir.CreateFAdd(outer, g[1]), half), ir.CreateFMul(ir.CreateFSub(outer, g[1]), half), g[2]};
}

// Inputs d0..d3 -> B' d = (d0 - d2, d1 + d2, d2 - d1, d1 - d3).
std::array<llvm::Value*, 4> transformInputColumn(llvm::IRBuilder<>& ir, const std::array<llvm::Value*, 4>& d) {
  return {ir.CreateFSub(d[0], d[2]), ir.CreateFAdd(d[1], d[2]), ir.CreateFSub(d[2], d[1]), ir.CreateFSub(d[1], d[3])};
}

// Products m0..m3 -> A' m = (m0 + m1 + m2, m1 - m2 - m3).
std::array<llvm::Value*, 2> transformProducts(llvm::IRBuilder<>& ir, const std::array<llvm::Value*, 4>& m) {
  return {ir.CreateFAdd(ir.CreateFAdd(m[0], m[1]), m[2]), ir.CreateFSub(ir.CreateFSub(m[1], m[2]), m[3])};
}

}  // namespace

int64_t winogradProductFloats(const Graph& graph, const Node& node) {
  const std::vector<int64_t>& w =
      node.op == Op::Conv2DBackwardFilter ? node.type.dims : graph.node(node.operands[1]).type.dims;
  return kProducts * w[0] * w[1];
}

void transformInputRow(llvm::IRBuilder<>& ir, int64_t count,
                       const std::function<std::array<llvm::Value*, 4>(int64_t)>& column,
                       const std::function<void(int64_t, int64_t, llvm::Value*)>& store) {
  std::vector<std::array<llvm::Value*, 4>> columns;  // B' d of input column c, [c][row]
  for (int64_t c = 0; c < 2 * count + 2; ++c) columns.push_back(transformInputColumn(ir, column(c)));
  for (int64_t q = 0; q < count; ++q)
    for (size_t row = 0; row < 4; ++row) {
      const auto at = [&](int64_t j) { return columns[static_cast<size_t>(2 * q + j)][row]; };
      const std::array<llvm::Value*, 4> v = transformInputColumn(ir, {at(0), at(1), at(2), at(3)});
      for (size_t j = 0; j < 4; ++j) store(q, static_cast<int64_t>(row * 4 + j), v[j]);
    }
}

WinogradBlocks::WinogradBlocks(KernelBuilder& kb, ValueId id, const ForwardTile& tile, int64_t filterStart)
    : ConvolutionKernel(kb, id),
      w_(node_.operands[1]),
      y_(node_.type.dims),
      channels_(kb.dims(w_)[1]),
      outputBlocks_(y_[1] / b_),
      tile_(tile),
      FB_(tile.filterBlocks),
      chunks_(channels_ / tile.channelChunk),
      filterStart_(filterStart) {}

int64_t WinogradBlocks::transformFilter() {
  // Filter vector (k, c, i, j) holds b output channels (OIhw{b}o); so does
  // transformed filter vector (k, product, c).
  kb_.loop(kb_.taskBegin(), kb_.taskEnd(), [&](llvm::Value* k) {
    kb_.rolledLoop(0, channels_, [&](llvm::Value* c) {
      std::array<std::array<llvm::Value*, 4>, 3> columns;  // G g of filter column j, [j][row]
      for (int64_t j = 0; j < 3; ++j) {
        std::array<llvm::Value*, 3> taps;
        for (int64_t i = 0; i < 3; ++i)
          taps[static_cast<size_t>(i)] = kb_.loadVector(
              w_, ir_.CreateMul(kb_.index({k, c, kb_.i64(i), kb_.i64(j)}, {outputBlocks_, channels_, 3, 3}), kb_.i64(b_)),
              b_);
        columns[static_cast<size_t>(j)] = transformFilterTaps(kb_, taps);
      }
      for (size_t row = 0; row < 4; ++row) {
        const std::array<llvm::Value*, 4> u = transformFilterTaps(kb_, {columns[0][row], columns[1][row], columns[2][row]});
        for (size_t column = 0; column < 4; ++column)
          kb_.storeVector(id_, filterAt(k, kb_.i64(static_cast<int64_t>(row * 4 + column)), c), u[column]);
      }
    });
  });
  return outputBlocks_;
}

void WinogradBlocks::rowBlock(const ForwardPass& pass, llvm::Value* oh, int64_t rows, const Store& store) {
  if (!inputs_) {
    const int64_t blocks = tile_.blockRows / 2 * (tile_.run / 2);
    inputs_ = kb_.scratch(blocks * kProducts * tile_.channelChunk);
    sums_ = kb_.scratch(blocks * kProducts * FB_ * b_);
  }
  // The row's blocks of outputs in runs of as even a length as fits.
  const int64_t across = (y_[3] + 1) / 2, most = tile_.run / 2;
  const int64_t runs = (across + most - 1) / most, run = (across + runs - 1) / runs;
  // The runs of that length in a loop, then the shorter one left, if any.
  const int64_t full = across / run;
  if (full > 1)
    kb_.rolledLoop(0, full, [&](llvm::Value* r) { blocks(pass, oh, rows / 2, ir_.CreateMul(r, kb_.i64(run)), run, store); });
  else
    blocks(pass, oh, rows / 2, kb_.i64(0), run, store);
  if (across % run != 0) blocks(pass, oh, rows / 2, kb_.i64(full * run), across % run, store);
}

void WinogradBlocks::blocks(const ForwardPass& pass, llvm::Value* oh, int64_t down, llvm::Value* first, int64_t across,
                            const Store& store) {
  transformInputs(pass, oh, down, first, across);
  multiply(pass, down * across);
  transformOutputs(pass, oh, down, first, across, store);
}

void WinogradBlocks::transformInputs(const ForwardPass& pass, llvm::Value* oh, int64_t down, llvm::Value* first,
                                     int64_t across) {
  // A row of blocks at a time (transformInputRow): inputs outside the image
  // load as zeros, under a mask.
  auto within = [&](llvm::Value* at, int64_t size) {
    return ir_.CreateAnd(ir_.CreateICmpSGE(at, kb_.i64(0)), ir_.CreateICmpSLT(at, kb_.i64(size)));
  };
  llvm::Value* left = ir_.CreateSub(ir_.CreateMul(first, kb_.i64(2)), kb_.i64(win_.padLeft));
  for (int64_t row = 0; row < down; ++row) {
    std::array<llvm::Value*, 4> ih, rowInside;
    for (size_t i = 0; i < 4; ++i) {
      ih[i] = add(kb_, oh, 2 * row + static_cast<int64_t>(i) - win_.padTop);
      rowInside[i] = within(ih[i], x_.dims[2]);
    }
    kb_.rolledLoop(0, tile_.channelChunk / b_, [&](llvm::Value* chunkOuter) {
      llvm::Value* outer = ir_.CreateAdd(pass.firstOuter, chunkOuter);
      transformInputRow(
          ir_, across,
          [&](int64_t c) {
            llvm::Value* iw = add(kb_, left, c);
            llvm::Value* columnInside = within(iw, x_.dims[3]);
            std::array<llvm::Value*, 4> d;
            for (size_t i = 0; i < 4; ++i) {
              llvm::Value* inside =
                  ir_.CreateVectorSplat(static_cast<unsigned>(b_), ir_.CreateAnd(rowInside[i], columnInside));
              d[i] = kb_.loadVector(x_.id, x_.index(kb_, pass.n, outer, ih[i], iw, kb_.i64(0)), b_, inside);
            }
            return d;
          },
          [&](int64_t q, int64_t product, llvm::Value* v) {
            kb_.storeScratch(inputs_, inputAt(kb_.i64(row * across + q), kb_.i64(product), ir_.CreateMul(chunkOuter, kb_.i64(b_))), v);
          });
    });
  }
}

void WinogradBlocks::multiply(const ForwardPass& pass, int64_t count) {
  kb_.rolledLoop(0, kProducts, [&](llvm::Value* product) {
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
                                      int64_t across, const Store& store) {
  // A block at a time, in a loop: unrolled over the register block's
  // blocks, this code made most of the kernel's, and of its compile time.
  kb_.rolledLoop(0, down * across, [&](llvm::Value* block) {
    const auto [top, left] = corner(oh, first, across, block);
    for (int64_t k = 0; k < FB_; ++k) {
      std::array<std::array<llvm::Value*, 2>, 4> rows;  // A' m of product row a, [a][column]
      for (size_t row = 0; row < 4; ++row) {
        std::array<llvm::Value*, 4> m;
        for (size_t column = 0; column < 4; ++column)
          m[column] = kb_.loadScratch(sums_, sumAt(block, kb_.i64(static_cast<int64_t>(row * 4 + column)), k), b_);
        rows[row] = transformProducts(ir_, m);
      }
      for (size_t column = 0; column < 2; ++column) {
        const std::array<llvm::Value*, 2> y = transformProducts(ir_, {rows[0][column], rows[1][column], rows[2][column], rows[3][column]});
        llvm::Value* ow = add(kb_, left, static_cast<int64_t>(column));
        for (size_t row = 0; row < 2; ++row) {
          llvm::Value* ohRow = add(kb_, top, static_cast<int64_t>(row));
          auto storeOutput = [&] {
            llvm::Value* at = outputIndex(pass, k, ohRow, ow);
            llvm::Value* sum = y[row];
            // Passes after the first add the partial sums of those before.
            if (chunks_ > 1)
              sum = ir_.CreateSelect(pass.resumes, ir_.CreateFAdd(sum, kb_.loadVector(id_, at, b_)), sum);
            store(k, at, sum);
          };
          // The second row and column of a block may lie past an odd
          // number of rows or columns.
          llvm::Value* inside = kb_.ir().getTrue();
          if (row == 1 && y_[2] % 2 != 0) inside = ir_.CreateICmpSLT(ohRow, kb_.i64(y_[2]));
          if (column == 1 && y_[3] % 2 != 0) inside = ir_.CreateAnd(inside, ir_.CreateICmpSLT(ow, kb_.i64(y_[3])));
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
  llvm::Value* at = kb_.index({k, product, channel}, {outputBlocks_, kProducts, channels_});
  return add(kb_, ir_.CreateMul(at, kb_.i64(b_)), filterStart_);
}

std::pair<llvm::Value*, llvm::Value*> WinogradBlocks::corner(llvm::Value* oh, llvm::Value* first, int64_t across,
                                                             llvm::Value* block) {
  llvm::Value* row = ir_.CreateAdd(oh, ir_.CreateMul(ir_.CreateSDiv(block, kb_.i64(across)), kb_.i64(2)));
  return {row, ir_.CreateMul(ir_.CreateAdd(ir_.CreateSRem(block, kb_.i64(across)), first), kb_.i64(2))};
}

llvm::Value* WinogradBlocks::inputAt(llvm::Value* block, llvm::Value* product, llvm::Value* channel) {
  return ir_.CreateAdd(ir_.CreateMul(ir_.CreateAdd(ir_.CreateMul(block, kb_.i64(kProducts)), product), kb_.i64(tile_.channelChunk)),
                       channel);
}

llvm::Value* WinogradBlocks::sumAt(llvm::Value* block, llvm::Value* product, int64_t k) {
  llvm::Value* at = ir_.CreateAdd(ir_.CreateMul(block, kb_.i64(kProducts)), product);
  return ir_.CreateMul(add(kb_, ir_.CreateMul(at, kb_.i64(FB_)), k), kb_.i64(b_));
}

llvm::Value* WinogradBlocks::outputIndex(const ForwardPass& pass, int64_t k, llvm::Value* row, llvm::Value* column) {
  llvm::Value* at = kb_.index({pass.n, add(kb_, pass.firstBlock, k), row, column}, {y_[0], outputBlocks_, y_[2], y_[3]});
  return ir_.CreateMul(at, kb_.i64(b_));
}

}  // namespace cnnc::blocked

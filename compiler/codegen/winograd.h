// The Winograd kernels of a blocked conv2d (ir/conv_algorithm.h): F(m x m,
// 3x3), m = 2 or 4, after Lavin and Gray, "Fast Algorithms for
// Convolutional Neural Networks" (2016). An (m + 2)^2 block of inputs d and
// the 3x3 filter g of a pair of input and output channels make the m x m
// outputs A' ((G g G') . (B' d B)) A, where . multiplies elementwise:
// (m + 2)^2 products (16 or 36) where the direct kernel takes 9 m^2 (36 or
// 144), summed over the input channels before the output transform, which
// then runs once per output channel.
//
// The kernel is the forward kernel's (emit_conv_blocked_forward.cpp), tasks,
// chunks of input channels and fused epilogues alike, with this class's
// register blocks in place of the direct ones, and a first phase that
// transforms the filter, G g G', into the node's workspace: each of the
// products of each input channel is a vector of b output channels there.
// A register block is FB filter blocks x a few blocks of m x m outputs
// (the tile's blockRows / m down, a run of run / m across). For each input
// block of the pass it transforms the block's inputs, B' d B (vectors of b
// input channels), into a stack buffer; then, for each group of FB of the
// task's filter blocks in turn (forwardTaskBlocks, conv_tiles.h), for each
// product it sums the input channels in FB x blocks accumulators, each
// broadcast transformed input feeding FB FMAs, into a second buffer, and
// transforms each output block's products into its m x m outputs. The
// groups share the transformed inputs, so that FB can be small and the
// blocks many, each filter vector (from L2) feeding that many FMAs.
#pragma once

#include <functional>
#include <optional>
#include <vector>

#include "compiler/codegen/blocked_conv.h"
#include "compiler/conv_tiles.h"

namespace cnnc::blocked {

// Vectors of a transform, in order.
using Values = std::vector<llvm::Value*>;

// Coefficient c of a transform, splat to the vector type of v.
inline llvm::Value* coefficient(llvm::Value* v, double c) { return llvm::ConstantFP::get(v->getType(), c); }

// Whether row (or column) i of blocks of `side` may lie past an `extent`
// that they cover: in the last block, from the remainder on, if any.
inline bool mayLiePast(int64_t extent, int64_t side, int64_t i) { return extent % side != 0 && i >= extent % side; }

// The floats of the products per pair of input and output channels of
// Winograd conv2d or conv2d_bwd_filter `node`: the conv2d's transformed
// filter, one part's sums of a filter gradient's products.
int64_t winogradProductFloats(const Graph& graph, const Node& node);

// The (side + 2)^2 products B' d B of each of a row of `count` blocks of
// inputs that side x side blocks of outputs (or output gradients) side by
// side read: B' of each of the row's side count + 2 input columns once,
// `column(c)` (its side + 2 vectors of `lanes`, top to bottom), since
// neighbouring blocks share two, into a scratch array of the stack (as
// many vectors again), then of each block's rows of those; store(q, p, v)
// takes product p (row p / (side + 2), column p % (side + 2)) of block q
// (an i64: the blocks are a loop).
void transformInputRow(KernelBuilder& kb, int64_t side, int64_t count, int64_t lanes,
                       const std::function<Values(int64_t)>& column,
                       const std::function<void(llvm::Value*, int64_t, llvm::Value*)>& store);

// The floats of one part of the batch in the workspace of Winograd
// conv2d_bwd_filter `node`: its products' sums (winogradProductFloats),
// then those of its output gradients if a bias gradient is fused into it.
int64_t winogradFilterGradientPartFloats(const Graph& graph, const Node& node);

// The Winograd kernel of a blocked conv2d_bwd_filter, F(3x3, 2x2)
// (winograd_filter_gradient.cpp). Returns its last phase's tasks.
int64_t emitWinogradFilterGradient(KernelBuilder& kb, ValueId id);

class WinogradBlocks : ConvolutionKernel {
 public:
  // The store of each group of FB filter blocks: for a pass whose
  // firstBlock is the group's first.
  using StoreOf = std::function<OutputStore(const ForwardPass&)>;

  // For node `id` under `tile`, in tasks of `taskBlocks` output blocks, its
  // transformed filter from element `filterStart` of its buffer (in the
  // workspace); `later`, the values it reads at its outputs once a task's
  // rows are done (FusedSums::operands).
  WinogradBlocks(KernelBuilder& kb, ValueId id, const ForwardTile& tile, int64_t taskBlocks, int64_t filterStart,
                 std::vector<ValueId> later);

  // Emits the kernel's first phase, which transforms the filter; returns
  // its tasks (one per output-channel block).
  int64_t transformFilter();

  // Output rows [oh, oh + rows) (rows a multiple of the blocks' side; the
  // last may lie past the result's, which it skips) of the task's filter
  // blocks from the pass's firstBlock, stored by storeOf(the group's pass).
  void rowBlock(const ForwardPass& pass, llvm::Value* oh, int64_t rows, const StoreOf& storeOf);

 private:
  // The register block of `down` x `across` blocks of outputs from row oh
  // and block column `first` (a run-time value).
  void blocks(const ForwardPass& pass, llvm::Value* oh, int64_t down, llvm::Value* first, int64_t across,
              const StoreOf& storeOf);
  void transformInputs(const ForwardPass& pass, llvm::Value* oh, int64_t down, llvm::Value* first, int64_t across);
  // The products and outputs of the register block's blocks for the pass's
  // FB filter blocks (one group), from the transformed inputs.
  void productsAndOutputs(const ForwardPass& pass, llvm::Value* oh, int64_t down, llvm::Value* first, int64_t across,
                          const OutputStore& store);
  void multiply(const ForwardPass& pass, int64_t count);
  void transformOutputs(const ForwardPass& pass, llvm::Value* oh, int64_t down, llvm::Value* first, int64_t across,
                        const OutputStore& store);
  // Where the workspace keeps the vector of filter block k's transformed
  // filter for product `product` and input channel `channel`.
  llvm::Value* filterAt(llvm::Value* k, llvm::Value* product, llvm::Value* channel);
  // The first output row and column of block `block` of such a register
  // block (numbered by row, then column).
  std::pair<llvm::Value*, llvm::Value*> corner(llvm::Value* oh, llvm::Value* first, int64_t across, llvm::Value* block);
  // Where the stack buffers keep the register block's block `block`,
  // product `product`: input channel `channel` of the chunk, and the sums of
  // filter block k.
  llvm::Value* inputAt(llvm::Value* block, llvm::Value* product, llvm::Value* channel);
  llvm::Value* sumAt(llvm::Value* block, llvm::Value* product, int64_t k);
  llvm::Value* outputIndex(const ForwardPass& pass, int64_t k, llvm::Value* row, llvm::Value* column);

  const ValueId w_;
  const std::vector<int64_t>& y_;
  const int64_t channels_, outputBlocks_;
  const int64_t side_, products_;  // of its blocks of outputs
  const ForwardTile tile_;
  const int64_t FB_, groups_, chunks_, filterStart_;
  const std::optional<InlinedNorm> norm_;  // of the input, if inlined
  const std::vector<ValueId> later_;
  // The stack buffers (in the function of the kernel's tasks, made by its
  // first register block): transformed inputs [block][product][chunk
  // channel], and sums [block][product][filter block][lane].
  llvm::Value* inputs_ = nullptr;
  llvm::Value* sums_ = nullptr;
};

}  // namespace cnnc::blocked

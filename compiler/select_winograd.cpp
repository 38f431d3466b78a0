// Winograd selection (ir/conv_algorithm.h). Algorithm: every conv2d and
// conv2d_bwd_filter a Winograd kernel applies to and pays on gets
// algorithm=winograd4x4 (where blocks of 4x4 outputs, or output gradients,
// take fewer products than blocks of 2x2 would) or algorithm=winograd,
// unless it has one.
#include "compiler/graph_rebuilder.h"
#include "compiler/conv_tiles.h"
#include "compiler/passes.h"
#include "ir/conv_algorithm.h"

namespace cnnc {
namespace {

// The multiplications of the direct kernel along one axis of the window
// (3 taps, stride 1), per input and output channel: the taps that read
// inside the input, summed over the outputs. It skips the others.
int64_t insideTaps(int64_t outputs, int64_t inputs, int64_t pad) {
  int64_t taps = 0;
  for (int64_t o = 0; o < outputs; ++o)
    for (int64_t j = 0; j < 3; ++j) taps += o - pad + j >= 0 && o - pad + j < inputs ? 1 : 0;
  return taps;
}

// The batch from which the Winograd kernel pays: below it, transforming
// the filter at every call, and tasks of fewer images, cost more than the
// products save. Measured on the seed model's inference (2 threads, this
// project's machine), the Winograd kernel's time over the direct one's by
// batch, of its second layer (13x13 outputs) and its third (4x4):
//   batch     1     2     4     8     16    32
//   second  1.72  1.33  1.07  1.07  1.09  0.81
//   third   3.07  2.38  1.76  1.43  1.27  0.88
// At batch 1 the whole inference ran at 8,200 images/s with them, 14,000
// without.
constexpr int64_t kMinBatch = 32;

// What the Winograd kernel of `node` cuts into blocks: its result, or a
// filter gradient's output gradient.
const std::vector<int64_t>& blockedDims(const Graph& graph, const Node& node) {
  return node.op == Op::Conv2DBackwardFilter ? graph.node(node.operands[1]).type.dims : node.type.dims;
}

// An image's blocks of side x side of y (the last ones of a remainder
// whole), and their products.
int64_t blocks(const std::vector<int64_t>& y, int64_t side) {
  return (y[2] + side - 1) / side * ((y[3] + side - 1) / side);
}
int64_t products(const std::vector<int64_t>& y, int64_t side) { return blocks(y, side) * winogradProducts(side); }

// The fewest blocks of 4x4 outputs an image has for F(4x4, 3x3): its
// register blocks hold a filter block's sums of an image's blocks, and with
// one block they ran slower than F(2x2, 3x3)'s of four (the seed model's
// third layer, 4x4 outputs, batch 32: 0.116 ms against 0.073).
constexpr int64_t kMinBlocks4x4 = 4;

// The side of the blocks a Winograd kernel of a result (or output
// gradient) y would make: 4 where F(4x4, 3x3) (F(3x3, 4x4)) takes fewer
// products than F(2x2, 3x3), whose 2D transforms cost fewer additions per
// product, on images of kMinBlocks4x4 blocks or more. Filter gradients
// with blocks of 4x4 measured faster on every layer where it applies (AMD
// EPYC, batch 128, alternating runs: ResNet's 16-channel block1 1.37 ->
// 1.03-1.08 ms, by the direct kernel before; block2_conv2 0.93 -> 0.71,
// block3_conv2 0.72 -> 0.69; VGG's step 48.4 -> 46.7 ms; the seed's
// second layer at batch 32 0.29 -> 0.26 ms).
int64_t blockSide(const std::vector<int64_t>& y) {
  return blocks(y, 4) >= kMinBlocks4x4 && products(y, 4) < products(y, 2) ? 4 : 2;
}

// A Winograd kernel pays where
// - the batch is kMinBatch or more;
// - F(2x2, 3x3)'s: each transformed input it broadcasts feeds two filter
//   blocks or more (output channels of two vectors or more). With one,
//   every FMA of its sums needs a broadcast of its own, where the direct
//   kernel's feed three filter columns, and the transforms cost as much as
//   the products save: measured on this project's machine (Sapphire
//   Rapids, batch 128), the Winograd kernel of 16-channel layers of 32x32
//   images ran 0.95-1.05 times the direct one's time, and 0.75-0.9 of it at
//   32 and 64 channels. F(4x4, 3x3) pays with one (AMD EPYC, ResNet's
//   16-channel block1 at batch 128, alternating runs: forward 1.25-1.30 ->
//   1.02-1.06 ms, data gradients 1.38-1.45 -> 1.26 ms and 1.6-1.7 -> 1.42);
// - and its products are at most two thirds of the direct kernel's
//   multiplications. Where most of the window reads padding, the direct
//   kernel skips it, the Winograd kernel does not: the seed model's third
//   layer's data gradient (6x6 from 4x4, pads of 2, equal counts with
//   F(2x2, 3x3)) ran 1.4-1.6 times slower.
//
// A filter gradient is priced the same way, over the convolution's window:
// its products per block of output gradients against the direct kernel's
// multiplications, each transformed input broadcast feeding its filter
// blocks. Its kernel also stores the sums of the products of every pair of
// channels once per part of the batch (kEnoughTasks parts by default) and
// adds them up at the end: it pays from kMinPartBlocks blocks a part, of
// either side. The seed model's third layer at batch 32, 16 blocks of 2x2
// a part, ran 0.106 ms with F(3x3, 2x2), 0.088 without; its second, 196,
// 0.414 and 0.447. And it keeps a band's transforms on the stack: only
// where one row of blocks fits kMaxWinogradBandBytes (wide images of many
// channels do not).
constexpr int64_t kMinPartBlocks = 64;

bool pays(const Graph& graph, const Node& node, const Target& target, int64_t side) {
  const std::vector<int64_t>& x = graph.node(node.operands[0]).type.dims;
  const std::vector<int64_t>& y = blockedDims(graph, node);
  const IntList pads = *getInts(node.attrs, "pads");
  const int64_t direct = insideTaps(y[2], x[2], pads[0]) * insideTaps(y[3], x[3], pads[1]);
  const bool gradient = node.op == Op::Conv2DBackwardFilter;
  const bool manyBlocks = !gradient || blocks(y, side) * ((y[0] + kEnoughTasks - 1) / kEnoughTasks) >= kMinPartBlocks;
  return y[0] >= kMinBatch && y[1] >= (side == 4 ? 1 : 2) * target.vectorWidth && 3 * products(y, side) <= 2 * direct &&
         manyBlocks && (!gradient || winogradBandsFit(graph, node, side));
}

}  // namespace

Status selectWinograd(Graph& graph, const PassContext& context) {
  return addAttributes(graph, [&](ValueId id) {
    const Node& node = graph.node(id);
    AttributeMap added;
    const bool convolution = node.op == Op::Conv2D || node.op == Op::Conv2DBackwardFilter;
    if (!convolution || node.attrs.contains(kAlgorithmAttr) || !winogradApplies(graph, node)) return added;
    // Blocks of 2x2 where those of 4x4 would not pay (a filter gradient's
    // parts of too few blocks).
    for (int64_t candidate : {blockSide(blockedDims(graph, node)), int64_t{2}})
      if (pays(graph, node, context.target, candidate)) {
        added[std::string(kAlgorithmAttr)] = Symbol{std::string(candidate == 4 ? kWinograd4x4 : kWinograd)};
        break;
      }
    return added;
  });
}

}  // namespace cnnc

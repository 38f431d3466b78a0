#include "compiler/codegen/workspace.h"

#include <algorithm>

#include "compiler/codegen/blocked_conv.h"
#include "compiler/codegen/channel_sums.h"
#include "compiler/codegen/fused_sums.h"
#include "compiler/codegen/winograd.h"
#include "compiler/conv_tiles.h"
#include "ir/conv_algorithm.h"
#include "ir/fused_bias_gradient.h"
#include "ir/layout.h"

namespace cnnc {

int64_t imageParts(const Graph& graph, ValueId image) {
  const TensorType& type = graph.node(image).type;
  const int64_t groups = type.dims[1] / layoutBlock(type.layout);
  return std::min(type.dims[0], (kEnoughTasks + groups - 1) / groups);
}

std::pair<llvm::Value*, llvm::Value*> imagesOfPart(KernelBuilder& kb, llvm::Value* part, int64_t parts,
                                                   int64_t images) {
  const int64_t size = partImages(images, parts);
  llvm::Value* begin = kb.ir().CreateMul(part, kb.i64(size));
  return {begin, kb.smin(kb.ir().CreateAdd(begin, kb.i64(size)), kb.i64(images))};
}

llvm::Value* addInOrder(KernelBuilder& kb, int64_t parts, const std::function<llvm::Value*(int64_t)>& part) {
  llvm::Value* total = part(0);
  for (int64_t p = 1; p < parts; ++p) total = kb.ir().CreateFAdd(total, part(p));
  return total;
}

int64_t workspaceFloats(const Graph& graph, ValueId id, const Target& target) {
  const Node& node = graph.node(id);
  if (node.op == Op::Conv2DBackwardFilter && layoutBlock(node.type.layout) > 1) {
    const int64_t parts = filterGradientTile(graph, node, target).parts;
    // A Winograd kernel's products (16 or 36) of each pair of channels, and its
    // bias gradient's sums, per part.
    if (usesWinograd(node)) return parts * blocked::winogradFilterGradientPartFloats(graph, node);
    // Each part's gradient, and its bias gradient if one is fused.
    const int64_t bias = fusedBiasGradient(graph, node) ? node.type.dims[0] : 0;
    return parts > 1 ? parts * (*elementCount(node.type) + bias) : 0;
  }
  if (fusedSumVectors(graph, node) > 0 || usesWinograd(node)) {
    // The fused sums, then a Winograd kernel's transformed filter.
    const ForwardTile tile = forwardTile(graph, node, target);
    const int64_t b = layoutBlock(node.type.layout);
    const int64_t filter = usesWinograd(node) ? blocked::winogradProductFloats(graph, node) : 0;
    return fusedSumsFloats(graph, node, blocked::RowsTasks::of(graph, node, tile, target), b) + filter;
  }
  if (node.op != Op::BatchNormStats && node.op != Op::BatchNormBackwardGamma) return 0;
  // stats: the sums of x - K and its square; dgamma: of dy * xhat for it
  // and for each gamma gradient it names, and of dy for fused dbetas.
  const ValueId x = node.operands[node.op == Op::BatchNormStats ? 0 : 1];
  const int64_t parts = imageParts(graph, x), channels = graph.node(x).type.dims[1];
  const auto sums = static_cast<int64_t>(node.op == Op::BatchNormStats ? 2 : gammaSumsOf(graph, id).count());
  return parts > 1 ? parts * sums * channels : 0;
}

}  // namespace cnnc

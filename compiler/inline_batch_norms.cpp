// Batch-norm inlining (ir/inlined_norm.h). Algorithm: every batch norm
// that ir/inlined_norm.h's inlinable accepts gets attribute inline=1; the
// graph keeps its nodes and order.
//
// In ResNet's training step the stem has one such batch norm, and each of
// its three blocks (the first convolution's, with its relu): each kernel
// read an image, wrote another and a relu mask, and its readers read them
// back, 8 MiB each way in block1 at batch 128.
#include "compiler/graph_rebuilder.h"
#include "compiler/passes.h"
#include "ir/inlined_norm.h"

namespace cnnc {

Status inlineBatchNorms(Graph& graph, const PassContext&) {
  return flagNodes(graph, kInlineAttr, [&](ValueId id) { return inlinable(graph, id); });
}

}  // namespace cnnc

// Scratch space that a kernel needs besides its result: the partial sums of
// a reduction over the batch that is split across tasks (the phases of
// KernelPhase): batch norm's sums, filter gradients (the tile's parts), and
// the batch statistics fused into a convolution (ir/fused_statistics.h),
// a Winograd kernel's transformed filter or products. It lies right after
// the node's result, in the same buffer, so the memory planner keeps it
// exactly as long as the result: a few KiB, up to a few MiB for Winograd
// filter gradients (16 or 36 products per pair of channels and part).
#pragma once

#include <cstdint>
#include <functional>
#include <utility>

#include "compiler/codegen/kernel_builder.h"
#include "compiler/target.h"
#include "ir/graph.h"

namespace cnnc {

// The parts of the batch of `image` ([N,C,...]) that a per-channel sum over
// its images is split into: enough for kEnoughTasks tasks (conv_tiles.h)
// where the image has fewer channel groups (ChannelLanes) than that, so
// that a layer of 16 channels (one AVX-512 block) keeps every thread busy,
// and 1 (no split) otherwise.
// It depends on the graph alone, never on the machine's threads, so a
// model's results are the same with any number of them.
int64_t imageParts(const Graph& graph, ValueId image);

// The images of a part of a batch of `images` split into `parts`: as many
// as the first part's (partImages), the last parts fewer or none. And the
// images [begin, end) of part `part` (an i64).
inline int64_t partImages(int64_t images, int64_t parts) { return (images + parts - 1) / parts; }
std::pair<llvm::Value*, llvm::Value*> imagesOfPart(KernelBuilder& kb, llvm::Value* part, int64_t parts,
                                                   int64_t images);

// The sum of part(0), part(1), ... part(parts - 1), added in that order:
// the fixed order that keeps split sums independent of the threads.
llvm::Value* addInOrder(KernelBuilder& kb, int64_t parts, const std::function<llvm::Value*(int64_t)>& part);

// The floats of node `id`'s workspace when compiled for `target` (whose
// default tiles may split a filter gradient): 0 unless its kernel splits a
// sum.
int64_t workspaceFloats(const Graph& graph, ValueId id, const Target& target);

}  // namespace cnnc

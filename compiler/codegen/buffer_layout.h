// Where each value of a graph lives in the executable's single arena: a byte
// offset per value, 64-byte aligned (a cache line, and an AVX-512 vector).
//
// Buffers are reused by liveness over the whole step, forward and backward
// together: two values share bytes only if no kernel runs while both are
// live. Leaves (inputs, params, state) live for the whole step: they are
// bound before it and assigned after it. Graph outputs live to the end.
//
// An assigned value is computed in place, directly in its param's or state's
// buffer, when the old value is dead by then (see layoutBuffers): its assign
// then has nothing to move and needs no kernel. Other values are computed
// in place over an operand that dies at their kernel, where the kernel reads
// it only at the elements it writes (an elementwise kernel; a convolution's
// residual or relu output, summed in one pass).
//
// A kernel's workspace (workspace.h) follows its result in the same buffer.
#pragma once

#include <cstdint>
#include <vector>

#include "compiler/target.h"
#include "ir/graph.h"

namespace cnnc {

struct BufferLayout {
  std::vector<int64_t> offsets;  // by ValueId, in bytes
  std::vector<int64_t> sizes;    // by ValueId: the bytes each buffer takes, rounded up to the alignment
  int64_t arenaBytes = 0;
};

// The order kernels run in: every computed node in graph order, then the
// assigns, whose writes take effect at the end of the step.
std::vector<ValueId> executionOrder(const Graph& graph);

// `target` sizes the kernels' workspaces (workspace.h).
BufferLayout layoutBuffers(const Graph& graph, const Target& target);

// Whether node `id` is an assign whose value is already in its target's buffer.
bool assignsInPlace(const Graph& graph, const BufferLayout& layout, ValueId id);

}  // namespace cnnc

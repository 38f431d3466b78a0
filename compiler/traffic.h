// The memory traffic of each kernel: the least bytes it moves between
// memory and the cores, reading every value it reads once and writing
// every value it writes once. Against a measured memory bandwidth
// (bench/cnnc-mem-bandwidth) it is the memory side of a roofline
// (Williams, Waterman and Patterson, 2009), as the FLOPs (flops.h) against
// the FMA peak are the arithmetic side: a kernel whose bytes take longer to
// move than its FLOPs take to compute is bound by memory, and no register
// or cache blocking makes it faster than its bytes allow.
//
// A kernel reads what its nodes read (its own and those whose values it
// computes besides, ir/kernel_results.h), an inlined batch norm's operands
// in place of the norm (ir/inlined_norm.h), and writes the values it
// computes but a residual norm (ir/fused_residual.h: its buffer is never
// written). A windowed read (a convolution's or filter gradient's input, a
// pooling's) whose strides skip rows, or columns that fill whole 64-byte
// cache lines, counts the lines it touches only: a 1x1 convolution at
// stride 2 reads a quarter of an NCHW16c input. Not counted: a filter
// gradient's partial sums in the workspace, and reads that miss the cache
// more than once.
#pragma once

#include <cstdint>
#include <vector>

#include "ir/graph.h"

namespace cnnc {

// Bytes moved by each node's kernel, indexed by value; 0 for a value that
// no kernel of its own computes.
std::vector<int64_t> kernelTraffic(const Graph& graph);

}  // namespace cnnc

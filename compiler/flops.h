// Floating-point operations of a node: the multiply-adds of convolutions and
// dense layers (forward and both backward kernels), counted as 2 FLOPs each,
// as benchmarks of CNNs conventionally do; a convolution's taps on padding
// do not count (its kernels skip them). Other ops count 0: they are
// memory-bound and their arithmetic is noise next to these.
#pragma once

#include <cstdint>

#include "ir/graph.h"

namespace cnnc {

int64_t flopsOf(const Graph& graph, ValueId id);
int64_t flopsOf(const Graph& graph);

}  // namespace cnnc

// Which kernels the runtime splits across its threads. Handing chunks of a
// kernel to other threads costs microseconds (waking a thread, claiming
// chunks, waiting for the last one), as much as the whole of many kernels of
// a training step: the optimizer updates of biases and small weights, the
// small dense layers and their gradients, the loss. Those run on the calling
// thread alone, and the other threads sleep on.
#pragma once

#include <cstdint>

#include "ir/graph.h"

namespace cnnc {

// Whether the kernel of node `id`, of `tasks` tasks, has enough work for
// splitting it to pay.
bool worthSplitting(const Graph& graph, ValueId id, int64_t tasks);

}  // namespace cnnc

// The reference executor: runs any graph of the IR (inference, gradient or a
// whole training step) node by node with the reference kernels. It is the
// oracle that generated code and passes are checked against, not the fast
// path. Scheduling attributes that later passes add are ignored.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "ir/error.h"
#include "ir/graph.h"
#include "runtime/tensor.h"

namespace cnnc {

// Values of a graph's leaves (inputs, params, state), by name. Integer
// leaves (labels) are stored as T; their values are whole numbers.
template <class T>
using Bindings = std::map<std::string, TensorOf<T>, std::less<>>;

// Executes `graph` once. Every leaf must be bound in `bindings` with its
// exact dimensions. After the step, every `assign` writes its value back
// into `bindings`, so a training step updates the weights in place.
// Returns the graph's outputs in order. Errors (a missing or misshapen
// binding, a label out of range) are returned, never asserted.
template <class T>
Expected<std::vector<TensorOf<T>>> executeReference(const Graph& graph, Bindings<T>& bindings);

}  // namespace cnnc

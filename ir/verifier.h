// Whole-graph checks, run after the frontend, the parser and every pass.
#pragma once

#include <cstdint>

#include "ir/error.h"
#include "ir/graph.h"

namespace cnnc {

// Checks that every node is well formed: operand counts, operands defined
// before use (topological order), leaf types with positive dimensions, every
// computed type equal to what shape inference gives, attribute ranges, unique
// names and at least one output. The message names the offending node.
Status verify(const Graph& graph);

// The default limit on the total size of a graph's tensors. Far above any
// real CIFAR-scale model, below the 24 GiB of the machines cnnc targets.
inline constexpr int64_t kDefaultMemoryBudget = int64_t{16} << 30;

// Rejects graphs whose tensors together would need more than `budgetBytes`
// (before memory planning, so an upper bound of what execution allocates).
Status checkMemoryBudget(const Graph& graph, int64_t budgetBytes = kDefaultMemoryBudget);

// "1.5 GiB", "120.0 KiB": sizes in messages and reports.
std::string formatBytes(int64_t bytes);

}  // namespace cnnc

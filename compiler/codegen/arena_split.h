// What the arena of a compiled graph holds, by kind of value: the split
// `cnnc compile` reports.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

#include "compiler/codegen/buffer_layout.h"
#include "ir/graph.h"

namespace cnnc {

enum class ArenaCategory { Parameters, Gradients, OptimizerState, SavedActivations, Workspace };
inline constexpr size_t kArenaCategories = 5;

// "parameters", "gradients", "optimizer state", "saved activations", "workspace".
std::string_view categoryName(ArenaCategory category);

// The category of every value, by ValueId:
// - parameters: params, and state that is not optimizer state (batch_norm
//   running statistics);
// - optimizer state: state that optimizer updates read (moments,
//   velocities, the step counter);
// - gradients: backward values that optimizer updates read or the graph
//   returns (the parameters' gradients);
// - saved activations: forward values (inputs included) that backward
//   nodes read, which therefore live from the forward into the backward part;
// - workspace: every other value, the new values of the update included.
// Leaves live for the whole step, so parameters and optimizer state never
// share bytes; gradients all live from the backward part to the update.
// A value is backward if a backward op (conv2d_bwd_data, relu_bwd, ...)
// made it or it is computed from a backward value.
std::vector<ArenaCategory> classifyValues(const Graph& graph);

// Bytes by category, indexed by ArenaCategory. `arena` adds up to the arena's
// size: bytes that buffers of several categories share over the step count
// once, for the first of them in ArenaCategory order, and bytes that no
// buffer uses (gaps the placement left) count as workspace. `buffers` is the sum
// of each category's buffers, as if nothing were shared.
struct ArenaSplit {
  std::array<int64_t, kArenaCategories> arena{};
  std::array<int64_t, kArenaCategories> buffers{};
};
ArenaSplit splitArena(const Graph& graph, const BufferLayout& layout);

}  // namespace cnnc

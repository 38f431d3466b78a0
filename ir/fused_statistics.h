// Batch statistics fused into the blocked convolution whose result they
// describe (by the fuse-batch-statistics pass). Attribute `stats` of a
// conv2d node names the batch_norm_stats value of its result, which its
// kernel computes as well: each task sums the rows it has just written,
// while they are in cache, into partial sums of its own, and a second phase
// of the kernel adds them up, instead of a pass that reads the whole result
// again.
//
//   %block1_conv1 = conv2d %stem_out, %block1_conv1.weight {pads=[1,1,1,1], stats=block1_bn1.stats, ...}
//   %block1_bn1.stats = batch_norm_stats %block1_conv1 : f32[2,16]
//
// The statistics node stays in the graph, as the value's definition, but
// gets no kernel of its own. The attribute is a schedule: the statistics
// are the same but for rounding.
#pragma once

#include <optional>
#include <string_view>

#include "ir/error.h"
#include "ir/graph.h"

namespace cnnc {

inline constexpr std::string_view kStatsAttr = "stats";

// Whether batch_norm_stats node `stats` can be computed by the kernel of
// `conv`: the statistics of the result of a blocked conv2d.
bool statisticsFuseInto(const Node& conv, ValueId convId, const Node& stats);

// The statistics the kernel of `node` computes as well, if any.
std::optional<ValueId> fusedStatistics(const Graph& graph, const Node& node);

// The graph-wide contract (verifier.h): each named value exists and can be
// computed by its kernel (statisticsFuseInto).
Status verifyFusedStatistics(const Graph& graph);

}  // namespace cnnc

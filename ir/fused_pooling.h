// Pooling fused into the blocked convolution that feeds it (by the
// fuse-pooling pass). Attribute `pool` of a conv2d node names a max_pool2d
// or avg_pool2d value of its result that its kernel computes as well: each
// task pools the rows it has just written, while they are in cache.
//
//   %conv2d_0.relu = conv2d %input, %conv2d_0.weight, %conv2d_0.bias {activation=relu, pool=max_pool2d_1, ...}
//   %max_pool2d_1 = max_pool2d %conv2d_0.relu {pads=[0,0,0,0], strides=[2,2], window=[2,2]}
//
// The pooling node stays in the graph, as the value's definition, but gets
// no kernel of its own. Its windows must tile the rows without padding
// (window = strides, pads 0), so that a task's rows hold whole windows.
// The attribute is a schedule: it never changes what the graph computes.
#pragma once

#include <optional>
#include <string_view>

#include "ir/error.h"
#include "ir/graph.h"

namespace cnnc {

inline constexpr std::string_view kPoolAttr = "pool";

// Whether pooling node `pool` can be computed by the kernel of `conv`, the
// producer of its input, rows by rows: a windowed pooling of conv's
// result, whose windows tile it without padding, in a blocked layout.
bool poolingFusesInto(const Node& conv, ValueId convId, const Node& pool);

// The rows one window of pooling node `pool` moves by (its row stride).
int64_t poolRowStride(const Node& pool);

// The pooled value the kernel of `node` computes as well, if any.
std::optional<ValueId> fusedPooling(const Graph& graph, const Node& node);

// The graph-wide contract (verifier.h): each named value exists, follows
// the node and can be computed by its kernel (poolingFusesInto).
Status verifyFusedPooling(const Graph& graph);

}  // namespace cnnc

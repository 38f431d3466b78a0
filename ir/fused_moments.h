// Adam's moments fused into the kernel of the adam_apply that reads them
// (by the fuse-adam-moments pass). Attribute `fused_moments=1` of an
// adam_apply node says that its kernel computes its operands 1 and 2, the
// new moments, as well: at each element it computes both, stores them and
// applies them while they are in registers, one pass over the weight, the
// gradient and the moments where three kernels made three.
//
//   %w.adam_m.next = adam_moment %w.adam_m, %w.grad {decay=0.9, power=1}
//   %w.adam_v.next = adam_moment %w.adam_v, %w.grad {decay=0.999, power=2}
//   %w.next = adam_apply %w, %w.adam_m.next, %w.adam_v.next, %step.next {..., fused_moments=1}
//
// The moment nodes stay in the graph, as the values' definitions (the
// reference executor computes them as ever), but get no kernel: their
// values are written later than their place, by the adam_apply's kernel,
// so nothing may read them in between: their users are the adam_apply and
// assign nodes, which run after every kernel (executionOrder).
// The attribute is a schedule: it never changes what the graph computes.
#pragma once

#include <string_view>
#include <vector>

#include "ir/error.h"
#include "ir/graph.h"

namespace cnnc {

inline constexpr std::string_view kFusedMomentsAttr = "fused_moments";

// Whether node `apply`, an adam_apply, can compute its moments in its
// kernel: both are adam_moment nodes that no node but it and assigns reads.
bool momentsFuseInto(const Graph& graph, ValueId apply);

// The moments the kernel of `node` computes as well (none, or two).
std::vector<ValueId> fusedMoments(const Graph& graph, const Node& node);

// The graph-wide contract (verifier.h): each node with the attribute is an
// adam_apply whose moments fuse into it (momentsFuseInto).
Status verifyFusedMoments(const Graph& graph);

}  // namespace cnnc

// Batch groups (by the interleave-batch pass): a run of kernels that the
// runtime executes a chunk of the batch at a time, each chunk through all
// of them in turn, where it would run each kernel over the whole batch
// before the next: what one kernel writes for a chunk of images, the next
// reads while the cache still holds it, in the manner of Halide's
// compute_at over the batch dimension. Every member carries attribute
// batch_group, the name of the group's first kernel:
//
//   %block1_conv2.grad = batch_norm_bwd_data %block1_out.grad, %block1_conv2, ... {batch_group=block1_conv2.grad}
//   %block1_conv2.weight.grad = conv2d_bwd_filter %block1_relu1, %block1_conv2.grad {batch_group=block1_conv2.grad, ...}
//   %block1_bn1.grad = conv2d %block1_conv2.grad, %block1_conv2.weight.transposed, ... {batch_group=block1_conv2.grad, ...}
//
// Forward, a batch norm (its statistics known) and the convolutions that
// read it make one the same way:
//
//   %block1_out.relu = batch_norm_train %block1_conv2, %block1_bn2.stats, ... {batch_group=block1_out.relu, ...}
//   %block2_proj = conv2d %block1_out.relu, %block2_proj.weight {batch_group=block1_out.relu, ...}
//   %block2_conv1 = conv2d %block1_out.relu, %block2_conv1.weight {batch_group=block1_out.relu, ...}
//
// A group is legal when chunks of it are independent, which holds for:
// - producers: batch norm kernels (batch_norm, batch_norm_train with its
//   statistics an operand, batch_norm_bwd_data), elementwise per image,
//   which read nothing another member writes;
// - readers: convolutions (conv2d, conv2d_bwd_data, conv2d_bwd_filter)
//   that read, of what members write, only producers' results, and as
//   images (not as a filter): each task of theirs reads the images it
//   works on, which the producers have written for that chunk by then.
// Their other work (a filter transform before, the sums of the parts of a
// reduction after) reads nothing the group writes and is read by nothing
// in it: the runtime runs it before and after the chunks. The members are
// consecutive kernels in execution order, the first a producer, and at
// least one a reader. Scheduling only: results are those of the kernels
// run one after the other.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ir/error.h"
#include "ir/graph.h"

namespace cnnc {

inline constexpr std::string_view kBatchGroupAttr = "batch_group";

// The name of the first kernel of the batch group of `node`, if any.
std::optional<std::string> batchGroupOf(const Node& node);

// Whether node `id` gets a kernel of its own: computed, not by another
// node's kernel (ir/kernel_results.h), not inlined. (An assign in place
// gets none either; no batch group holds an assign.)
bool hasOwnKernel(const Graph& graph, const std::vector<ValueId>& computing, ValueId id);

// By node: what the node's kernel reads, for every value it computes
// (kernelReads of each); nothing for a node that another's kernel computes.
using KernelReads = std::vector<std::vector<ValueId>>;
KernelReads readsByKernel(const Graph& graph, const std::vector<ValueId>& computing);

// Whether kernel `id` may be a batch group's producer or reader.
bool isBatchGroupProducer(const Node& node);
bool isBatchGroupReader(const Node& node);

// Whether kernel `id` may join a group of `members` (kernels), whose
// values are those `computing` maps to them: as a producer if it reads
// none of their values, as a reader if it reads a producer's result and
// nothing else of theirs but producers' results, as images. Either way, it
// writes nothing that they read.
bool joinsBatchGroup(const Graph& graph, const std::vector<ValueId>& computing, const KernelReads& reads,
                     const std::vector<ValueId>& members, ValueId id);

// The graph-wide contract (verifier.h): the members of each group are
// consecutive kernels in graph order, the first a producer, one or more
// readers, each joining the members before it.
Status verifyBatchGroups(const Graph& graph);

}  // namespace cnnc

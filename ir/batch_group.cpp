#include "ir/batch_group.h"

#include <algorithm>

#include <fmt/format.h>

#include "ir/fused_projection.h"
#include "ir/inlined_norm.h"
#include "ir/kernel_results.h"
#include "ir/printer.h"

namespace cnnc {
namespace {

template <typename T>
bool contains(const std::vector<T>& values, const T& value) {
  return std::find(values.begin(), values.end(), value) != values.end();
}

// The operands that reader `node` reads as filters, whole for every image
// (a conv2d's or data gradient's weight, a fused projection's): a kernel
// transforms them before its first chunk.
std::vector<ValueId> filterOperands(const Node& node) {
  if (node.op == Op::Conv2DBackwardFilter) return {};
  std::vector<ValueId> filters{node.operands[1]};
  if (std::optional<ProjectionOperands> projection = projectionOf(node)) filters.push_back(projection->filter);
  return filters;
}

}  // namespace

std::optional<std::string> batchGroupOf(const Node& node) { return getSymbol(node.attrs, kBatchGroupAttr); }

bool hasOwnKernel(const Graph& graph, const std::vector<ValueId>& computing, ValueId id) {
  const Node& node = graph.node(id);
  return computing[id] == id && !isLeaf(node.op) && !isInlined(node);
}

KernelReads readsByKernel(const Graph& graph, const std::vector<ValueId>& computing) {
  KernelReads reads(graph.size());
  for (ValueId id = 0; id < graph.size(); ++id) {
    const std::vector<ValueId> its = kernelReads(graph, graph.node(id));
    std::vector<ValueId>& kernel = reads[computing[id]];
    kernel.insert(kernel.end(), its.begin(), its.end());
  }
  return reads;
}

bool isBatchGroupProducer(const Node& node) {
  return node.op == Op::BatchNorm || node.op == Op::BatchNormTrain || node.op == Op::BatchNormBackwardData;
}

bool isBatchGroupReader(const Node& node) {
  return node.op == Op::Conv2D || node.op == Op::Conv2DBackwardData || node.op == Op::Conv2DBackwardFilter;
}

bool joinsBatchGroup(const Graph& graph, const std::vector<ValueId>& computing, const KernelReads& reads,
                     const std::vector<ValueId>& members, ValueId id) {
  const Node& node = graph.node(id);
  if (!hasOwnKernel(graph, computing, id) || contains(members, id)) return false;
  std::vector<ValueId> groupReads;  // what it reads of the members' values
  for (ValueId read : reads[id])
    if (contains(members, computing[read])) groupReads.push_back(read);
  if (isBatchGroupProducer(node) && groupReads.empty()) return true;
  if (!isBatchGroupReader(node) || groupReads.empty()) return false;
  const std::vector<ValueId> filters = filterOperands(node);
  return std::all_of(groupReads.begin(), groupReads.end(), [&](ValueId read) {
    return computing[read] == read && isBatchGroupProducer(graph.node(read)) && !contains(filters, read);
  });
}

Status verifyBatchGroups(const Graph& graph) {
  const std::vector<ValueId> computing = computingKernels(graph);
  const KernelReads reads = readsByKernel(graph, computing);
  std::vector<std::string> closed;  // the groups that have ended
  std::optional<std::string> open;
  std::vector<ValueId> members;
  bool read = false;  // whether a reader has joined the open group
  auto fail = [&](ValueId id, std::string_view why) {
    const Node& node = graph.node(id);
    return Error{fmt::format("{} = {}: attribute {}: {}", valueRef(node.name), mnemonic(node.op), kBatchGroupAttr,
                             why)};
  };
  auto close = [&]() -> Status {
    if (!open) return Status::ok();
    if (!read) return fail(members.front(), "the group has no reader (a convolution that reads its producers)");
    closed.push_back(*open);
    open.reset();
    members.clear();
    read = false;
    return Status::ok();
  };
  for (ValueId id = 0; id < graph.size(); ++id) {
    const Node& node = graph.node(id);
    const std::optional<std::string> group = batchGroupOf(node);
    if (node.op == Op::Assign) {
      if (group) return fail(id, "an assign cannot join a batch group");
      continue;  // assigns run after every other kernel
    }
    if (!hasOwnKernel(graph, computing, id)) {
      if (group) return fail(id, "only a node with a kernel of its own can join a batch group");
      continue;
    }
    if (group != open) CNNC_TRY(close());
    if (!group) continue;
    if (!open) {
      if (contains(closed, *group)) return fail(id, fmt::format("the kernels of group {} must be consecutive", *group));
      if (*group != node.name || !isBatchGroupProducer(node))
        return fail(id, fmt::format("group {} must start with its producer {}, a batch norm or its data gradient",
                                    *group, *group));
      open = group;
      members.push_back(id);
      continue;
    }
    if (!joinsBatchGroup(graph, computing, reads, members, id))
      return fail(id, "a member must be a batch norm or its data gradient that reads nothing the group writes, or a "
                      "convolution that reads only its producers' results, as images");
    read = read || isBatchGroupReader(node);
    members.push_back(id);
  }
  return close();
}

}  // namespace cnnc

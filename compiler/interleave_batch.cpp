// Batch groups (ir/batch_group.h). Algorithm: in graph order, each batch
// norm kernel (isBatchGroupProducer) that no group holds starts one, and
// the kernels after it join while they can: another batch norm kernel that
// reads nothing the group writes, or a convolution that reads a producer's
// result and nothing else the group writes but producers' results, as
// images (joinsBatchGroup), and nothing a deferred kernel computes. A
// kernel that reads only leaves defined before the group's first kernel (a
// filter's transpose or relayout, made from its param) is passed over, and
// moves before the group if a reader comes after it; a per-channel kernel
// (a batch norm's running statistics) is deferred, and moves after the
// group's last reader, the assigns of its results with it, if a reader
// comes after it; any other kernel ends the group. The group ends with its
// last reader; one without a reader is none.
//
// In a training step, each batch norm's data gradient thus runs with the
// filter gradient and the data gradient of the convolution before it, which
// read it, and with those of a projection shortcut beside it: for each chunk
// of images, the batch norm's gradient is written and read twice while the
// cache holds it, and the saved activation that both convolutions read (the
// filter gradient's input, the data gradient's relu output or batch-norm
// input) is fetched once. ResNet's training step at batch 128 (8 MiB
// tensors in block1), alternating runs: 15.99 against 16.86 ms, medians of
// 8; block1's two groups 1.94-2.06 and 2.07-2.13 ms, against 2.09-2.31 and
// 2.28-2.44 as kernels one after the other. Forward, a residual block's
// output (a batch norm with the residual and relu fused) runs with the
// strided convolution and the projection that read it: the step 0.25-0.7%
// faster (AMD EPYC, AVX2, paired turns: 0.9927, 0.9935 and 0.9975 over
// 300 pairs each).
#include <algorithm>

#include "compiler/graph_rebuilder.h"
#include "compiler/passes.h"
#include "ir/batch_group.h"
#include "ir/kernel_results.h"

namespace cnnc {
namespace {

// A group being formed: its kernels, and the kernels passed over on the
// way: those that move before it, and those that move after it, if a
// reader joins after them.
struct Group {
  std::vector<ValueId> members;
  std::vector<ValueId> passedOver;
  std::vector<ValueId> deferred;
  size_t readers = 0;        // members up to and including the last reader
  size_t movedBefore = 0;    // passed-over kernels before the last reader
  size_t movedAfter = 0;     // deferred kernels before the last reader
};

// Whether kernel `id` reads only leaves that come before `first`.
bool readsOnlyLeavesBefore(const Graph& graph, const KernelReads& reads, ValueId id, ValueId first) {
  return std::all_of(reads[id].begin(), reads[id].end(),
                     [&](ValueId read) { return isLeaf(graph.node(read).op) && read < first; });
}

// Whether kernel `id` may wait until after the group: a per-channel update
// (a batch norm's running statistics, from a member's statistics), which
// no image of the batch waits for.
bool deferrable(const Graph& graph, ValueId id) { return graph.node(id).type.dims.size() <= 1; }

// Whether one of `values` is computed by one of `kernels`.
bool computedBy(const std::vector<ValueId>& computing, const std::vector<ValueId>& values,
                const std::vector<ValueId>& kernels) {
  return std::any_of(values.begin(), values.end(), [&](ValueId value) {
    return std::find(kernels.begin(), kernels.end(), computing[value]) != kernels.end();
  });
}

Group formGroup(const Graph& graph, const std::vector<ValueId>& computing, const KernelReads& reads, ValueId first) {
  Group group{{first}, {}, {}};
  for (ValueId id = first + 1; id < graph.size(); ++id) {
    const Node& node = graph.node(id);
    const bool readsDeferred = computedBy(computing, node.operands, group.deferred);
    if (node.op == Op::Assign) {  // assigns run last; one of a deferred value moves with it
      if (readsDeferred) group.deferred.push_back(id);
      continue;
    }
    if (!hasOwnKernel(graph, computing, id)) {
      if (readsDeferred) break;
      continue;
    }
    if (readsOnlyLeavesBefore(graph, reads, id, first)) {
      group.passedOver.push_back(id);
      continue;
    }
    if (joinsBatchGroup(graph, computing, reads, group.members, id) && !computedBy(computing, reads[id], group.deferred)) {
      group.members.push_back(id);
      if (isBatchGroupReader(graph.node(id)))
        group.readers = group.members.size(), group.movedBefore = group.passedOver.size(),
        group.movedAfter = group.deferred.size();
      continue;
    }
    if (!deferrable(graph, id)) break;
    group.deferred.push_back(id);
  }
  return group;
}

}  // namespace

Status interleaveBatch(Graph& graph, const PassContext&) {
  const std::vector<ValueId> computing = computingKernels(graph);
  const KernelReads reads = readsByKernel(graph, computing);
  std::vector<std::vector<ValueId>> movedBefore(graph.size());  // by a group's first kernel
  std::vector<std::vector<ValueId>> movedAfter(graph.size());   // by a group's last reader
  std::vector<bool> moved(graph.size(), false);
  std::vector<AttributeMap> added(graph.size());
  bool any = false;
  for (ValueId first = 0; first < graph.size(); ++first) {
    if (!added[first].empty() || moved[first] || !hasOwnKernel(graph, computing, first) ||
        !isBatchGroupProducer(graph.node(first)))
      continue;
    const Group group = formGroup(graph, computing, reads, first);
    if (group.readers == 0) continue;
    any = true;
    for (size_t k = 0; k < group.readers; ++k)
      added[group.members[k]][std::string(kBatchGroupAttr)] = Symbol{graph.node(first).name};
    for (size_t k = 0; k < group.movedBefore; ++k) {
      movedBefore[first].push_back(group.passedOver[k]);
      moved[group.passedOver[k]] = true;
    }
    for (size_t k = 0; k < group.movedAfter; ++k) {
      movedAfter[group.members[group.readers - 1]].push_back(group.deferred[k]);
      moved[group.deferred[k]] = true;
    }
  }
  if (!any) return Status::ok();
  GraphRebuilder rebuilder(graph);
  for (ValueId id = 0; id < graph.size(); ++id) {
    if (moved[id]) continue;
    for (ValueId before : movedBefore[id]) CNNC_TRY(rebuilder.copy(before));
    CNNC_TRY(rebuilder.copy(id, added[id]));
    for (ValueId after : movedAfter[id]) CNNC_TRY(rebuilder.copy(after));
  }
  graph = rebuilder.finish(graph.outputs());
  return Status::ok();
}

}  // namespace cnnc

// Batch sums fusion (ir/fused_statistics.h). Algorithm: the first
// batch_norm_stats of each blocked conv2d's result is named by the
// convolution's attribute stats, and the first batch_norm_bwd_gamma of the
// result of one without (a data gradient) by its attribute gamma_grad;
// each batch_norm_bwd_gamma names the next one of its output gradient,
// if any, alike. The graph's order already has the convolution first.
// After fuse-residual-adds, whose fused adds make the gamma gradients'
// operands.
#include "compiler/graph_rebuilder.h"
#include "compiler/passes.h"
#include "ir/fused_statistics.h"

namespace cnnc {

Status fuseBatchStatistics(Graph& graph, const PassContext&) {
  CNNC_TRY(nameFusedUsers(graph, kStatsAttr, [&](ValueId id, ValueId user) {
    return statisticsFuseInto(graph.node(id), id, graph.node(user));
  }));
  return nameFusedUsers(graph, kGammaGradAttr, [&](ValueId id, ValueId user) {
    return gammaGradientFusesInto(graph.node(id), id, graph.node(user));
  });
}

}  // namespace cnnc

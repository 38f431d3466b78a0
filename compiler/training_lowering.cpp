// Algorithm: rebuild the graph node by node. A batch_norm becomes
//   stats = batch_norm_stats x
//   y     = batch_norm_train x, stats, gamma, beta
//   assign running_mean, batch_norm_running(running_mean, stats, row 0)
//   assign running_var,  batch_norm_running(running_var,  stats, row 1)
// and a dropout becomes y = mul x, dropout_mask(%step); every other node is
// copied as it is. The graph gains the step counter %step (f32[]) as state.
#include <fmt/format.h>

#include "compiler/graph_rebuilder.h"
#include "compiler/passes.h"
#include "ir/type.h"

namespace cnnc {
namespace {

class TrainingLowering {
 public:
  TrainingLowering(const Graph& graph, uint64_t seed) : rebuilder_(graph), seed_(seed) {}

  Expected<Graph> run() {
    const Graph& source = rebuilder_.source();
    DType dtype = DType::F32;
    if (source.size() > 0) dtype = source.node(0).type.dtype;
    Expected<ValueId> step = rebuilder_.out().addLeaf(Op::State, std::string(kStepName), TensorType{dtype, {}});
    if (!step) return step.error();
    step_ = *step;
    for (ValueId id = 0; id < source.size(); ++id) {
      Status status = lower(id);
      if (!status) return status.error();
    }
    return rebuilder_.finish(source.outputs());
  }

 private:
  Expected<ValueId> emit(Op op, std::string name, std::vector<ValueId> operands, AttributeMap attrs = {}) {
    return rebuilder_.out().addNode(op, std::move(name), std::move(operands), std::move(attrs));
  }

  Status lower(ValueId id) {
    const Node& node = rebuilder_.source().node(id);
    switch (node.op) {
      case Op::BatchNorm: return lowerBatchNorm(id, node);
      case Op::Dropout: return lowerDropout(id, node);
      default: {
        Expected<ValueId> copied = rebuilder_.copy(id);
        return copied ? Status::ok() : Status(copied.error());
      }
    }
  }

  Status lowerBatchNorm(ValueId id, const Node& node) {
    auto in = [&](size_t i) { return rebuilder_.mapped(node.operands[i]); };
    const double epsilon = *getFloat(node.attrs, "epsilon"), momentum = *getFloat(node.attrs, "momentum");
    const std::vector<int64_t>& dims = node.type.dims;
    // Elements per channel in the batch: what the unbiased variance divides by, less one.
    int64_t count = dims[0];
    for (size_t d = 2; d < dims.size(); ++d) count *= dims[d];
    Expected<ValueId> stats = emit(Op::BatchNormStats, node.name + ".stats", {in(0)});
    if (!stats) return stats.error();
    Expected<ValueId> y = emit(Op::BatchNormTrain, node.name, {in(0), *stats, in(1), in(2)}, {{"epsilon", epsilon}});
    if (!y) return y.error();
    rebuilder_.setMapped(id, *y);
    for (int64_t row : {0, 1}) {
      ValueId running = in(3 + static_cast<size_t>(row));
      // A copy: emitting appends to the graph's nodes, which may move them.
      const std::string runningName = rebuilder_.out().node(running).name;
      Expected<ValueId> next = emit(Op::BatchNormRunning, runningName + ".next", {running, *stats},
                                    {{"momentum", momentum}, {"row", row}, {"count", count}});
      if (!next) return next.error();
      Expected<ValueId> assign = emit(Op::Assign, runningName + ".assign", {running, *next});
      if (!assign) return assign.error();
    }
    return Status::ok();
  }

  Status lowerDropout(ValueId id, const Node& node) {
    // One mask stream per dropout node, all derived from the model's seed.
    const auto seed = static_cast<int64_t>((seed_ * 1000003 + id) & 0x7fffffffffffffff);
    Expected<ValueId> mask = emit(Op::DropoutMask, node.name + ".mask", {step_},
                                  {{"rate", *getFloat(node.attrs, "rate")}, {"seed", seed}, {"shape", node.type.dims}});
    if (!mask) return mask.error();
    Expected<ValueId> y = emit(Op::Mul, node.name, {rebuilder_.mapped(node.operands[0]), *mask});
    if (!y) return y.error();
    rebuilder_.setMapped(id, *y);
    return Status::ok();
  }

  GraphRebuilder rebuilder_;
  uint64_t seed_;
  ValueId step_ = 0;
};

}  // namespace

Expected<Graph> lowerForTraining(const Graph& graph, uint64_t seed) { return TrainingLowering(graph, seed).run(); }

}  // namespace cnnc

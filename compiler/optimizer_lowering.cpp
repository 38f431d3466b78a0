// Algorithm: for every (param, gradient) pair append the optimizer's update
// as IR ops, with the optimizer's per-param state as `state` leaves:
//   sgd:  v' = sgd_velocity v, g (with momentum); w' = sgd_apply w, g [, v']
//   adam: m' = adam_moment m, g (beta1, g);  v' = adam_moment v, g (beta2, g^2)
//         w' = adam_apply w, m', v', step'
// and write each new value back with `assign`. The step counter is
// incremented once; Adam's bias correction reads the incremented step.
#include <fmt/format.h>

#include "compiler/passes.h"

namespace cnnc {
namespace {

class OptimizerLowering {
 public:
  OptimizerLowering(Graph& graph, const OptimizerConfig& config) : graph_(graph), config_(config) {}

  Status run(const std::vector<std::pair<ValueId, ValueId>>& gradients) {
    std::optional<ValueId> step = graph_.lookup(kStepName);
    if (!step || graph_.node(*step).op != Op::State)
      return Error{"optimizer: the graph has no step counter (lower it for training first)"};
    Expected<ValueId> nextStep = emitAssigned(*step, Op::Increment, {*step});
    if (!nextStep) return nextStep.error();
    for (auto [param, gradient] : gradients) {
      Status status = config_.kind == OptimizerKind::Adam ? adam(param, gradient, *nextStep) : sgd(param, gradient);
      if (!status) return status;
    }
    return Status::ok();
  }

 private:
  // A zero-initialised state tensor shaped like `param`, named `<param>.<suffix>`.
  Expected<ValueId> stateFor(ValueId param, std::string_view suffix) {
    const Node& p = graph_.node(param);
    return graph_.addLeaf(Op::State, fmt::format("{}.{}", p.name, suffix), p.type);
  }

  // Computes `<target>.next = op operands` and assigns it to `target`.
  Expected<ValueId> emitAssigned(ValueId target, Op op, std::vector<ValueId> operands, AttributeMap attrs = {}) {
    const std::string name = graph_.node(target).name;
    Expected<ValueId> next = graph_.addNode(op, name + ".next", std::move(operands), std::move(attrs));
    if (!next) return Error{fmt::format("optimizer: {}", next.error().message)};
    Expected<ValueId> assign = graph_.addNode(Op::Assign, name + ".assign", {target, *next});
    if (!assign) return Error{fmt::format("optimizer: {}", assign.error().message)};
    return next;
  }

  Status sgd(ValueId param, ValueId gradient) {
    AttributeMap apply = {{"learning_rate", config_.learningRate},
                          {"momentum", config_.momentum},
                          {"nesterov", int64_t{config_.nesterov}},
                          {"weight_decay", config_.weightDecay}};
    std::vector<ValueId> operands = {param, gradient};
    if (config_.momentum > 0) {
      Expected<ValueId> velocity = stateFor(param, "sgd_velocity");
      if (!velocity) return velocity.error();
      Expected<ValueId> next = emitAssigned(*velocity, Op::SgdVelocity, {*velocity, gradient},
                                            {{"momentum", config_.momentum}, {"learning_rate", config_.learningRate}});
      if (!next) return next.error();
      operands.push_back(*next);
    }
    Expected<ValueId> w = emitAssigned(param, Op::SgdApply, operands, apply);
    return w ? Status::ok() : Status(w.error());
  }

  Status adam(ValueId param, ValueId gradient, ValueId step) {
    Expected<ValueId> m = stateFor(param, "adam_m");
    if (!m) return m.error();
    Expected<ValueId> v = stateFor(param, "adam_v");
    if (!v) return v.error();
    Expected<ValueId> nextM = emitAssigned(*m, Op::AdamMoment, {*m, gradient}, {{"decay", config_.beta1}, {"power", int64_t{1}}});
    if (!nextM) return nextM.error();
    Expected<ValueId> nextV = emitAssigned(*v, Op::AdamMoment, {*v, gradient}, {{"decay", config_.beta2}, {"power", int64_t{2}}});
    if (!nextV) return nextV.error();
    Expected<ValueId> w = emitAssigned(param, Op::AdamApply, {param, *nextM, *nextV, step},
                                       {{"learning_rate", config_.learningRate},
                                        {"beta1", config_.beta1},
                                        {"beta2", config_.beta2},
                                        {"epsilon", config_.epsilon},
                                        {"weight_decay", config_.weightDecay}});
    return w ? Status::ok() : Status(w.error());
  }

  Graph& graph_;
  const OptimizerConfig& config_;
};

}  // namespace

Status appendOptimizer(Graph& graph, const std::vector<std::pair<ValueId, ValueId>>& gradients,
                       const OptimizerConfig& config) {
  return OptimizerLowering(graph, config).run(gradients);
}

}  // namespace cnnc

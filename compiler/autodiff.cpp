// Algorithm: reverse-mode differentiation in the IR itself.
//  1. Mark the nodes that need a gradient: those that depend on a param
//     and to which a gradient flows back from the loss.
//  2. Count, for each such value, how many gradient contributions it will
//     receive (one per use by a marked node), to name them: a single
//     contribution is `<value>.grad`; several are `<value>.grad.<k>`, summed
//     by an `add` named `<value>.grad`.
//  3. Visit the marked nodes from the loss backwards; the gradient of each
//     is complete by then (all its users come later in the graph). Apply the
//     op's gradient rule, which appends backward nodes and contributes to
//     the gradients of the operands that need one.
// Rules read an activation's output rather than its input, so that a later
// fusion of conv/dense with its activation stays legal.
#include <fmt/format.h>

#include "compiler/passes.h"
#include "ir/printer.h"

namespace cnnc {
namespace {

class Autodiff {
 public:
  Autodiff(Graph& graph, ValueId loss) : graph_(graph), loss_(loss), sourceSize_(graph.size()) {}

  Expected<std::vector<std::pair<ValueId, ValueId>>> run() {
    markNodes();
    if (!needsGrad_[loss_])
      return Error{fmt::format("the loss {} does not depend on any parameter", valueRef(graph_.node(loss_).name))};
    countContributions();
    contributions_.assign(sourceSize_, {});
    for (ValueId id = loss_ + 1; id-- > 0;) {
      if (!needsGrad_[id] || isLeaf(graph_.node(id).op)) continue;
      Status status = applyRule(id);
      if (!status) return status.error();
    }
    std::vector<std::pair<ValueId, ValueId>> gradients;
    for (ValueId id = 0; id < sourceSize_; ++id) {
      if (graph_.node(id).op != Op::Param || !needsGrad_[id]) continue;
      Expected<ValueId> grad = gradientOf(id);
      if (!grad) return grad.error();
      gradients.emplace_back(id, *grad);
    }
    return gradients;
  }

 private:
  // A value needs a gradient if it depends on a param and a gradient flows
  // to it from the loss: it is the loss, or an operand through which a user
  // that needs a gradient passes one on.
  void markNodes() {
    std::vector<bool> dependsOnParam(sourceSize_, false);
    for (ValueId id = 0; id < sourceSize_; ++id) {
      const Node& node = graph_.node(id);
      dependsOnParam[id] = node.op == Op::Param;
      for (ValueId operand : node.operands) dependsOnParam[id] = dependsOnParam[id] || dependsOnParam[operand];
    }
    needsGrad_.assign(sourceSize_, false);
    needsGrad_[loss_] = dependsOnParam[loss_];
    for (ValueId id = loss_ + 1; id-- > 0;) {
      if (!needsGrad_[id]) continue;
      const Node& node = graph_.node(id);
      for (size_t i = 0; i < node.operands.size(); ++i)
        if (dependsOnParam[node.operands[i]] && receivesGradient(node, i)) needsGrad_[node.operands[i]] = true;
    }
  }

  // Operands that receive a gradient from their user: batch statistics and
  // labels are not differentiated on their own (batch_norm_train's rule
  // covers the statistics).
  bool receivesGradient(const Node& user, size_t operandIndex) const {
    if (user.op == Op::BatchNormTrain) return operandIndex != 1;
    if (user.op == Op::SoftmaxCrossEntropy) return operandIndex == 0;
    return true;
  }

  void countContributions() {
    expected_.assign(sourceSize_, 0);
    for (ValueId id = 0; id <= loss_; ++id) {
      const Node& node = graph_.node(id);
      if (!needsGrad_[id]) continue;
      for (size_t i = 0; i < node.operands.size(); ++i)
        if (needsGrad_[node.operands[i]] && receivesGradient(node, i)) ++expected_[node.operands[i]];
    }
  }

  std::string contributionName(ValueId target) const {
    const std::string base = graph_.node(target).name + ".grad";
    if (expected_[target] == 1) return base;
    return fmt::format("{}.{}", base, contributions_[target].size());
  }

  Expected<ValueId> emit(Op op, std::string name, std::vector<ValueId> operands, AttributeMap attrs = {}) {
    Expected<ValueId> id = graph_.addNode(op, std::move(name), std::move(operands), std::move(attrs));
    if (!id) return Error{fmt::format("autodiff: {}", id.error().message)};
    return id;
  }

  // Adds a contribution computed by a new node to the gradient of `target`.
  Status contribute(ValueId target, Op op, std::vector<ValueId> operands, AttributeMap attrs = {}) {
    if (!needsGrad_[target]) return Status::ok();
    Expected<ValueId> value = emit(op, contributionName(target), std::move(operands), std::move(attrs));
    if (!value) return value.error();
    contributions_[target].push_back(*value);
    return Status::ok();
  }

  // Passes an existing value on as a contribution (the rule of add).
  void forward(ValueId target, ValueId value) {
    if (needsGrad_[target]) contributions_[target].push_back(value);
  }

  // The complete gradient of `id`: its only contribution, or their sum.
  Expected<ValueId> gradientOf(ValueId id) {
    std::vector<ValueId>& parts = contributions_[id];
    if (parts.empty())
      return Error{fmt::format("autodiff: {} received no gradient", valueRef(graph_.node(id).name))};
    if (parts.size() > 1) {
      Expected<ValueId> sum = emit(Op::Add, graph_.node(id).name + ".grad", parts);
      if (!sum) return sum.error();
      parts = {*sum};
    }
    return parts.front();
  }

  Status applyRule(ValueId id) {
    const Node node = graph_.node(id);  // a copy: emitting nodes may reallocate the graph
    if (node.op == Op::SoftmaxCrossEntropy) {
      if (id != loss_) return Error{"autodiff: softmax_xent must be the loss"};
      return contribute(node.operands[0], Op::SoftmaxCrossEntropyBackward, node.operands);
    }
    Expected<ValueId> gradient = gradientOf(id);
    if (!gradient) return gradient.error();
    const ValueId dy = *gradient;
    auto in = [&](size_t i) { return node.operands[i]; };
    auto attr = [&](std::string_view key) { return node.attrs.at(std::string(key)); };
    const std::vector<int64_t>& inDims = graph_.node(in(0)).type.dims;
    const IntList inputHw = inDims.size() == 4 ? IntList{inDims[2], inDims[3]} : IntList{};
    switch (node.op) {
      case Op::Conv2D: {
        const std::vector<int64_t>& w = graph_.node(in(1)).type.dims;
        const AttributeMap window = {{"strides", attr("strides")}, {"pads", attr("pads")}};
        AttributeMap dataAttrs = window, filterAttrs = window;
        dataAttrs["input_hw"] = inputHw;
        filterAttrs["kernel"] = IntList{w[2], w[3]};
        CNNC_TRY(contribute(in(0), Op::Conv2DBackwardData, {dy, in(1)}, dataAttrs));
        CNNC_TRY(contribute(in(1), Op::Conv2DBackwardFilter, {in(0), dy}, filterAttrs));
        if (node.operands.size() == 3) return contribute(in(2), Op::BiasGrad, {dy});
        return Status::ok();
      }
      case Op::Dense:
        CNNC_TRY(contribute(in(0), Op::DenseBackwardData, {dy, in(1)}));
        CNNC_TRY(contribute(in(1), Op::DenseBackwardWeight, {dy, in(0)}));
        if (node.operands.size() == 3) return contribute(in(2), Op::BiasGrad, {dy});
        return Status::ok();
      case Op::MaxPool2D:
        return contribute(in(0), Op::MaxPool2DBackward, {in(0), dy}, node.attrs);
      case Op::AvgPool2D: {
        AttributeMap attrs = node.attrs;
        attrs["input_hw"] = inputHw;
        return contribute(in(0), Op::AvgPool2DBackward, {dy}, attrs);
      }
      case Op::GlobalAvgPool2D:
        return contribute(in(0), Op::GlobalAvgPool2DBackward, {dy}, {{"input_hw", inputHw}});
      case Op::Flatten:
        return contribute(in(0), Op::Reshape, {dy}, {{"shape", inDims}});
      case Op::Relu: return contribute(in(0), Op::ReluBackward, {dy, id});
      case Op::Sigmoid: return contribute(in(0), Op::SigmoidBackward, {dy, id});
      case Op::Tanh: return contribute(in(0), Op::TanhBackward, {dy, id});
      case Op::Add:
        for (ValueId operand : node.operands) forward(operand, dy);
        return Status::ok();
      case Op::Mul:
        CNNC_TRY(contribute(in(0), Op::Mul, {dy, in(1)}));
        return contribute(in(1), Op::Mul, {dy, in(0)});
      case Op::Concat: {
        int64_t offset = 0;
        for (ValueId operand : node.operands) {
          const int64_t channels = graph_.node(operand).type.dims[1];
          CNNC_TRY(contribute(operand, Op::ChannelSlice, {dy}, {{"offset", offset}, {"channels", channels}}));
          offset += channels;
        }
        return Status::ok();
      }
      case Op::BatchNormTrain:
        return batchNormRule(node, dy);
      default:
        return Error{fmt::format("autodiff: no gradient rule for {} ({})", mnemonic(node.op), valueRef(node.name))};
    }
  }

  // dbeta = sum(dy); dgamma = sum(dy * xhat); dx from both (see the reference kernels).
  Status batchNormRule(const Node& node, ValueId dy) {
    const ValueId x = node.operands[0], stats = node.operands[1], gamma = node.operands[2], beta = node.operands[3];
    const AttributeMap eps = {{"epsilon", node.attrs.at("epsilon")}};
    CNNC_TRY(contribute(beta, Op::BiasGrad, {dy}));
    CNNC_TRY(contribute(gamma, Op::BatchNormBackwardGamma, {dy, x, stats}, eps));
    if (!needsGrad_[x]) return Status::ok();
    Expected<ValueId> dgamma = gradientOf(gamma), dbeta = gradientOf(beta);
    if (!dgamma) return dgamma.error();
    if (!dbeta) return dbeta.error();
    return contribute(x, Op::BatchNormBackwardData, {dy, x, stats, gamma, *dgamma, *dbeta}, eps);
  }

  Graph& graph_;
  ValueId loss_;
  ValueId sourceSize_;
  std::vector<bool> needsGrad_;
  std::vector<int> expected_;
  std::vector<std::vector<ValueId>> contributions_;
};

}  // namespace

Expected<std::vector<std::pair<ValueId, ValueId>>> differentiate(Graph& graph, ValueId loss) {
  return Autodiff(graph, loss).run();
}

}  // namespace cnnc

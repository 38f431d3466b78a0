#include "runtime/reference_executor.h"

#include <fmt/format.h>

#include "ir/fused_activation.h"
#include "ir/fused_norm.h"
#include "ir/fused_projection.h"
#include "ir/fused_residual.h"
#include "ir/printer.h"
#include "runtime/dropout_mask.h"
#include "runtime/reference_kernels.h"

namespace cnnc {
namespace {

// Attribute readers; the verifier has already checked presence and ranges.
int64_t intOf(const Node& node, std::string_view key) { return *getInt(node.attrs, key); }
double floatOf(const Node& node, std::string_view key) { return *getFloat(node.attrs, key); }
IntList intsOf(const Node& node, std::string_view key) { return *getInts(node.attrs, key); }

// The sliding window of a conv or pooling node with attributes `attrs`;
// `window` is the pool size or the convolution kernel.
ref::Window windowOf(const AttributeMap& attrs, const IntList& window) {
  IntList s = *getInts(attrs, "strides"), p = *getInts(attrs, "pads");
  return {window[0], window[1], s[0], s[1], p[0], p[1], p[2], p[3]};
}
ref::Window windowOf(const Node& node, const IntList& window) { return windowOf(node.attrs, window); }

// The reference kernel's name for relu, sigmoid or tanh.
ref::Activation activationKind(Op op) {
  switch (op) {
    case Op::Relu: return ref::Activation::Relu;
    case Op::Sigmoid: return ref::Activation::Sigmoid;
    default: return ref::Activation::Tanh;
  }
}

// y through `node`'s fused activation, if it has one.
template <class T>
TensorOf<T> withActivation(const Node& node, TensorOf<T> y) {
  std::optional<Op> activation = fusedActivation(node.attrs);
  return activation ? ref::activation(activationKind(*activation), y) : y;
}

template <class T>
class Interpreter {
 public:
  Interpreter(const Graph& graph, Bindings<T>& bindings) : graph_(graph), bindings_(bindings) {
    values_.resize(graph.size());
  }

  Expected<std::vector<TensorOf<T>>> run() {
    for (ValueId id = 0; id < graph_.size(); ++id) {
      Status status = evaluate(id);
      if (!status) return status.error();
    }
    for (const Node& node : graph_.nodes())
      if (node.op == Op::Assign) bindings_[graph_.node(node.operands[0]).name] = value(node.operands[1]);
    std::vector<TensorOf<T>> outputs;
    for (ValueId id : graph_.outputs()) outputs.push_back(values_[id]);
    return outputs;
  }

 private:
  const TensorOf<T>& value(ValueId id) const { return values_[id]; }
  const TensorOf<T>& operand(const Node& node, size_t i) const { return values_[node.operands[i]]; }
  // Operand i of the op itself, if the node has it (ownOperandCount).
  const TensorOf<T>* optionalOperand(const Node& node, size_t i) const {
    return i < ownOperandCount(node) ? &operand(node, i) : nullptr;
  }
  // y plus the residual the node adds (ir/fused_residual.h), if any.
  TensorOf<T> withResidual(const Node& node, TensorOf<T> y) const {
    const std::optional<ValueId> residual = residualOf(node);
    return residual ? ref::add(std::vector<const TensorOf<T>*>{&y, &value(*residual)}) : y;
  }
  // The operands of the op itself (ownOperandCount).
  std::vector<const TensorOf<T>*> allOperands(const Node& node) const {
    std::vector<const TensorOf<T>*> xs;
    for (size_t k = 0; k < ownOperandCount(node); ++k) xs.push_back(&operand(node, k));
    return xs;
  }

  Status bindLeaf(const Node& node, ValueId id) {
    auto it = bindings_.find(node.name);
    if (it == bindings_.end()) return Error{fmt::format("no value given for {}", valueRef(node.name))};
    if (it->second.dims != node.type.dims)
      return Error{fmt::format("{} must be {}, got {}", valueRef(node.name), dimsToString(node.type.dims),
                               dimsToString(it->second.dims))};
    values_[id] = it->second;
    return Status::ok();
  }

  // Labels as integers, checked against the number of classes.
  Expected<std::vector<int64_t>> labelsOf(const Node& node) const {
    const TensorOf<T>& logits = operand(node, 0);
    const int64_t classes = logits.dims[1];
    std::vector<int64_t> labels;
    for (T v : operand(node, 1).data) {
      auto label = static_cast<int64_t>(v);
      if (label < 0 || label >= classes || static_cast<T>(label) != v)
        return Error{fmt::format("label {} is out of range for {} classes", v, classes)};
      labels.push_back(label);
    }
    return labels;
  }

  TensorOf<T> dropoutMask(const Node& node) const {
    TensorOf<T> mask(intsOf(node, "shape"));
    const auto seed = static_cast<uint64_t>(intOf(node, "seed"));
    const auto step = static_cast<uint64_t>(operand(node, 0).data[0]);
    const auto rate = static_cast<float>(floatOf(node, "rate"));
    for (size_t i = 0; i < mask.data.size(); ++i) mask.data[i] = dropoutMaskValue(seed, step, i, rate);
    return mask;
  }

  ref::SgdConfig sgdConfig(const Node& node) const {
    return {floatOf(node, "learning_rate"), floatOf(node, "momentum"),
            node.op == Op::SgdApply && intOf(node, "nesterov") != 0,
            node.op == Op::SgdApply ? floatOf(node, "weight_decay") : 0.0};
  }

  Status evaluate(ValueId id) {
    const Node& node = graph_.node(id);
    if (isLeaf(node.op)) return bindLeaf(node, id);
    if (node.op == Op::SoftmaxCrossEntropy || node.op == Op::SoftmaxCrossEntropyBackward) {
      Expected<std::vector<int64_t>> labels = labelsOf(node);
      if (!labels) return labels.error();
      values_[id] = node.op == Op::SoftmaxCrossEntropy ? ref::softmaxCrossEntropy(operand(node, 0), *labels)
                                                       : ref::softmaxCrossEntropyBackward(operand(node, 0), *labels);
      return Status::ok();
    }
    values_[id] = compute(node);
    // A fused activation gradient, from the activation's output.
    if (std::optional<Op> activation = fusedActivationGradient(node.attrs))
      values_[id] = ref::activationBackward(activationKind(*activation), values_[id], value(activationOutputOf(node)));
    return Status::ok();
  }

  TensorOf<T> compute(const Node& node) const {
    using ref::Activation;
    auto x = [&](size_t i) -> const TensorOf<T>& { return operand(node, i); };
    const std::vector<int64_t>& outDims = node.type.dims;
    switch (node.op) {
      case Op::Conv2D: {
        const std::vector<int64_t>& w = x(1).dims;
        TensorOf<T> y = ref::conv2d(x(0), x(1), optionalOperand(node, 2), windowOf(node, {w[2], w[3]}));
        if (std::optional<NormOperands> norm = foldedNormOf(node))
          y = ref::batchNormApply(y, value(norm->mean), value(norm->variance), value(norm->gamma), value(norm->beta),
                                  floatOf(node, "epsilon"));
        return withActivation(node, withResidual(node, y));
      }
      case Op::MaxPool2D: return ref::maxPool2d(x(0), windowOf(node, intsOf(node, "window")));
      case Op::AvgPool2D: return ref::avgPool2d(x(0), windowOf(node, intsOf(node, "window")));
      case Op::GlobalAvgPool2D: return ref::globalAvgPool2d(x(0));
      case Op::Flatten:
      case Op::Reshape: {
        TensorOf<T> y = x(0);
        y.dims = outDims;
        return y;
      }
      case Op::Dense: return withActivation(node, ref::dense(x(0), x(1), optionalOperand(node, 2)));
      case Op::BatchNorm:
        return withActivation(
            node, withResidual(node, ref::batchNormApply(x(0), x(3), x(4), x(1), x(2), floatOf(node, "epsilon"))));
      case Op::Dropout: return x(0);  // inference: the identity
      case Op::Relayout: return x(0);  // values are logical here: layouts are for generated code
      case Op::FilterTranspose: return ref::filterTranspose(x(0));
      case Op::Relu:
      case Op::Sigmoid:
      case Op::Tanh: return ref::activation(activationKind(node.op), x(0));
      case Op::Add: return withActivation(node, ref::add(allOperands(node)));
      case Op::Concat: return ref::concat(allOperands(node));
      case Op::Softmax: return ref::softmax(x(0));
      case Op::BatchNormStats: return ref::batchNormStats(x(0));
      case Op::BatchNormTrain:
        return withActivation(node,
                              withResidual(node, ref::batchNormTrain(x(0), x(1), x(2), x(3), floatOf(node, "epsilon"))));
      case Op::BatchNormRunning:
        return ref::batchNormRunning(x(0), x(1), intOf(node, "row"), intOf(node, "count"), floatOf(node, "momentum"));
      case Op::DropoutMask: return dropoutMask(node);
      case Op::Mul: return ref::mul(x(0), x(1));
      case Op::Conv2DBackwardData: {
        const std::vector<int64_t>& w = x(1).dims;
        TensorOf<T> dx = ref::conv2dBackwardData(x(0), x(1), outDims[2], outDims[3], windowOf(node, {w[2], w[3]}));
        if (projectionOf(node)) {
          // ir/fused_projection.h: the 1x1 sibling's data gradient too.
          const TensorOf<T> projected = ref::conv2dBackwardData(x(2), x(3), outDims[2], outDims[3],
                                                                windowOf(projectionWindow(node.attrs), {1, 1}));
          dx = ref::add(std::vector<const TensorOf<T>*>{&dx, &projected});
        }
        return withResidual(node, dx);
      }
      case Op::Conv2DBackwardFilter: return ref::conv2dBackwardFilter(x(0), x(1), windowOf(node, intsOf(node, "kernel")));
      case Op::BiasGrad: return ref::biasGrad(x(0));
      case Op::DenseBackwardData: return ref::denseBackwardData(x(0), x(1));
      case Op::DenseBackwardWeight: return ref::denseBackwardWeight(x(0), x(1));
      case Op::MaxPool2DBackward: return ref::maxPool2dBackward(x(0), x(1), windowOf(node, intsOf(node, "window")));
      case Op::AvgPool2DBackward:
        return ref::avgPool2dBackward(x(0), outDims[2], outDims[3], windowOf(node, intsOf(node, "window")));
      case Op::GlobalAvgPool2DBackward: return ref::globalAvgPool2dBackward(x(0), outDims[2], outDims[3]);
      case Op::ReluBackward:
      case Op::SigmoidBackward:
      case Op::TanhBackward:
        return ref::activationBackward(activationKind(*activationOfGradient(node.op)), x(0), x(1));
      case Op::ReluMask: return ref::reluMask(x(0));
      case Op::ChannelSlice: return ref::channelSlice(x(0), intOf(node, "offset"), intOf(node, "channels"));
      case Op::BatchNormBackwardGamma: return ref::batchNormBackwardGamma(x(0), x(1), x(2), floatOf(node, "epsilon"));
      case Op::BatchNormBackwardData:
        return ref::batchNormBackwardData(x(0), x(1), x(2), x(3), x(4), x(5), floatOf(node, "epsilon"));
      case Op::SgdVelocity: return ref::sgdVelocity(x(0), x(1), sgdConfig(node));
      case Op::SgdApply: return ref::sgdApply(x(0), x(1), optionalOperand(node, 2), sgdConfig(node));
      case Op::AdamMoment:
        return ref::adamMoment(x(0), x(1), floatOf(node, "decay"), static_cast<int>(intOf(node, "power")));
      case Op::AdamApply:
        return ref::adamApply(x(0), x(1), x(2), x(3).data[0],
                              ref::AdamConfig{floatOf(node, "learning_rate"), floatOf(node, "beta1"),
                                              floatOf(node, "beta2"), floatOf(node, "epsilon"),
                                              floatOf(node, "weight_decay")});
      case Op::Increment: {
        TensorOf<T> next = x(0);
        next.data[0] += T{1};
        return next;
      }
      case Op::Assign: return x(1);
      case Op::Input:
      case Op::Param:
      case Op::State:
      case Op::SoftmaxCrossEntropy:
      case Op::SoftmaxCrossEntropyBackward:
        break;  // handled by evaluate()
    }
    assert(false && "op without a reference kernel");
    return {};
  }

  const Graph& graph_;
  Bindings<T>& bindings_;
  std::vector<TensorOf<T>> values_;
};

}  // namespace

template <class T>
Expected<std::vector<TensorOf<T>>> executeReference(const Graph& graph, Bindings<T>& bindings) {
  return Interpreter<T>(graph, bindings).run();
}

template Expected<std::vector<TensorOf<float>>> executeReference(const Graph&, Bindings<float>&);
template Expected<std::vector<TensorOf<double>>> executeReference(const Graph&, Bindings<double>&);

}  // namespace cnnc

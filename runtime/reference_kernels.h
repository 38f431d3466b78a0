// The reference kernels: the correctness oracle of cnnc. Naive loops written
// to be read, one forward/backward pair per op (in the manner of llm.c), with
// a shape comment on every buffer. Every generated kernel and every pass is
// checked against these; they are never the fast path.
//
// Templated on the element type: float for training, double for gradient
// checks by finite differences. Tensors are row-major: images [N, C, H, W],
// flat activations [N, F].
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/tensor.h"

namespace cnnc::ref {

// A sliding window over H and W: kernel or pool size, strides and padding
// (top, left, bottom, right).
struct Window {
  int64_t kh, kw;
  int64_t sh, sw;
  int64_t padTop, padLeft, padBottom, padRight;
};

// x [N,C,H,W], w [F,C,KH,KW], bias [F] or empty -> y [N,F,OH,OW]
template <class T>
TensorOf<T> conv2d(const TensorOf<T>& x, const TensorOf<T>& w, const TensorOf<T>* bias, const Window& win);
// dy [N,F,OH,OW], w [F,C,KH,KW] -> dx [N,C,H,W]
template <class T>
TensorOf<T> conv2dBackwardData(const TensorOf<T>& dy, const TensorOf<T>& w, int64_t h, int64_t wd,
                               const Window& win);
// x [N,C,H,W], dy [N,F,OH,OW] -> dw [F,C,KH,KW]
template <class T>
TensorOf<T> conv2dBackwardFilter(const TensorOf<T>& x, const TensorOf<T>& dy, const Window& win);
// w [F,C,KH,KW] -> [C,F,KH,KW] with wt[c,f,i,j] = w[f,c,KH-1-i,KW-1-j]
template <class T>
TensorOf<T> filterTranspose(const TensorOf<T>& w);
// dy [N,C,...] -> db [C]: the sum over every axis but the channel axis
template <class T>
TensorOf<T> biasGrad(const TensorOf<T>& dy);

// x [N,C,H,W] -> y [N,C,OH,OW]; padded positions never win
template <class T>
TensorOf<T> maxPool2d(const TensorOf<T>& x, const Window& win);
// x [N,C,H,W], dy [N,C,OH,OW] -> dx [N,C,H,W]; the first maximum of a window takes the gradient
template <class T>
TensorOf<T> maxPool2dBackward(const TensorOf<T>& x, const TensorOf<T>& dy, const Window& win);
// x [N,C,H,W] -> y [N,C,OH,OW]; the mean over the window's unpadded elements
template <class T>
TensorOf<T> avgPool2d(const TensorOf<T>& x, const Window& win);
// dy [N,C,OH,OW] -> dx [N,C,H,W]
template <class T>
TensorOf<T> avgPool2dBackward(const TensorOf<T>& dy, int64_t h, int64_t w, const Window& win);
// x [N,C,H,W] -> y [N,C]
template <class T>
TensorOf<T> globalAvgPool2d(const TensorOf<T>& x);
// dy [N,C] -> dx [N,C,H,W]
template <class T>
TensorOf<T> globalAvgPool2dBackward(const TensorOf<T>& dy, int64_t h, int64_t w);

// x [N,F], w [U,F], bias [U] or empty -> y [N,U]
template <class T>
TensorOf<T> dense(const TensorOf<T>& x, const TensorOf<T>& w, const TensorOf<T>* bias);
// dy [N,U], w [U,F] -> dx [N,F]
template <class T>
TensorOf<T> denseBackwardData(const TensorOf<T>& dy, const TensorOf<T>& w);
// dy [N,U], x [N,F] -> dw [U,F]
template <class T>
TensorOf<T> denseBackwardWeight(const TensorOf<T>& dy, const TensorOf<T>& x);

enum class Activation { Relu, Sigmoid, Tanh };
template <class T>
TensorOf<T> activation(Activation kind, const TensorOf<T>& x);
// The derivative from the activation's output y (not its input), so that a
// producer fused with its activation never has to keep the input.
template <class T>
TensorOf<T> activationBackward(Activation kind, const TensorOf<T>& dy, const TensorOf<T>& y);
// relu_mask: 1 where y > 0, else 0, which activationBackward takes in
// place of a relu's output y: values are logical here, bits only in
// generated code.
template <class T>
TensorOf<T> reluMask(const TensorOf<T>& y);

// Batch statistics x [N,C,...] -> [2,C]: per-channel mean, then biased variance.
template <class T>
TensorOf<T> batchNormStats(const TensorOf<T>& x);
// Normalises with the given mean and variance: y = gamma (x - mean) / sqrt(var + eps) + beta.
template <class T>
TensorOf<T> batchNormApply(const TensorOf<T>& x, const TensorOf<T>& mean, const TensorOf<T>& var,
                           const TensorOf<T>& gamma, const TensorOf<T>& beta, double epsilon);
// Training-mode batch_norm with statistics `stats` [2,C] from batchNormStats.
template <class T>
TensorOf<T> batchNormTrain(const TensorOf<T>& x, const TensorOf<T>& stats, const TensorOf<T>& gamma,
                           const TensorOf<T>& beta, double epsilon);
// dgamma [C] = sum(dy * xhat)
template <class T>
TensorOf<T> batchNormBackwardGamma(const TensorOf<T>& dy, const TensorOf<T>& x, const TensorOf<T>& stats,
                                   double epsilon);
// dx = gamma / sqrt(var + eps) * (dy - dbeta / M - xhat * dgamma / M), M = N*H*W
template <class T>
TensorOf<T> batchNormBackwardData(const TensorOf<T>& dy, const TensorOf<T>& x, const TensorOf<T>& stats,
                                  const TensorOf<T>& gamma, const TensorOf<T>& dgamma,
                                  const TensorOf<T>& dbeta, double epsilon);
// r = momentum r + (1 - momentum) batch, where batch is stats row `row`, the
// variance made unbiased (times M / (M - 1)) for row 1.
template <class T>
TensorOf<T> batchNormRunning(const TensorOf<T>& running, const TensorOf<T>& stats, int64_t row, int64_t m,
                             double momentum);

template <class T>
TensorOf<T> add(const std::vector<const TensorOf<T>*>& xs);
template <class T>
TensorOf<T> mul(const TensorOf<T>& a, const TensorOf<T>& b);
// Joins [N,Ci,...] along axis 1.
template <class T>
TensorOf<T> concat(const std::vector<const TensorOf<T>*>& xs);
// Channels [offset, offset + count) of x [N,C,...].
template <class T>
TensorOf<T> channelSlice(const TensorOf<T>& x, int64_t offset, int64_t count);

// Row-wise softmax of x [N,K].
template <class T>
TensorOf<T> softmax(const TensorOf<T>& x);
// Mean over the batch of -log softmax(logits)[label]; logits [N,K], labels [N] -> scalar.
template <class T>
TensorOf<T> softmaxCrossEntropy(const TensorOf<T>& logits, const std::vector<int64_t>& labels);
// d(mean loss)/d logits = (softmax(logits) - onehot(labels)) / N.
template <class T>
TensorOf<T> softmaxCrossEntropyBackward(const TensorOf<T>& logits, const std::vector<int64_t>& labels);

}  // namespace cnnc::ref

namespace cnnc::ref {

// The optimizer updates, elementwise. Weight decay is decoupled (as in
// Keras): w is first scaled by (1 - learning_rate * weight_decay).
struct SgdConfig {
  double learningRate, momentum;
  bool nesterov;
  double weightDecay;
};
// v' = momentum v - lr g
template <class T>
TensorOf<T> sgdVelocity(const TensorOf<T>& v, const TensorOf<T>& g, const SgdConfig& config);
// w' = w + v' (nesterov: w + momentum v' - lr g), or w - lr g without momentum (velocity null)
template <class T>
TensorOf<T> sgdApply(const TensorOf<T>& w, const TensorOf<T>& g, const TensorOf<T>* velocity, const SgdConfig& config);

struct AdamConfig {
  double learningRate, beta1, beta2, epsilon, weightDecay;
};
// m' = decay m + (1 - decay) g^power
template <class T>
TensorOf<T> adamMoment(const TensorOf<T>& m, const TensorOf<T>& g, double decay, int power);
// w' = w - lr m'/(1 - beta1^t) / (sqrt(v'/(1 - beta2^t)) + epsilon), t the step after increment
template <class T>
TensorOf<T> adamApply(const TensorOf<T>& w, const TensorOf<T>& m, const TensorOf<T>& v, T step,
                      const AdamConfig& config);

}  // namespace cnnc::ref

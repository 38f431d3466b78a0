// Every backward reference kernel against central finite differences of its
// forward kernel, in double, over awkward shapes: 3 input channels, odd sizes
// (13x13, 17x19), stride 2, asymmetric padding, a [3,5] kernel, batch 1 and
// odd batches. Inputs are drawn away from ReLU kinks and max-pool ties.
//
// For a forward f and a fixed random upstream gradient r, the scalar
// L(x) = sum(f(x) * r) has dL/dx = backward(r); each element of that is
// compared with (L(x + h e_i) - L(x - h e_i)) / 2h.
#include <cmath>
#include <functional>
#include <random>

#include <gtest/gtest.h>

#include "runtime/reference_kernels.h"

namespace cnnc::ref {
namespace {

using T64 = TensorOf<double>;

T64 randomTensor(std::vector<int64_t> dims, uint64_t seed, double lo = -1.0, double hi = 1.0) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  T64 t(std::move(dims));
  for (double& v : t.data) v = dist(rng);
  return t;
}

// Values spaced at least `gap` apart in random order, so that no max-pool
// window has a tie and no ReLU input is within reach of its kink.
T64 distinctTensor(std::vector<int64_t> dims, uint64_t seed, double gap = 0.01) {
  T64 t(std::move(dims));
  std::vector<int64_t> order(t.data.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int64_t>(i);
  std::shuffle(order.begin(), order.end(), std::mt19937_64(seed));
  const double mid = static_cast<double>(order.size()) / 2.0 + 0.5;
  for (size_t i = 0; i < order.size(); ++i) t.data[i] = (static_cast<double>(order[i]) - mid) * gap;
  return t;
}

double dot(const T64& a, const T64& b) {
  double sum = 0;
  for (size_t i = 0; i < a.data.size(); ++i) sum += a.data[i] * b.data[i];
  return sum;
}

// Checks `analytic` = d/dx sum(forward(x) * upstream) numerically.
void expectGradient(const std::function<T64(const T64&)>& forward, T64 x, const T64& upstream,
                    const T64& analytic, double h = 1e-5) {
  ASSERT_EQ(analytic.dims, x.dims);
  double worst = 0;
  for (size_t i = 0; i < x.data.size(); ++i) {
    const double saved = x.data[i];
    x.data[i] = saved + h;
    const double plus = dot(forward(x), upstream);
    x.data[i] = saved - h;
    const double minus = dot(forward(x), upstream);
    x.data[i] = saved;
    const double numeric = (plus - minus) / (2 * h);
    const double error = std::abs(numeric - analytic.data[i]) / std::max(1.0, std::abs(numeric));
    worst = std::max(worst, error);
    ASSERT_LT(error, 1e-6) << "element " << i << ": numeric " << numeric << " analytic " << analytic.data[i];
  }
  EXPECT_LT(worst, 1e-6);
}

struct ConvCase {
  std::vector<int64_t> x, w;
  Window win;
};

// Asymmetric "same" padding of 17x19 with a [3,5] kernel at stride 2: total
// pads 2 (H) and 4 (W); the odd one goes to the bottom/right.
const ConvCase kConvCases[] = {
    {{1, 3, 13, 13}, {4, 3, 3, 3}, {3, 3, 1, 1, 0, 0, 0, 0}},
    {{3, 3, 17, 19}, {2, 3, 3, 5}, {3, 5, 2, 2, 1, 2, 1, 2}},
    {{2, 5, 8, 7}, {3, 5, 3, 3}, {3, 3, 2, 2, 0, 0, 1, 1}},
    {{1, 2, 6, 6}, {3, 2, 1, 1}, {1, 1, 2, 2, 0, 0, 0, 0}},
};

TEST(ReferenceGradients, Conv2DData) {
  for (const ConvCase& c : kConvCases) {
    const T64 w = randomTensor(c.w, 1), b = randomTensor({c.w[0]}, 2);
    const T64 x = randomTensor(c.x, 3);
    const T64 dy = randomTensor(conv2d(x, w, &b, c.win).dims, 4);
    expectGradient([&](const T64& v) { return conv2d(v, w, &b, c.win); }, x, dy,
                   conv2dBackwardData(dy, w, c.x[2], c.x[3], c.win));
  }
}

TEST(ReferenceGradients, Conv2DFilterAndBias) {
  for (const ConvCase& c : kConvCases) {
    const T64 x = randomTensor(c.x, 5), w = randomTensor(c.w, 6), b = randomTensor({c.w[0]}, 7);
    const T64 dy = randomTensor(conv2d(x, w, &b, c.win).dims, 8);
    expectGradient([&](const T64& v) { return conv2d(x, v, &b, c.win); }, w, dy, conv2dBackwardFilter(x, dy, c.win));
    expectGradient([&](const T64& v) { return conv2d(x, w, &v, c.win); }, b, dy, biasGrad(dy));
  }
}

TEST(ReferenceGradients, Pooling) {
  const Window windows[] = {{2, 2, 2, 2, 0, 0, 0, 0}, {3, 3, 2, 2, 1, 1, 1, 1}, {3, 2, 1, 2, 0, 1, 2, 0}};
  for (const Window& win : windows) {
    const T64 x = distinctTensor({3, 3, 13, 11}, 9);
    const T64 dyMax = randomTensor(maxPool2d(x, win).dims, 10);
    expectGradient([&](const T64& v) { return maxPool2d(v, win); }, x, dyMax, maxPool2dBackward(x, dyMax, win), 1e-4);
    const T64 dyAvg = randomTensor(avgPool2d(x, win).dims, 11);
    expectGradient([&](const T64& v) { return avgPool2d(v, win); }, x, dyAvg, avgPool2dBackward(dyAvg, 13, 11, win));
  }
  const T64 x = randomTensor({3, 4, 5, 7}, 12), dy = randomTensor({3, 4}, 13);
  expectGradient([](const T64& v) { return globalAvgPool2d(v); }, x, dy, globalAvgPool2dBackward(dy, 5, 7));
}

TEST(ReferenceGradients, Dense) {
  const T64 x = randomTensor({3, 17}, 14), w = randomTensor({5, 17}, 15), b = randomTensor({5}, 16);
  const T64 dy = randomTensor({3, 5}, 17);
  expectGradient([&](const T64& v) { return dense(v, w, &b); }, x, dy, denseBackwardData(dy, w));
  expectGradient([&](const T64& v) { return dense(x, v, &b); }, w, dy, denseBackwardWeight(dy, x));
  expectGradient([&](const T64& v) { return dense(x, w, &v); }, b, dy, biasGrad(dy));
}

TEST(ReferenceGradients, Activations) {
  for (Activation kind : {Activation::Relu, Activation::Sigmoid, Activation::Tanh}) {
    const T64 x = distinctTensor({3, 2, 5, 5}, 18, 0.02);
    const T64 dy = randomTensor(x.dims, 19);
    expectGradient([&](const T64& v) { return activation(kind, v); }, x, dy,
                   activationBackward(kind, dy, activation(kind, x)));
  }
}

TEST(ReferenceGradients, BatchNormTraining) {
  for (const std::vector<int64_t>& dims : {std::vector<int64_t>{3, 4, 5, 3}, std::vector<int64_t>{5, 6}}) {
    const int64_t C = dims[1];
    const T64 x = randomTensor(dims, 20), gamma = randomTensor({C}, 21, 0.5, 1.5), beta = randomTensor({C}, 22);
    const T64 dy = randomTensor(dims, 23);
    const double eps = 1e-5;
    auto forward = [&](const T64& v, const T64& g, const T64& b) { return batchNormTrain(v, batchNormStats(v), g, b, eps); };
    const T64 stats = batchNormStats(x);
    const T64 dbeta = biasGrad(dy), dgamma = batchNormBackwardGamma(dy, x, stats, eps);
    expectGradient([&](const T64& v) { return forward(v, gamma, beta); }, x, dy,
                   batchNormBackwardData(dy, x, stats, gamma, dgamma, dbeta, eps));
    expectGradient([&](const T64& v) { return forward(x, v, beta); }, gamma, dy, dgamma);
    expectGradient([&](const T64& v) { return forward(x, gamma, v); }, beta, dy, dbeta);
  }
}

TEST(ReferenceGradients, AddMulConcatSlice) {
  const T64 a = randomTensor({3, 2, 4, 4}, 24), b = randomTensor({3, 5, 4, 4}, 25), c = randomTensor({3, 2, 4, 4}, 26);
  const T64 dyAdd = randomTensor(a.dims, 27);
  expectGradient([&](const T64& v) { return add<double>({&v, &c, &v}); }, a, dyAdd, add<double>({&dyAdd, &dyAdd}));
  expectGradient([&](const T64& v) { return mul(v, c); }, a, dyAdd, mul(dyAdd, c));
  const T64 dyCat = randomTensor({3, 9, 4, 4}, 28);
  expectGradient([&](const T64& v) { return concat<double>({&a, &v, &c}); }, b, dyCat, channelSlice(dyCat, 2, 5));
}

TEST(ReferenceGradients, SoftmaxCrossEntropy) {
  const T64 logits = randomTensor({5, 7}, 29, -3, 3);
  const std::vector<int64_t> labels = {0, 6, 3, 3, 1};
  const T64 one = T64(std::vector<int64_t>{}, 1.0);
  expectGradient([&](const T64& v) { return softmaxCrossEntropy(v, labels); }, logits, one,
                 softmaxCrossEntropyBackward(logits, labels));
}

TEST(ReferenceKernels, HandComputedValues) {
  // 1 image, 1 channel 3x3 = 1..9; 2x2 kernel of ones; stride 1; no padding.
  TensorOf<double> x({1, 1, 3, 3});
  for (int i = 0; i < 9; ++i) x.data[i] = i + 1;
  const TensorOf<double> w({1, 1, 2, 2}, 1.0);
  EXPECT_EQ(conv2d<double>(x, w, nullptr, {2, 2, 1, 1, 0, 0, 0, 0}).data, (std::vector<double>{12, 16, 24, 28}));
  // Max pool 2x2 stride 2 with bottom/right padding 1: windows {1,2,4,5} {3,6} {7,8} {9}.
  EXPECT_EQ(maxPool2d(x, {2, 2, 2, 2, 0, 0, 1, 1}).data, (std::vector<double>{5, 6, 8, 9}));
  // Average over unpadded elements only.
  EXPECT_EQ(avgPool2d(x, {2, 2, 2, 2, 0, 0, 1, 1}).data, (std::vector<double>{3, 4.5, 7.5, 9}));
  // Loss of uniform logits is log K.
  EXPECT_NEAR(softmaxCrossEntropy(TensorOf<double>({2, 4}), {1, 3}).data[0], std::log(4.0), 1e-12);
  // Running variance from the unbiased batch variance: values 1,3 -> mean 2, biased var 1, unbiased 2.
  TensorOf<double> pair({2, 1});
  pair.data = {1, 3};
  const TensorOf<double> stats = batchNormStats(pair);
  EXPECT_EQ(stats.data, (std::vector<double>{2, 1}));
  EXPECT_DOUBLE_EQ(batchNormRunning(TensorOf<double>({1}, 1.0), stats, 1, 2, 0.9).data[0], 0.9 + 0.1 * 2);
}

}  // namespace
}  // namespace cnnc::ref

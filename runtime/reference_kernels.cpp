#include "runtime/reference_kernels.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>

namespace cnnc::ref {
namespace {

int64_t outSize(int64_t in, int64_t k, int64_t s, int64_t padBefore, int64_t padAfter) {
  return (in + padBefore + padAfter - k) / s + 1;
}

// Index of (a, b, c, d) in a row-major [A, B, C, D] tensor.
struct Index4 {
  int64_t B, C, D;
  int64_t operator()(int64_t a, int64_t b, int64_t c, int64_t d) const { return ((a * B + b) * C + c) * D + d; }
};
Index4 index4(const std::vector<int64_t>& dims) { return {dims[1], dims[2], dims[3]}; }

// Elements per channel of one example: H*W for images, 1 for flat tensors.
int64_t spatialSize(const std::vector<int64_t>& dims) {
  int64_t s = 1;
  for (size_t i = 2; i < dims.size(); ++i) s *= dims[i];
  return s;
}

}  // namespace

// Calls visit(xIndex, wIndex, yIndex) for every multiply of a convolution of
// x [N,C,H,W] with w [F,C,KH,KW] into y [N,F,OH,OW]: the one loop nest that
// the forward and both backward kernels share. Taps over padding are skipped.
template <class Visit>
void forEachConvTap(const std::vector<int64_t>& xDims, const std::vector<int64_t>& wDims, const Window& win,
                    Visit visit) {
  const int64_t N = xDims[0], C = xDims[1], H = xDims[2], W = xDims[3], F = wDims[0];
  const int64_t OH = outSize(H, win.kh, win.sh, win.padTop, win.padBottom);
  const int64_t OW = outSize(W, win.kw, win.sw, win.padLeft, win.padRight);
  const Index4 xi = index4(xDims), wi = index4(wDims), yi{F, OH, OW};
  for (int64_t n = 0; n < N; ++n)
    for (int64_t f = 0; f < F; ++f)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow)
          for (int64_t c = 0; c < C; ++c)
            for (int64_t i = 0; i < win.kh; ++i)
              for (int64_t j = 0; j < win.kw; ++j) {
                int64_t ih = oh * win.sh + i - win.padTop, iw = ow * win.sw + j - win.padLeft;
                if (ih >= 0 && ih < H && iw >= 0 && iw < W) visit(xi(n, c, ih, iw), wi(f, c, i, j), yi(n, f, oh, ow));
              }
}

std::vector<int64_t> convOutputDims(const std::vector<int64_t>& x, const std::vector<int64_t>& w, const Window& win) {
  return {x[0], w[0], outSize(x[2], win.kh, win.sh, win.padTop, win.padBottom),
          outSize(x[3], win.kw, win.sw, win.padLeft, win.padRight)};
}

template <class T>
TensorOf<T> conv2d(const TensorOf<T>& x, const TensorOf<T>& w, const TensorOf<T>* bias, const Window& win) {
  TensorOf<T> y(convOutputDims(x.dims, w.dims, win));  // [N,F,OH,OW]
  if (bias) {
    const int64_t F = y.dims[1], S = y.dims[2] * y.dims[3];
    for (size_t o = 0; o < y.data.size(); ++o) y.data[o] = bias->data[(static_cast<int64_t>(o) / S) % F];
  }
  forEachConvTap(x.dims, w.dims, win, [&](int64_t xi, int64_t wi, int64_t yi) { y.data[yi] += x.data[xi] * w.data[wi]; });
  return y;
}

template <class T>
TensorOf<T> conv2dBackwardData(const TensorOf<T>& dy, const TensorOf<T>& w, int64_t h, int64_t wd,
                               const Window& win) {
  TensorOf<T> dx({dy.dims[0], w.dims[1], h, wd});  // [N,C,H,W]
  forEachConvTap(dx.dims, w.dims, win, [&](int64_t xi, int64_t wi, int64_t yi) { dx.data[xi] += dy.data[yi] * w.data[wi]; });
  return dx;
}

template <class T>
TensorOf<T> conv2dBackwardFilter(const TensorOf<T>& x, const TensorOf<T>& dy, const Window& win) {
  TensorOf<T> dw({dy.dims[1], x.dims[1], win.kh, win.kw});  // [F,C,KH,KW]
  forEachConvTap(x.dims, dw.dims, win, [&](int64_t xi, int64_t wi, int64_t yi) { dw.data[wi] += dy.data[yi] * x.data[xi]; });
  return dw;
}

template <class T>
TensorOf<T> filterTranspose(const TensorOf<T>& w) {
  const int64_t F = w.dims[0], C = w.dims[1], KH = w.dims[2], KW = w.dims[3];
  TensorOf<T> wt({C, F, KH, KW});
  for (int64_t f = 0; f < F; ++f)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < KH; ++i)
        for (int64_t j = 0; j < KW; ++j)
          wt.data[((c * F + f) * KH + i) * KW + j] = w.data[((f * C + c) * KH + KH - 1 - i) * KW + KW - 1 - j];
  return wt;
}

template <class T>
TensorOf<T> biasGrad(const TensorOf<T>& dy) {
  const int64_t N = dy.dims[0], C = dy.dims[1], S = spatialSize(dy.dims);
  TensorOf<T> db({C});  // [C]
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t s = 0; s < S; ++s) db.data[c] += dy.data[(n * C + c) * S + s];
  return db;
}

// Calls visit(n, c, oh, ow, ih, iw) for every unpadded input element of
// every pooling window.
template <class Visit>
void forEachWindowElement(const std::vector<int64_t>& xDims, const Window& win, Visit visit) {
  const int64_t N = xDims[0], C = xDims[1], H = xDims[2], W = xDims[3];
  const int64_t OH = outSize(H, win.kh, win.sh, win.padTop, win.padBottom);
  const int64_t OW = outSize(W, win.kw, win.sw, win.padLeft, win.padRight);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow)
          for (int64_t i = 0; i < win.kh; ++i)
            for (int64_t j = 0; j < win.kw; ++j) {
              int64_t ih = oh * win.sh + i - win.padTop, iw = ow * win.sw + j - win.padLeft;
              if (ih >= 0 && ih < H && iw >= 0 && iw < W) visit(n, c, oh, ow, ih, iw);
            }
}

std::vector<int64_t> pooledDims(const std::vector<int64_t>& x, const Window& win) {
  return {x[0], x[1], outSize(x[2], win.kh, win.sh, win.padTop, win.padBottom),
          outSize(x[3], win.kw, win.sw, win.padLeft, win.padRight)};
}

template <class T>
TensorOf<T> maxPool2d(const TensorOf<T>& x, const Window& win) {
  TensorOf<T> y(pooledDims(x.dims, win), -std::numeric_limits<T>::infinity());  // [N,C,OH,OW]
  const Index4 xi = index4(x.dims), yi = index4(y.dims);
  forEachWindowElement(x.dims, win, [&](int64_t n, int64_t c, int64_t oh, int64_t ow, int64_t ih, int64_t iw) {
    T& out = y.data[yi(n, c, oh, ow)];
    out = std::max(out, x.data[xi(n, c, ih, iw)]);
  });
  return y;
}

template <class T>
TensorOf<T> maxPool2dBackward(const TensorOf<T>& x, const TensorOf<T>& dy, const Window& win) {
  // The position of each window's first maximum, then the gradient goes there.
  const Index4 xi = index4(x.dims), yi = index4(dy.dims);
  std::vector<int64_t> argmax(dy.data.size(), -1);
  forEachWindowElement(x.dims, win, [&](int64_t n, int64_t c, int64_t oh, int64_t ow, int64_t ih, int64_t iw) {
    int64_t& best = argmax[yi(n, c, oh, ow)];
    int64_t at = xi(n, c, ih, iw);
    if (best < 0 || x.data[at] > x.data[best]) best = at;
  });
  TensorOf<T> dx(x.dims);  // [N,C,H,W]
  for (size_t o = 0; o < argmax.size(); ++o) dx.data[argmax[o]] += dy.data[o];
  return dx;
}

// Number of unpadded elements in each window: the divisor of average pooling.
template <class T>
TensorOf<T> windowCounts(const std::vector<int64_t>& xDims, const Window& win) {
  TensorOf<T> counts(pooledDims(xDims, win));
  const Index4 yi = index4(counts.dims);
  forEachWindowElement(xDims, win, [&](int64_t n, int64_t c, int64_t oh, int64_t ow, int64_t, int64_t) {
    counts.data[yi(n, c, oh, ow)] += T{1};
  });
  return counts;
}

template <class T>
TensorOf<T> avgPool2d(const TensorOf<T>& x, const Window& win) {
  TensorOf<T> y = windowCounts<T>(x.dims, win);  // [N,C,OH,OW], first the divisors
  TensorOf<T> sums(y.dims);
  const Index4 xi = index4(x.dims), yi = index4(y.dims);
  forEachWindowElement(x.dims, win, [&](int64_t n, int64_t c, int64_t oh, int64_t ow, int64_t ih, int64_t iw) {
    sums.data[yi(n, c, oh, ow)] += x.data[xi(n, c, ih, iw)];
  });
  for (size_t o = 0; o < y.data.size(); ++o) y.data[o] = sums.data[o] / y.data[o];
  return y;
}

template <class T>
TensorOf<T> avgPool2dBackward(const TensorOf<T>& dy, int64_t h, int64_t w, const Window& win) {
  const std::vector<int64_t> xDims = {dy.dims[0], dy.dims[1], h, w};
  const TensorOf<T> counts = windowCounts<T>(xDims, win);
  TensorOf<T> dx(xDims);  // [N,C,H,W]
  const Index4 xi = index4(xDims), yi = index4(dy.dims);
  forEachWindowElement(xDims, win, [&](int64_t n, int64_t c, int64_t oh, int64_t ow, int64_t ih, int64_t iw) {
    int64_t o = yi(n, c, oh, ow);
    dx.data[xi(n, c, ih, iw)] += dy.data[o] / counts.data[o];
  });
  return dx;
}

template <class T>
TensorOf<T> globalAvgPool2d(const TensorOf<T>& x) {
  const int64_t N = x.dims[0], C = x.dims[1], S = spatialSize(x.dims);
  TensorOf<T> y({N, C});  // [N,C]
  for (int64_t nc = 0; nc < N * C; ++nc) {
    T sum{0};
    for (int64_t s = 0; s < S; ++s) sum += x.data[nc * S + s];
    y.data[nc] = sum / static_cast<T>(S);
  }
  return y;
}

template <class T>
TensorOf<T> globalAvgPool2dBackward(const TensorOf<T>& dy, int64_t h, int64_t w) {
  const int64_t N = dy.dims[0], C = dy.dims[1], S = h * w;
  TensorOf<T> dx({N, C, h, w});  // [N,C,H,W]
  for (int64_t nc = 0; nc < N * C; ++nc)
    for (int64_t s = 0; s < S; ++s) dx.data[nc * S + s] = dy.data[nc] / static_cast<T>(S);
  return dx;
}

template <class T>
TensorOf<T> dense(const TensorOf<T>& x, const TensorOf<T>& w, const TensorOf<T>* bias) {
  const int64_t N = x.dims[0], F = x.dims[1], U = w.dims[0];
  TensorOf<T> y({N, U});  // [N,U]
  for (int64_t n = 0; n < N; ++n)
    for (int64_t u = 0; u < U; ++u) {
      T sum = bias ? bias->data[u] : T{0};
      for (int64_t f = 0; f < F; ++f) sum += x.data[n * F + f] * w.data[u * F + f];
      y.data[n * U + u] = sum;
    }
  return y;
}

template <class T>
TensorOf<T> denseBackwardData(const TensorOf<T>& dy, const TensorOf<T>& w) {
  const int64_t N = dy.dims[0], U = dy.dims[1], F = w.dims[1];
  TensorOf<T> dx({N, F});  // [N,F]
  for (int64_t n = 0; n < N; ++n)
    for (int64_t u = 0; u < U; ++u)
      for (int64_t f = 0; f < F; ++f) dx.data[n * F + f] += dy.data[n * U + u] * w.data[u * F + f];
  return dx;
}

template <class T>
TensorOf<T> denseBackwardWeight(const TensorOf<T>& dy, const TensorOf<T>& x) {
  const int64_t N = dy.dims[0], U = dy.dims[1], F = x.dims[1];
  TensorOf<T> dw({U, F});  // [U,F]
  for (int64_t n = 0; n < N; ++n)
    for (int64_t u = 0; u < U; ++u)
      for (int64_t f = 0; f < F; ++f) dw.data[u * F + f] += dy.data[n * U + u] * x.data[n * F + f];
  return dw;
}

template <class T>
TensorOf<T> activation(Activation kind, const TensorOf<T>& x) {
  TensorOf<T> y(x.dims);
  for (size_t i = 0; i < x.data.size(); ++i) {
    const T v = x.data[i];
    switch (kind) {
      case Activation::Relu: y.data[i] = v > T{0} ? v : T{0}; break;
      case Activation::Sigmoid: y.data[i] = T{1} / (T{1} + std::exp(-v)); break;
      case Activation::Tanh: y.data[i] = std::tanh(v); break;
    }
  }
  return y;
}

template <class T>
TensorOf<T> activationBackward(Activation kind, const TensorOf<T>& dy, const TensorOf<T>& y) {
  TensorOf<T> dx(dy.dims);
  for (size_t i = 0; i < dy.data.size(); ++i) {
    const T out = y.data[i];
    switch (kind) {
      case Activation::Relu: dx.data[i] = out > T{0} ? dy.data[i] : T{0}; break;
      case Activation::Sigmoid: dx.data[i] = dy.data[i] * out * (T{1} - out); break;
      case Activation::Tanh: dx.data[i] = dy.data[i] * (T{1} - out * out); break;
    }
  }
  return dx;
}

template <class T>
TensorOf<T> reluMask(const TensorOf<T>& y) {
  TensorOf<T> mask(y.dims);
  for (size_t i = 0; i < y.data.size(); ++i) mask.data[i] = y.data[i] > T{0} ? T{1} : T{0};
  return mask;
}

template <class T>
TensorOf<T> batchNormStats(const TensorOf<T>& x) {
  const int64_t N = x.dims[0], C = x.dims[1], S = spatialSize(x.dims);
  const auto M = static_cast<T>(N * S);
  TensorOf<T> stats({2, C});  // [2,C]: mean, biased variance
  for (int64_t c = 0; c < C; ++c) {
    T sum{0};
    for (int64_t n = 0; n < N; ++n)
      for (int64_t s = 0; s < S; ++s) sum += x.data[(n * C + c) * S + s];
    const T mean = sum / M;
    T squares{0};
    for (int64_t n = 0; n < N; ++n)
      for (int64_t s = 0; s < S; ++s) {
        const T d = x.data[(n * C + c) * S + s] - mean;
        squares += d * d;
      }
    stats.data[c] = mean;
    stats.data[C + c] = squares / M;
  }
  return stats;
}

template <class T>
TensorOf<T> batchNormApply(const TensorOf<T>& x, const TensorOf<T>& mean, const TensorOf<T>& var,
                           const TensorOf<T>& gamma, const TensorOf<T>& beta, double epsilon) {
  const int64_t N = x.dims[0], C = x.dims[1], S = spatialSize(x.dims);
  TensorOf<T> y(x.dims);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      const T invStd = T{1} / std::sqrt(var.data[c] + static_cast<T>(epsilon));
      for (int64_t s = 0; s < S; ++s) {
        const int64_t i = (n * C + c) * S + s;
        y.data[i] = gamma.data[c] * (x.data[i] - mean.data[c]) * invStd + beta.data[c];
      }
    }
  return y;
}

// Row r of a [2,C] statistics tensor, as a [C] tensor.
template <class T>
TensorOf<T> statsRow(const TensorOf<T>& stats, int64_t r) {
  const int64_t C = stats.dims[1];
  TensorOf<T> row({C});
  std::copy_n(stats.data.begin() + r * C, C, row.data.begin());
  return row;
}

template <class T>
TensorOf<T> batchNormTrain(const TensorOf<T>& x, const TensorOf<T>& stats, const TensorOf<T>& gamma,
                           const TensorOf<T>& beta, double epsilon) {
  return batchNormApply(x, statsRow(stats, 0), statsRow(stats, 1), gamma, beta, epsilon);
}

template <class T>
TensorOf<T> batchNormBackwardGamma(const TensorOf<T>& dy, const TensorOf<T>& x, const TensorOf<T>& stats,
                                   double epsilon) {
  const int64_t N = x.dims[0], C = x.dims[1], S = spatialSize(x.dims);
  TensorOf<T> dgamma({C});  // [C]
  for (int64_t c = 0; c < C; ++c) {
    const T mean = stats.data[c], invStd = T{1} / std::sqrt(stats.data[C + c] + static_cast<T>(epsilon));
    for (int64_t n = 0; n < N; ++n)
      for (int64_t s = 0; s < S; ++s) {
        const int64_t i = (n * C + c) * S + s;
        dgamma.data[c] += dy.data[i] * (x.data[i] - mean) * invStd;
      }
  }
  return dgamma;
}

template <class T>
TensorOf<T> batchNormBackwardData(const TensorOf<T>& dy, const TensorOf<T>& x, const TensorOf<T>& stats,
                                  const TensorOf<T>& gamma, const TensorOf<T>& dgamma,
                                  const TensorOf<T>& dbeta, double epsilon) {
  const int64_t N = x.dims[0], C = x.dims[1], S = spatialSize(x.dims);
  const auto M = static_cast<T>(N * S);
  TensorOf<T> dx(x.dims);
  for (int64_t c = 0; c < C; ++c) {
    const T mean = stats.data[c], invStd = T{1} / std::sqrt(stats.data[C + c] + static_cast<T>(epsilon));
    for (int64_t n = 0; n < N; ++n)
      for (int64_t s = 0; s < S; ++s) {
        const int64_t i = (n * C + c) * S + s;
        const T xhat = (x.data[i] - mean) * invStd;
        dx.data[i] = gamma.data[c] * invStd * (dy.data[i] - dbeta.data[c] / M - xhat * dgamma.data[c] / M);
      }
  }
  return dx;
}

template <class T>
TensorOf<T> batchNormRunning(const TensorOf<T>& running, const TensorOf<T>& stats, int64_t row, int64_t m,
                             double momentum) {
  const int64_t C = stats.dims[1];
  const T correction = row == 1 && m > 1 ? static_cast<T>(m) / static_cast<T>(m - 1) : T{1};
  TensorOf<T> next({C});
  for (int64_t c = 0; c < C; ++c)
    next.data[c] = static_cast<T>(momentum) * running.data[c] +
                   static_cast<T>(1.0 - momentum) * stats.data[row * C + c] * correction;
  return next;
}

template <class T>
TensorOf<T> add(const std::vector<const TensorOf<T>*>& xs) {
  TensorOf<T> y(xs[0]->dims);
  for (const TensorOf<T>* x : xs)
    for (size_t i = 0; i < y.data.size(); ++i) y.data[i] += x->data[i];
  return y;
}

template <class T>
TensorOf<T> mul(const TensorOf<T>& a, const TensorOf<T>& b) {
  TensorOf<T> y(a.dims);
  for (size_t i = 0; i < y.data.size(); ++i) y.data[i] = a.data[i] * b.data[i];
  return y;
}

template <class T>
TensorOf<T> concat(const std::vector<const TensorOf<T>*>& xs) {
  std::vector<int64_t> dims = xs[0]->dims;
  dims[1] = 0;
  for (const TensorOf<T>* x : xs) dims[1] += x->dims[1];
  TensorOf<T> y(dims);
  const int64_t N = dims[0], S = spatialSize(dims);
  int64_t offset = 0;
  for (const TensorOf<T>* x : xs) {
    const int64_t Ci = x->dims[1];
    for (int64_t n = 0; n < N; ++n)
      std::copy_n(x->data.begin() + n * Ci * S, Ci * S, y.data.begin() + (n * dims[1] + offset) * S);
    offset += Ci;
  }
  return y;
}

template <class T>
TensorOf<T> channelSlice(const TensorOf<T>& x, int64_t offset, int64_t count) {
  std::vector<int64_t> dims = x.dims;
  dims[1] = count;
  TensorOf<T> y(dims);
  const int64_t N = dims[0], C = x.dims[1], S = spatialSize(dims);
  for (int64_t n = 0; n < N; ++n)
    std::copy_n(x.data.begin() + (n * C + offset) * S, count * S, y.data.begin() + n * count * S);
  return y;
}

template <class T>
TensorOf<T> softmax(const TensorOf<T>& x) {
  const int64_t N = x.dims[0], K = x.dims[1];
  TensorOf<T> y(x.dims);
  for (int64_t n = 0; n < N; ++n) {
    const T* row = &x.data[n * K];
    const T peak = *std::max_element(row, row + K);  // subtracted for stability
    T sum{0};
    for (int64_t k = 0; k < K; ++k) sum += y.data[n * K + k] = std::exp(row[k] - peak);
    for (int64_t k = 0; k < K; ++k) y.data[n * K + k] /= sum;
  }
  return y;
}

template <class T>
TensorOf<T> softmaxCrossEntropy(const TensorOf<T>& logits, const std::vector<int64_t>& labels) {
  const int64_t N = logits.dims[0], K = logits.dims[1];
  T total{0};
  for (int64_t n = 0; n < N; ++n) {
    const T* row = &logits.data[n * K];
    const T peak = *std::max_element(row, row + K);
    T sum{0};
    for (int64_t k = 0; k < K; ++k) sum += std::exp(row[k] - peak);
    total += std::log(sum) + peak - row[labels[n]];
  }
  TensorOf<T> loss(std::vector<int64_t>{});  // scalar
  loss.data[0] = total / static_cast<T>(N);
  return loss;
}

template <class T>
TensorOf<T> softmaxCrossEntropyBackward(const TensorOf<T>& logits, const std::vector<int64_t>& labels) {
  const int64_t N = logits.dims[0], K = logits.dims[1];
  TensorOf<T> dlogits = softmax(logits);  // [N,K]
  for (int64_t n = 0; n < N; ++n) {
    dlogits.data[n * K + labels[n]] -= T{1};
    for (int64_t k = 0; k < K; ++k) dlogits.data[n * K + k] /= static_cast<T>(N);
  }
  return dlogits;
}

template <class T>
TensorOf<T> sgdVelocity(const TensorOf<T>& v, const TensorOf<T>& g, const SgdConfig& config) {
  TensorOf<T> next(v.dims);
  for (size_t i = 0; i < v.data.size(); ++i)
    next.data[i] = static_cast<T>(config.momentum) * v.data[i] - static_cast<T>(config.learningRate) * g.data[i];
  return next;
}

template <class T>
TensorOf<T> sgdApply(const TensorOf<T>& w, const TensorOf<T>& g, const TensorOf<T>* velocity, const SgdConfig& config) {
  const auto lr = static_cast<T>(config.learningRate), momentum = static_cast<T>(config.momentum);
  const T decay = T{1} - lr * static_cast<T>(config.weightDecay);
  TensorOf<T> next(w.dims);
  for (size_t i = 0; i < w.data.size(); ++i) {
    T step = -lr * g.data[i];
    if (velocity) step = config.nesterov ? momentum * velocity->data[i] + step : velocity->data[i];
    next.data[i] = w.data[i] * decay + step;
  }
  return next;
}

template <class T>
TensorOf<T> adamMoment(const TensorOf<T>& m, const TensorOf<T>& g, double decay, int power) {
  TensorOf<T> next(m.dims);
  const auto d = static_cast<T>(decay);
  for (size_t i = 0; i < m.data.size(); ++i)
    next.data[i] = d * m.data[i] + (T{1} - d) * (power == 2 ? g.data[i] * g.data[i] : g.data[i]);
  return next;
}

template <class T>
TensorOf<T> adamApply(const TensorOf<T>& w, const TensorOf<T>& m, const TensorOf<T>& v, T step,
                      const AdamConfig& config) {
  const auto lr = static_cast<T>(config.learningRate);
  const T correction1 = T{1} - std::pow(static_cast<T>(config.beta1), step);
  const T correction2 = T{1} - std::pow(static_cast<T>(config.beta2), step);
  const T decay = T{1} - lr * static_cast<T>(config.weightDecay);
  TensorOf<T> next(w.dims);
  for (size_t i = 0; i < w.data.size(); ++i) {
    const T mhat = m.data[i] / correction1, vhat = v.data[i] / correction2;
    next.data[i] = w.data[i] * decay - lr * mhat / (std::sqrt(vhat) + static_cast<T>(config.epsilon));
  }
  return next;
}

#define CNNC_INSTANTIATE_REFERENCE_KERNELS(T)                                                              \
  template TensorOf<T> conv2d(const TensorOf<T>&, const TensorOf<T>&, const TensorOf<T>*, const Window&);  \
  template TensorOf<T> conv2dBackwardData(const TensorOf<T>&, const TensorOf<T>&, int64_t, int64_t,         \
                                          const Window&);                                                  \
  template TensorOf<T> conv2dBackwardFilter(const TensorOf<T>&, const TensorOf<T>&, const Window&);        \
  template TensorOf<T> biasGrad(const TensorOf<T>&);                                                        \
  template TensorOf<T> filterTranspose(const TensorOf<T>&);                                                 \
  template TensorOf<T> maxPool2d(const TensorOf<T>&, const Window&);                                        \
  template TensorOf<T> maxPool2dBackward(const TensorOf<T>&, const TensorOf<T>&, const Window&);           \
  template TensorOf<T> avgPool2d(const TensorOf<T>&, const Window&);                                        \
  template TensorOf<T> avgPool2dBackward(const TensorOf<T>&, int64_t, int64_t, const Window&);             \
  template TensorOf<T> globalAvgPool2d(const TensorOf<T>&);                                                 \
  template TensorOf<T> globalAvgPool2dBackward(const TensorOf<T>&, int64_t, int64_t);                       \
  template TensorOf<T> dense(const TensorOf<T>&, const TensorOf<T>&, const TensorOf<T>*);                   \
  template TensorOf<T> denseBackwardData(const TensorOf<T>&, const TensorOf<T>&);                           \
  template TensorOf<T> denseBackwardWeight(const TensorOf<T>&, const TensorOf<T>&);                         \
  template TensorOf<T> activation(Activation, const TensorOf<T>&);                                          \
  template TensorOf<T> activationBackward(Activation, const TensorOf<T>&, const TensorOf<T>&);              \
  template TensorOf<T> reluMask(const TensorOf<T>&);                                                        \
  template TensorOf<T> batchNormStats(const TensorOf<T>&);                                                  \
  template TensorOf<T> batchNormApply(const TensorOf<T>&, const TensorOf<T>&, const TensorOf<T>&,           \
                                      const TensorOf<T>&, const TensorOf<T>&, double);                      \
  template TensorOf<T> batchNormTrain(const TensorOf<T>&, const TensorOf<T>&, const TensorOf<T>&,           \
                                      const TensorOf<T>&, double);                                          \
  template TensorOf<T> batchNormBackwardGamma(const TensorOf<T>&, const TensorOf<T>&, const TensorOf<T>&,   \
                                              double);                                                      \
  template TensorOf<T> batchNormBackwardData(const TensorOf<T>&, const TensorOf<T>&, const TensorOf<T>&,    \
                                             const TensorOf<T>&, const TensorOf<T>&, const TensorOf<T>&,    \
                                             double);                                                       \
  template TensorOf<T> batchNormRunning(const TensorOf<T>&, const TensorOf<T>&, int64_t, int64_t, double);  \
  template TensorOf<T> add(const std::vector<const TensorOf<T>*>&);                                         \
  template TensorOf<T> mul(const TensorOf<T>&, const TensorOf<T>&);                                         \
  template TensorOf<T> concat(const std::vector<const TensorOf<T>*>&);                                      \
  template TensorOf<T> channelSlice(const TensorOf<T>&, int64_t, int64_t);                                  \
  template TensorOf<T> softmax(const TensorOf<T>&);                                                         \
  template TensorOf<T> softmaxCrossEntropy(const TensorOf<T>&, const std::vector<int64_t>&);                \
  template TensorOf<T> softmaxCrossEntropyBackward(const TensorOf<T>&, const std::vector<int64_t>&);          \
  template TensorOf<T> sgdVelocity(const TensorOf<T>&, const TensorOf<T>&, const SgdConfig&);               \
  template TensorOf<T> sgdApply(const TensorOf<T>&, const TensorOf<T>&, const TensorOf<T>*, const SgdConfig&); \
  template TensorOf<T> adamMoment(const TensorOf<T>&, const TensorOf<T>&, double, int);                     \
  template TensorOf<T> adamApply(const TensorOf<T>&, const TensorOf<T>&, const TensorOf<T>&, T, const AdamConfig&);

CNNC_INSTANTIATE_REFERENCE_KERNELS(float)
CNNC_INSTANTIATE_REFERENCE_KERNELS(double)

}  // namespace cnnc::ref

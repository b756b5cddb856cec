#include <cmath>

#include "fastmath.h"
#include "kernels.h"
#include "rng.h"

namespace engine {

namespace {
constexpr float kInvSqrt2 = 0.70710678118654752f;
constexpr float kInvSqrt2Pi = 0.39894228040143268f;
constexpr float kSqrt2OverPi = 0.79788456080286536f;
}  // namespace

void activation_forward(const float* x, float* y, int64_t n, int act) {
  switch (act) {
    case GELU:  // exact erf form, as torch's default GELU
#pragma omp parallel for simd schedule(static)
      for (int64_t i = 0; i < n; i++) y[i] = 0.5f * x[i] * (1.0f + fast_erf(x[i] * kInvSqrt2));
      break;
    case GELU_TANH:
#pragma omp parallel for simd schedule(static)
      for (int64_t i = 0; i < n; i++) {
        const float u = kSqrt2OverPi * (x[i] + 0.044715f * x[i] * x[i] * x[i]);
        y[i] = 0.5f * x[i] * (1.0f + std::tanh(u));
      }
      break;
    default:
#pragma omp parallel for simd schedule(static)
      for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : 0.0f;
  }
}

void activation_backward(const float* dy, const float* x, float* dx, int64_t n, int act) {
  switch (act) {
    case GELU:
#pragma omp parallel for simd schedule(static)
      for (int64_t i = 0; i < n; i++) {
        const float cdf = 0.5f * (1.0f + fast_erf(x[i] * kInvSqrt2));
        const float pdf = kInvSqrt2Pi * fast_exp(-0.5f * x[i] * x[i]);
        dx[i] = dy[i] * (cdf + x[i] * pdf);
      }
      break;
    case GELU_TANH:
#pragma omp parallel for simd schedule(static)
      for (int64_t i = 0; i < n; i++) {
        const float x2 = x[i] * x[i];
        const float t = std::tanh(kSqrt2OverPi * (x[i] + 0.044715f * x2 * x[i]));
        const float du = kSqrt2OverPi * (1.0f + 3.0f * 0.044715f * x2);
        dx[i] = dy[i] * (0.5f * (1.0f + t) + 0.5f * x[i] * (1.0f - t * t) * du);
      }
      break;
    default:
#pragma omp parallel for simd schedule(static)
      for (int64_t i = 0; i < n; i++) dx[i] = x[i] > 0 ? dy[i] : 0.0f;
  }
}

void dropout_forward(const float* x, float* y, int64_t n, float p, uint64_t seed) {
  const float inv_keep = 1.0f / (1.0f - p);
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; i++) y[i] = x[i] * dropout_scale(seed, i, p, inv_keep);
}

void dropout_backward(const float* dy, float* dx, int64_t n, float p, uint64_t seed) {
  // The same mask and scale as forward: dropout is linear in x.
  dropout_forward(dy, dx, n, p, seed);
}

void add(const float* a, const float* b, float* out, int64_t n) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

}  // namespace engine

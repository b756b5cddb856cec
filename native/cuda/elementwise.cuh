// Elementwise kernels: bias rows, activations and their gradients, dropout, residual adds, scaling,
// sums of squares, row gathers and scatters.
#pragma once
#include "../backend.h"
#include "common.cuh"
#include "../rng.h"

namespace engine {
namespace {

__global__ void bias_rows_kernel(const float* b, float* y, int64_t N, int out) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < N * out) y[i] = b[i % out];
}

__device__ __forceinline__ float gelu(float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); }
__device__ __forceinline__ float gelu_grad(float x) {
  return 0.5f * (1.0f + erff(x * 0.70710678118654752f)) + x * 0.39894228040143268f * expf(-0.5f * x * x);
}
__device__ __forceinline__ float gelu_tanh(float x) {
  return 0.5f * x * (1.0f + tanhf(0.79788456080286536f * (x + 0.044715f * x * x * x)));
}
__device__ __forceinline__ float gelu_tanh_grad(float x) {
  const float x2 = x * x, t = tanhf(0.79788456080286536f * (x + 0.044715f * x2 * x));
  return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * 0.79788456080286536f * (1.0f + 3.0f * 0.044715f * x2);
}

__global__ void activation_forward_kernel(const float* x, float* y, int64_t n, int act) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float v = x[i];
  y[i] = act == GELU ? gelu(v) : act == GELU_TANH ? gelu_tanh(v) : act == TANH ? tanhf(v) : (v > 0 ? v : 0.0f);
}

__global__ void activation_backward_kernel(const float* dy, const float* x, float* dx, int64_t n, int act) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float v = x[i];
  const float t = act == TANH ? tanhf(v) : 0.0f;
  dx[i] = act == GELU        ? dy[i] * gelu_grad(v)
          : act == GELU_TANH ? dy[i] * gelu_tanh_grad(v)
          : act == TANH      ? dy[i] * (1.0f - t * t)
                             : (v > 0 ? dy[i] : 0.0f);
}

__global__ void dropout_kernel(const float* x, float* y, int64_t rows, int64_t cols, int64_t row_stride, Dropout d) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= rows * cols) return;
  const int64_t r = i / cols, c = i % cols;
  y[i] = x[i] * dropout_scale(d, (uint64_t)(r * row_stride + c));
}

__global__ void add_kernel(const float* a, const float* b, float* out, int64_t n) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = a[i] + b[i];
}

__global__ void scale_kernel(float* x, float s, int64_t n) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) x[i] *= s;
}

// Partial sums of squares per block (fixed grid, fixed order): deterministic.
__global__ void sum_squares_kernel(const float* x, int64_t n, double* partial) {
  __shared__ double warp_totals[kThreads / 32];
  double s = 0;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    s += (double)x[i] * x[i];
  s = warp_sum_d(s);
  if ((threadIdx.x & 31) == 0) warp_totals[threadIdx.x >> 5] = s;
  __syncthreads();
  if (threadIdx.x == 0) {
    double t = 0;
    for (int w = 0; w < kThreads / 32; w++) t += warp_totals[w];
    partial[blockIdx.x] = t;
  }
}

__global__ void copy_rows_kernel(const float* src, int64_t src_stride, float* dst, int64_t dst_stride, int64_t rows,
                                 int64_t D) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= rows * D) return;
  const int64_t r = i / D, c = i % D;
  dst[r * dst_stride + c] = src[r * src_stride + c];
}

// Row i of the list: gather dst[i] = src[rows[i]], or scatter dst[rows[i]] = src[i].
__global__ void move_rows_kernel(const float* src, const int32_t* rows, int64_t n, int64_t D, float* dst, bool gather) {
  const int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (e >= n * D) return;
  const int64_t i = e / D, c = e % D, r = rows[i];
  if (gather) dst[i * D + c] = src[r * D + c];
  else dst[r * D + c] = src[i * D + c];
}

}  // namespace
}  // namespace engine

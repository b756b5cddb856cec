// Cross-entropy over logits rows, and the optimizers' updates (Keras Adam, torch AdamW, sparse rows).
#pragma once
#include "common.cuh"

namespace engine {
namespace {

__global__ void cross_entropy_kernel(const float* logits, const int32_t* labels, float* losses, float* dlogits, int B,
                                     int C, float grad_scale) {
  const int b = blockIdx.x * blockDim.x + threadIdx.x;
  if (b >= B) return;
  const float* z = logits + (int64_t)b * C;
  float mx = z[0];
  for (int c = 1; c < C; c++) mx = fmaxf(mx, z[c]);
  double s = 0;
  for (int c = 0; c < C; c++) s += exp((double)z[c] - mx);
  const double lse = mx + log(s);
  losses[b] = (float)(lse - z[labels[b]]);
  if (!dlogits) return;
  float* g = dlogits + (int64_t)b * C;
  for (int c = 0; c < C; c++) {
    g[c] = (float)((exp((double)z[c] - lse) - (c == labels[b] ? 1.0 : 0.0)) / B);
    if (grad_scale != 1.0f) g[c] *= grad_scale;
  }
}

__device__ __forceinline__ void adam_one(float* p, const float* g, float* m, float* v, int64_t i, float alpha, float c1,
                                         float c2, float eps) {
  const float gi = g[i];
  const float mi = m[i] + (gi - m[i]) * c1;
  const float vi = v[i] + (gi * gi - v[i]) * c2;
  m[i] = mi;
  v[i] = vi;
  p[i] -= alpha * mi / (sqrtf(vi) + eps);
}

__global__ void adam_kernel(float* p, const float* g, float* m, float* v, int64_t n, float alpha, float c1, float c2,
                            float eps) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) adam_one(p, g, m, v, i, alpha, c1, c2, eps);
}

__global__ void adam_rows_kernel(float* p, const float* g, float* m, float* v, const int32_t* rows, int64_t nrows,
                                 int64_t row_len, float alpha, float c1, float c2, float eps) {
  const int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (e >= nrows * row_len) return;
  adam_one(p, g, m, v, (int64_t)rows[e / row_len] * row_len + e % row_len, alpha, c1, c2, eps);
}

__global__ void adamw_kernel(float* p, const float* g, float* m, float* v, int64_t n, float decay, float step, float b1,
                             float b2, float eps, float bc2_sqrt) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float gi = g[i], mi = m[i] + (gi - m[i]) * (1.0f - b1), vi = v[i] * b2 + gi * gi * (1.0f - b2);
  m[i] = mi;
  v[i] = vi;
  p[i] = p[i] * decay - step * mi / (sqrtf(vi) / bc2_sqrt + eps);
}

__global__ void zero_rows_kernel(float* x, const int32_t* rows, int64_t nrows, int64_t row_len) {
  const int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (e < nrows * row_len) x[(int64_t)rows[e / row_len] * row_len + e % row_len] = 0.0f;
}

}  // namespace
}  // namespace engine

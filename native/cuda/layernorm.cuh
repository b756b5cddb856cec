// LayerNorm: one warp per row forward and for dx; dgamma/dbeta by fixed chunks (deterministic).
#pragma once
#include "common.cuh"

namespace engine {
namespace {

__global__ void layernorm_forward_kernel(const float* x, const float* gamma, const float* beta, float* out, float* mean,
                                         float* rstd, int N, int D, float eps) {
  const int row = blockIdx.x * (blockDim.x / 32) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
  if (row >= N) return;
  const float* xi = x + (int64_t)row * D;
  float s = 0;
  for (int d = lane; d < D; d += 32) s += xi[d];
  const float mu = warp_sum(s) / D;
  float ss = 0;
  for (int d = lane; d < D; d += 32) {
    const float c = xi[d] - mu;
    ss += c * c;
  }
  const float r = rsqrtf(warp_sum(ss) / D + eps);  // biased variance, as torch.nn.LayerNorm
  float* oi = out + (int64_t)row * D;
  for (int d = lane; d < D; d += 32) oi[d] = (xi[d] - mu) * r * gamma[d] + beta[d];
  if (lane == 0) mean[row] = mu, rstd[row] = r;
}

__global__ void layernorm_backward_dx_kernel(const float* dout, const float* x, const float* gamma, const float* mean,
                                             const float* rstd, float* dx, int N, int D) {
  const int row = blockIdx.x * (blockDim.x / 32) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
  if (row >= N) return;
  const float* xi = x + (int64_t)row * D;
  const float* gi = dout + (int64_t)row * D;
  const float mu = mean[row], r = rstd[row];
  float s1 = 0, s2 = 0;
  for (int d = lane; d < D; d += 32) {
    const float dg = gi[d] * gamma[d];
    s1 += dg;
    s2 += dg * (xi[d] - mu) * r;
  }
  const float m1 = warp_sum(s1) / D, m2 = warp_sum(s2) / D;
  float* dxi = dx + (int64_t)row * D;
  for (int d = lane; d < D; d += 32) dxi[d] = r * (gi[d] * gamma[d] - m1 - (xi[d] - mu) * r * m2);
}

// dgamma/dbeta partial sums over fixed chunks of rows (one block per chunk and column tile),
// then a fixed-order sum over chunks: deterministic.
constexpr int kLnRowsPerChunk = 64;
__global__ void layernorm_param_partial_kernel(const float* dout, const float* x, const float* mean, const float* rstd,
                                               float* partial, int N, int D) {
  const int d = blockIdx.x * blockDim.x + threadIdx.x, chunk = blockIdx.y;
  if (d >= D) return;
  const int lo = chunk * kLnRowsPerChunk, hi = min(N, lo + kLnRowsPerChunk);
  float g = 0, b = 0;
  for (int i = lo; i < hi; i++) {
    const float dy = dout[(int64_t)i * D + d];
    g += dy * (x[(int64_t)i * D + d] - mean[i]) * rstd[i];
    b += dy;
  }
  partial[((int64_t)chunk * 2) * D + d] = g;
  partial[((int64_t)chunk * 2 + 1) * D + d] = b;
}

__global__ void layernorm_param_reduce_kernel(const float* partial, int chunks, float* dgamma, float* dbeta, int D) {
  const int d = blockIdx.x * blockDim.x + threadIdx.x;
  if (d >= D) return;
  float g = 0, b = 0;
  for (int c = 0; c < chunks; c++) g += partial[((int64_t)c * 2) * D + d], b += partial[((int64_t)c * 2 + 1) * D + d];
  dgamma[d] += g;
  dbeta[d] += b;
}

}  // namespace
}  // namespace engine

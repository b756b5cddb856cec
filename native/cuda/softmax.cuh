// Attention's masked softmax with dropout, fused into one kernel each way (fp32/tf32 and bf16).
#pragma once
#include "common.cuh"
#include "../rng.h"

namespace engine {
namespace {

// fp32 and tf32 products: the masked softmax of each row of T scores in place, then the weights after
// dropout into A (null: no dropout, the product reads P itself), in one kernel: one warp per row
// (row = (b*H + h)*Tq + i), the scores read three times (the later reads mostly from L2) instead of
// written and read back by three kernels. Masked keys count as the lowest float, as HF's
// masked_fill with finfo.min: a row whose keys are all masked becomes uniform, as in transformers.
// Element (b,h,i,j) of the dropout draws number ((b*H + h)*T + i)*T + j, whatever Tq is; a weight of
// exactly 0 (a masked key) needs no draw, since 0 times either scale is 0.
__global__ void softmax_dropout_kernel(float* P, float* A, const int32_t* mask, int64_t rows, int H, int Tq, int T,
                                       Dropout d) {
  const int64_t row = (int64_t)blockIdx.x * (blockDim.x / 32) + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (row >= rows) return;
  const int b = (int)(row / ((int64_t)H * Tq));
  float* s = P + row * T;
  const int32_t* m = mask + (int64_t)b * T;
  float mx = -FLT_MAX;
  for (int j = lane; j < T; j += 32) mx = fmaxf(mx, m[j] ? s[j] : -FLT_MAX);
  mx = warp_max(mx);
  float sum = 0;
  for (int j = lane; j < T; j += 32) sum += expf((m[j] ? s[j] : -FLT_MAX) - mx);
  const float inv = 1.0f / warp_sum(sum);
  const uint64_t first = ((uint64_t)(row / Tq) * T + (uint64_t)(row % Tq)) * T;
  for (int j = lane; j < T; j += 32) {
    const float w = expf((m[j] ? s[j] : -FLT_MAX) - mx) * inv;
    s[j] = w;
    if (A) A[row * T + j] = d.threshold > 0 && w != 0.0f ? w * dropout_scale(d, first + j) : w;
  }
}

// Backward of the same, from dA (the gradient of the weights after dropout, dctx v^T) and the saved
// probabilities P: g = dropout(dA), dS = P * (g - sum(g * P)) per row, in place in dA, and the weights
// after dropout rebuilt into A (null: none needed) for dv = A^T dctx. One warp per row; each lane
// keeps its first 32 elements' draws as bits between the two passes (T <= 1024 draws each element
// once) and redraws beyond.
__global__ void softmax_dropout_backward_kernel(float* dA, const float* P, float* A, int64_t rows, int Tq, int T,
                                                Dropout d) {
  const int64_t row = (int64_t)blockIdx.x * (blockDim.x / 32) + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (row >= rows) return;
  float* g = dA + row * T;
  const float* pr = P + row * T;
  const uint64_t first = ((uint64_t)(row / Tq) * T + (uint64_t)(row % Tq)) * T;
  uint32_t kept = 0;
  float dot = 0;
  for (int j = lane, k = 0; j < T; j += 32, k++) {
    const float w = pr[j];
    float sc = 1.0f;
    if (d.threshold > 0) {
      sc = w != 0.0f ? dropout_scale(d, first + j) : 0.0f;
      if (k < 32 && sc != 0.0f) kept |= 1u << k;
    }
    dot += (g[j] * sc) * w;
  }
  dot = warp_sum(dot);
  for (int j = lane, k = 0; j < T; j += 32, k++) {
    const float w = pr[j];
    float sc = 1.0f;
    if (d.threshold > 0)
      sc = k < 32 ? ((kept >> k) & 1u ? d.inv_keep : 0.0f) : w != 0.0f ? dropout_scale(d, first + j) : 0.0f;
    g[j] = w * (g[j] * sc - dot);
    if (A) A[row * T + j] = w * sc;
  }
}

// bf16 products: the same softmax of each row of the scores S, with the probabilities kept for
// backward as bf16 in Pb (null in inference), the weights after dropout A = bf16(Pb * scale) for the
// next product, and the dropout mask as bits in keep (word k of a row: bit l for element 32k + l;
// null: backward draws again), so that backward reads 2 bytes and a bit per weight instead of 4 and a
// draw. Loops run over whole words, so that every lane of the warp takes part in each ballot.
__global__ void softmax_dropout_bf16_kernel(const float* S, __nv_bfloat16* Pb, __nv_bfloat16* A, uint32_t* keep,
                                            const int32_t* mask, int64_t rows, int H, int Tq, int T, Dropout d) {
  const int64_t row = (int64_t)blockIdx.x * (blockDim.x / 32) + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (row >= rows) return;
  const int b = (int)(row / ((int64_t)H * Tq));
  const float* s = S + row * T;
  const int32_t* m = mask + (int64_t)b * T;
  float mx = -FLT_MAX;
  for (int j = lane; j < T; j += 32) mx = fmaxf(mx, m[j] ? s[j] : -FLT_MAX);
  mx = warp_max(mx);
  float sum = 0;
  for (int j = lane; j < T; j += 32) sum += expf((m[j] ? s[j] : -FLT_MAX) - mx);
  const float inv = 1.0f / warp_sum(sum);
  const uint64_t first = ((uint64_t)(row / Tq) * T + (uint64_t)(row % Tq)) * T;
  const int words = (T + 31) / 32;
  for (int k = 0; k < words; k++) {
    const int j = k * 32 + lane;
    bool kept = false;
    if (j < T) {
      const float w = expf((m[j] ? s[j] : -FLT_MAX) - mx) * inv;
      const __nv_bfloat16 wb = __float2bfloat16_rn(w);
      if (Pb) Pb[row * T + j] = wb;
      float sc = 1.0f;
      if (d.threshold > 0) {
        sc = w != 0.0f ? dropout_scale(d, first + j) : 0.0f;
        kept = sc != 0.0f;
      }
      A[row * T + j] = __float2bfloat16_rn(__bfloat162float(wb) * sc);
    }
    const uint32_t word = __ballot_sync(0xffffffffu, kept);
    if (keep && lane == 0) keep[row * words + k] = word;
  }
}

// Its backward: dS = Pb * (g - sum(g * Pb)) with g = dropout(dA), and A rebuilt exactly as the forward
// made it, both bf16; the mask from keep's bits (or drawn again where keep is null).
__global__ void softmax_dropout_backward_bf16_kernel(const float* dA, const __nv_bfloat16* Pb, const uint32_t* keep,
                                                     __nv_bfloat16* A, __nv_bfloat16* dS, int64_t rows, int Tq, int T,
                                                     Dropout d) {
  const int64_t row = (int64_t)blockIdx.x * (blockDim.x / 32) + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (row >= rows) return;
  const float* g = dA + row * T;
  const __nv_bfloat16* pr = Pb + row * T;
  const uint64_t first = ((uint64_t)(row / Tq) * T + (uint64_t)(row % Tq)) * T;
  const int words = (T + 31) / 32;
  auto scale = [&](int k, int j, float w) {
    if (d.threshold == 0) return 1.0f;
    if (keep) return (keep[row * words + k] >> lane) & 1u ? d.inv_keep : 0.0f;
    return w != 0.0f ? dropout_scale(d, first + j) : 0.0f;
  };
  float dot = 0;
  for (int k = 0, j = lane; j < T; k++, j += 32) {
    const float w = __bfloat162float(pr[j]);
    dot += (g[j] * scale(k, j, w)) * w;
  }
  dot = warp_sum(dot);
  for (int k = 0, j = lane; j < T; k++, j += 32) {
    const float w = __bfloat162float(pr[j]), sc = scale(k, j, w);
    dS[row * T + j] = __float2bfloat16_rn(w * (g[j] * sc - dot));
    A[row * T + j] = __float2bfloat16_rn(w * sc);
  }
}

}  // namespace
}  // namespace engine

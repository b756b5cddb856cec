// Embeddings: word + position lookup forward; backward with the word rows grouped by a device sort.
#pragma once
#include "common.cuh"

namespace engine {
namespace {

__global__ void embedding_forward_kernel(const int32_t* ids, const float* word, const float* pos, float* out, int T,
                                         int D, int64_t n) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const int64_t row = i / D, d = i % D;
  out[i] = word[(int64_t)ids[row] * D + d] + pos[(row % T) * D + d];
}

__global__ void iota_kernel(int32_t* x, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) x[i] = i;
}

// One block per row of the rows sorted by (id, row) (keys: their ids); the block of each id's first
// row adds that id's rows in row order, threads over columns: deterministic, unlike atomics.
__global__ void embedding_word_grad_kernel(const int32_t* keys, const int32_t* rows, const float* dout, float* dword,
                                           int N, int D) {
  const int lo = blockIdx.x;
  if (lo > 0 && keys[lo] == keys[lo - 1]) return;
  int hi = lo + 1;
  while (hi < N && keys[hi] == keys[lo]) hi++;
  float* w = dword + (int64_t)keys[lo] * D;
  for (int d = threadIdx.x; d < D; d += blockDim.x) {
    float acc = w[d];
    for (int k = lo; k < hi; k++) acc += dout[(int64_t)rows[k] * D + d];
    w[d] = acc;
  }
}

__global__ void embedding_pos_grad_kernel(const float* dout, float* dpos, int B, int T, int D) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= (int64_t)T * D) return;
  float acc = dpos[i];
  for (int b = 0; b < B; b++) acc += dout[(int64_t)b * T * D + i];
  dpos[i] = acc;
}

}  // namespace
}  // namespace engine

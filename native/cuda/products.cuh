// Operands of the matrix products: pointer arrays of batched GEMMs, bf16 copies of operands, and
// the bf16 copy of dy with its column sums (db).
#pragma once
#include "common.cuh"

namespace engine {
namespace {

// Pointers of the (b, h) blocks for a batched GEMM: p[b*H+h] = base + b*stride_b + h*stride_h (bytes).
__global__ void fill_pointers_kernel(const void** p, const char* base, int64_t stride_b, int64_t stride_h, int B, int H) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < B * H) p[i] = base + (int64_t)(i / H) * stride_b + (int64_t)(i % H) * stride_h;
}

// Operands of bf16 products: y = bf16(x) over n values, or (rows) the first cols values of each row of
// ld floats into a dense [rows x cols] (grid: x over rows, y over column blocks; no index division).
__global__ void to_bf16_kernel(const float* x, __nv_bfloat16* y, int64_t n) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = __float2bfloat16_rn(x[i]);
}
__global__ void rows_to_bf16_kernel(const float* src, int64_t ld, __nv_bfloat16* dst, int cols) {
  const int c = blockIdx.y * blockDim.x + threadIdx.x;
  if (c < cols) dst[(int64_t)blockIdx.x * cols + c] = __float2bfloat16_rn(src[(int64_t)blockIdx.x * ld + c]);
}

// bf16 copy of dy [N x out] and, for db, the column sums of each chunk of 64 rows (one block per
// column tile and chunk, threads over columns): one read of dy for both.
constexpr int kColsumRows = 64;
__global__ void to_bf16_colsum_kernel(const float* dy, __nv_bfloat16* h, float* partial, int N, int out) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x, chunk = blockIdx.y;
  if (c >= out) return;
  const int lo = chunk * kColsumRows, hi = min(N, lo + kColsumRows);
  float s = 0;
  for (int r = lo; r < hi; r++) {
    const float v = dy[(int64_t)r * out + c];
    h[(int64_t)r * out + c] = __float2bfloat16_rn(v);
    s += v;
  }
  partial[(int64_t)chunk * out + c] = s;
}

// db[c] += the chunks' sums in chunk order: deterministic.
__global__ void colsum_reduce_kernel(const float* partial, int chunks, float* db, int out) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= out) return;
  float s = 0;
  for (int k = 0; k < chunks; k++) s += partial[(int64_t)k * out + c];
  db[c] += s;
}

}  // namespace
}  // namespace engine

// Fused ("flash") attention for the bf16 mode, heads of 64: one block per (sequence, head, 64
// queries) computes the masked softmax, the dropout and the product with v on chip, so that the
// [B, H, Tq, T] scores and weights never reach memory (they were most of attention's time: each
// was written and read back several times). Tensor-core products through WMMA (bf16 operands,
// fp32 accumulation), as the unfused bf16 path's cuBLAS products are. q, k, v and dctx come as
// dense bf16 copies ([rows, D], heads the column blocks), rounded once by the caller, so that a
// tile is 16-byte loads (scalar fp32 loads of the tiles, one after another, made the first
// version slower than the unfused path).
//
// Forward, per block: pass 1 the row maxima and sums of exps over the key tiles (online), pass 2
// the weights w = exp(s - max) / sum, rounded to bf16 as the unfused path rounds them, times the
// dropout scale from the shared generator (../rng.h, the same draws as every backend), and ctx += A v.
// Forward keeps for backward, in the probs buffer: each row's max and 1/sum, the head's ctx row,
// the dropout mask and the key mask as bits; backward recomputes the weights from them. Backward runs
// FlashAttention-2's two passes with no float atomics (deterministic): one block per 64 keys
// accumulates dk and dv over every query tile, one block per 64 queries accumulates dq over every
// key tile; both take dS = w * (dA * scale - rowsum(dctx * ctx)).
//
// This header is also compiled for the host by native/tests/cuda_emulation.h, which runs these
// kernels thread by thread, so that the CPU build's tests check them against the reference.
#pragma once
#include <cfloat>
#include <cstddef>
#include <cstdint>

#include "../rng.h"

#ifdef __CUDACC__
#include <cuda_bf16.h>
#include <mma.h>
#define FLASH_SHARED_MEMORY extern __shared__ __align__(16) unsigned char flash_smem[]
#endif

namespace engine {
namespace flash {

namespace wmma = nvcuda::wmma;
using bf16 = __nv_bfloat16;
using Acc = wmma::fragment<wmma::accumulator, 16, 16, 16, float>;

constexpr int kDh = 64;        // the head width these kernels take
constexpr int kRows = 64;      // queries (forward, dq) or keys (dk, dv) per block
constexpr int kThreads = 128;  // 4 warps, 16 of the rows each
constexpr int kLdH = 72;       // bf16 tile row stride: WMMA wants a multiple of 8; 72 staggers the banks
constexpr int kLdF = 68;       // fp32 tile row stride: a multiple of 4
constexpr size_t kTileH = (size_t)kRows * kLdH * sizeof(bf16);  // a 64 x 64 bf16 tile
constexpr size_t kTileF = (size_t)kRows * kLdF * sizeof(float);  // a 64 x 64 fp32 tile (16 rows a warp)
constexpr size_t kForwardSmem = 4 * kTileH + kTileF;                              // q, k, v, A; scores
constexpr size_t kKeysSmem = 6 * kTileH + 2 * kTileF + 3 * kRows * 4 + 2 * kRows * 4;  // + row stats, mask words
constexpr size_t kQueriesSmem = 5 * kTileH + 2 * kTileF;

// What forward keeps for backward in the probs buffer (rows = B*H*Tq rows of T floats).
struct Kept {
  float *mx, *inv, *dsum;  // per row: the max score, 1/sum of exps, rowsum(dctx * ctx) (backward's)
  float* out;              // per row: the head's 64 values of ctx
  uint32_t* bits;          // per row: the dropout mask, word w bit l for key 32w + l (set: kept)
  uint32_t* keys;          // per sequence: the key mask, bits as above (set: attended)
};

// Kept's layout in probs (B sequences, rows = B*H*Tq rows of T floats); false where it does not
// fit (rows of fewer than about 70 keys): the unfused path runs then, in forward and backward alike.
inline bool kept_layout(float* probs, int B, int64_t rows, int T, Kept* k) {
  const size_t r4 = ((size_t)rows + 3) / 4 * 4, words = ((size_t)T + 31) / 32;
  if (3 * r4 + (size_t)rows * (kDh + words) + (size_t)B * words > (size_t)rows * T) return false;
  uint32_t* bits = reinterpret_cast<uint32_t*>(probs + 3 * r4 + rows * kDh);
  *k = {probs, probs + r4, probs + 2 * r4, probs + 3 * r4, bits, bits + rows * words};
  return true;
}

// Key j's bit of a mask kept as words.
__device__ __forceinline__ int32_t bit(const uint32_t* words, int j) { return (words[j / 32] >> (j % 32)) & 1u; }

__device__ __forceinline__ float round_bf16(float x) { return __bfloat162float(__float2bfloat16_rn(x)); }

// Rows [0, n) of a 64-wide bf16 tile, rows ld apart, into shared memory; the rows from n on are
// zeros. Eight values a load, every load issued before the first store.
constexpr int kLoads = kRows * kDh / 8 / kThreads;
__device__ __forceinline__ void load_tile(const bf16* src, int64_t ld, int n, bf16* dst) {
  uint4 x[kLoads];
  for (int u = 0; u < kLoads; u++) {
    const int e = threadIdx.x + u * kThreads, r = e / 8, c = e % 8 * 8;
    x[u] = r < n ? *reinterpret_cast<const uint4*>(src + r * ld + c) : make_uint4(0, 0, 0, 0);
  }
  for (int u = 0; u < kLoads; u++) {
    const int e = threadIdx.x + u * kThreads;
    *reinterpret_cast<uint4*>(dst + e / 8 * kLdH + e % 8 * 8) = x[u];
  }
}

// One warp: C [16 x 64] (fp32, row stride kLdF) = A B^T, A the warp's 16 rows of a bf16 tile, B a
// whole 64-row bf16 tile (scores q k^T, dA = dctx v^T, and their transposes).
__device__ __forceinline__ void warp_abt(const bf16* A, const bf16* B, float* C) {
  wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> a[4];
  for (int kk = 0; kk < 4; kk++) wmma::load_matrix_sync(a[kk], A + kk * 16, kLdH);
  for (int n = 0; n < 4; n++) {
    Acc c;
    wmma::fill_fragment(c, 0.0f);
    for (int kk = 0; kk < 4; kk++) {
      wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major> b;
      wmma::load_matrix_sync(b, B + n * 16 * kLdH + kk * 16, kLdH);
      wmma::mma_sync(c, a[kk], b, c);
    }
    wmma::store_matrix_sync(C + n * 16, c, kLdF, wmma::mem_row_major);
  }
  __syncwarp();
}

// One warp: acc [16 x 64, four 16 x 16 blocks] += A B, A [16 x 64] bf16 rows of the warp, B a
// whole bf16 tile [64 x 64].
__device__ __forceinline__ void warp_ab_acc(const bf16* A, const bf16* B, Acc (&acc)[4]) {
  for (int kk = 0; kk < 4; kk++) {
    wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> a;
    wmma::load_matrix_sync(a, A + kk * 16, kLdH);
    for (int n = 0; n < 4; n++) {
      wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major> b;
      wmma::load_matrix_sync(b, B + kk * 16 * kLdH + n * 16, kLdH);
      wmma::mma_sync(acc[n], a, b, acc[n]);
    }
  }
}

__device__ __forceinline__ void zero(Acc (&acc)[4]) {
  for (int n = 0; n < 4; n++) wmma::fill_fragment(acc[n], 0.0f);
}

// One warp: its [16 x 64] result into C (fp32, row stride kLdF), readable by every lane after.
__device__ __forceinline__ void warp_stage(const Acc (&acc)[4], float* C) {
  for (int n = 0; n < 4; n++) wmma::store_matrix_sync(C + n * 16, acc[n], kLdF, wmma::mem_row_major);
  __syncwarp();
}

// One warp: rows [0, n) of the staged C times s into dst (rows ld apart), a row at a time (coalesced).
__device__ __forceinline__ void warp_write_rows(const float* C, float s, float* dst, int64_t ld, int n) {
  const int lane = threadIdx.x & 31;
  for (int r = 0; r < 16 && r < n; r++)
    for (int c = lane; c < kDh; c += 32) dst[r * ld + c] = C[r * kLdF + c] * s;
}

// The masked, scaled score of key j: masked keys count as the lowest float, as in the unfused
// path (a row whose keys are all masked becomes uniform, as in transformers).
__device__ __forceinline__ float masked(float s, float scale, int32_t m) { return m ? s * scale : -FLT_MAX; }

// Forward. Grid (ceil(Tq / 64), B*H). Lane l of warp w handles query row 16w + l/2 of the block
// and, of each 64-key tile, the 32 keys from 32 * (l % 2): one dropout word.
__global__ void __launch_bounds__(kThreads)
    forward_kernel(const bf16* q, const bf16* k, const bf16* v, const int32_t* mask, float* ctx, int D, Kept kept,
                   bool keep, int H, int Tq, int T, float scale, float p, float inv_keep, uint64_t seed) {
  FLASH_SHARED_MEMORY;
  bf16* Qs = reinterpret_cast<bf16*>(flash_smem);
  bf16* Ks = Qs + kRows * kLdH;
  bf16* Vs = Ks + kRows * kLdH;
  bf16* As = Vs + kRows * kLdH;
  float* Ss = reinterpret_cast<float*>(As + kRows * kLdH);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, r = lane >> 1, half = lane & 1;
  const int bh = blockIdx.y, b = bh / H, h = bh % H, i0 = blockIdx.x * kRows, iw = i0 + warp * 16, i = iw + r;
  const int32_t* m = mask + (int64_t)b * T;
  const bf16* kh = k + (int64_t)b * T * D + h * kDh;
  const bf16* vh = v + (int64_t)b * T * D + h * kDh;
  const bf16* Qw = Qs + warp * 16 * kLdH;
  bf16* Aw = As + warp * 16 * kLdH;
  float* Sw = Ss + warp * 16 * kLdF;
  load_tile(q + ((int64_t)b * Tq + i0) * D + h * kDh, D, Tq - i0, Qs);
  if (keep && h == 0 && blockIdx.x == 0)  // the key mask, for backward (it has no mask argument)
    for (int w = threadIdx.x; w < (T + 31) / 32; w += kThreads) {
      uint32_t word = 0;
      for (int l = 0; l < 32 && 32 * w + l < T; l++) word |= (m[32 * w + l] ? 1u : 0u) << l;
      kept.keys[(int64_t)b * ((T + 31) / 32) + w] = word;
    }

  float mx = -FLT_MAX, sum = 0;  // pass 1 (this lane's half of the keys; the pair shares mx)
  for (int j0 = 0; j0 < T; j0 += kRows) {
    __syncthreads();
    load_tile(kh + (int64_t)j0 * D, D, T - j0, Ks);
    __syncthreads();
    warp_abt(Qw, Ks, Sw);
    const float* s = Sw + r * kLdF + half * 32;
    const int jb = j0 + half * 32;
    float tmx = -FLT_MAX;
    for (int c = 0; c < 32 && jb + c < T; c++) tmx = fmaxf(tmx, masked(s[c], scale, m[jb + c]));
    const float nmx = fmaxf(mx, fmaxf(tmx, __shfl_xor_sync(0xffffffffu, tmx, 1)));
    sum *= expf(mx - nmx);
    for (int c = 0; c < 32 && jb + c < T; c++) sum += expf(masked(s[c], scale, m[jb + c]) - nmx);
    mx = nmx;
  }
  const float inv = 1.0f / (sum + __shfl_xor_sync(0xffffffffu, sum, 1));

  const int64_t row = (int64_t)bh * Tq + i;
  const uint64_t first = ((uint64_t)bh * T + (uint64_t)i) * T;  // element (b,h,i,0)'s draw
  const int words = (T + 31) / 32;
  Acc o[4];
  zero(o);
  for (int j0 = 0; j0 < T; j0 += kRows) {  // pass 2
    __syncthreads();
    load_tile(kh + (int64_t)j0 * D, D, T - j0, Ks);
    load_tile(vh + (int64_t)j0 * D, D, T - j0, Vs);
    __syncthreads();
    warp_abt(Qw, Ks, Sw);
    const float* s = Sw + r * kLdF + half * 32;
    bf16* a = Aw + r * kLdH + half * 32;
    const int jb = j0 + half * 32;
    uint32_t bits = 0;
    for (int c = 0; c < 32; c++) {
      const int j = jb + c;
      float w = 0.0f;
      if (j < T) {
        const float e = expf(masked(s[c], scale, m[j]) - mx) * inv;
        w = round_bf16(e);
        if (p > 0) {  // a weight of exactly 0 (a masked key) needs no draw: 0 times either scale is 0
          const float sc = e != 0.0f ? dropout_scale(seed, first + j, p, inv_keep) : 0.0f;
          if (sc != 0.0f) bits |= 1u << c;
          w *= sc;
        }
      }
      a[c] = __float2bfloat16_rn(w);
    }
    if (keep && p > 0 && i < Tq && jb < T) kept.bits[row * words + jb / 32] = bits;
    __syncwarp();
    warp_ab_acc(Aw, Vs, o);
  }
  warp_stage(o, Sw);
  warp_write_rows(Sw, 1.0f, ctx + ((int64_t)b * Tq + iw) * D + h * kDh, D, Tq - iw);
  if (keep) {
    warp_write_rows(Sw, 1.0f, kept.out + ((int64_t)bh * Tq + iw) * kDh, kDh, Tq - iw);
    if (half == 0 && i < Tq) kept.mx[row] = mx, kept.inv[row] = inv;
  }
}

// Backward, first: dsum of each row = the dot product of dctx's and ctx's head rows. One warp a row.
__global__ void row_dot_kernel(const float* dctx, int D, Kept kept, int64_t rows, int H, int Tq) {
  const int64_t row = (int64_t)blockIdx.x * (blockDim.x / 32) + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (row >= rows) return;
  const int64_t bh = row / Tq;
  const int i = (int)(row % Tq), b = (int)(bh / H), h = (int)(bh % H);
  const float* g = dctx + ((int64_t)b * Tq + i) * D + h * kDh;
  const float* o = kept.out + row * kDh;
  float s = g[lane] * o[lane] + g[lane + 32] * o[lane + 32];
  for (int x = 16; x > 0; x >>= 1) s += __shfl_xor_sync(0xffffffffu, s, x);
  if (lane == 0) kept.dsum[row] = s;
}

// Backward, dk and dv. Grid (ceil(T / 64), B*H): a block's 64 keys (warp w: 16 of them) against
// every tile of 64 queries. Lane l handles key 16w + l/2 and the tile's queries from 32 * (l % 2).
__global__ void __launch_bounds__(kThreads)
    backward_keys_kernel(const bf16* dctx, const bf16* q, const bf16* k, const bf16* v, int D, Kept kept, float* dk,
                         int ldk, float* dv, int H, int Tq, int T, float scale, float p, float inv_keep) {
  FLASH_SHARED_MEMORY;
  bf16* Ks = reinterpret_cast<bf16*>(flash_smem);
  bf16* Vs = Ks + kRows * kLdH;
  bf16* Qs = Vs + kRows * kLdH;
  bf16* Gs = Qs + kRows * kLdH;   // dctx
  bf16* As = Gs + kRows * kLdH;   // A^T: the weights after dropout, keys x queries
  bf16* dSs = As + kRows * kLdH;  // dS^T
  float* Ss = reinterpret_cast<float*>(dSs + kRows * kLdH);  // scores^T
  float* dAs = Ss + kRows * kLdF;                            // dA^T
  float* smx = dAs + kRows * kLdF;
  float* sinv = smx + kRows;
  float* sdsum = sinv + kRows;
  uint32_t* sbits = reinterpret_cast<uint32_t*>(sdsum + kRows);  // per query: this block's 2 mask words
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, r = lane >> 1, half = lane & 1;
  const int bh = blockIdx.y, b = bh / H, h = bh % H, j0 = blockIdx.x * kRows, jw = j0 + warp * 16;
  const int kl = warp * 16 + r, j = j0 + kl;  // this lane's key (in the block, in the sequence)
  const int words = (T + 31) / 32;
  const int32_t mj = j < T ? bit(kept.keys + (int64_t)b * words, j) : 0;
  load_tile(k + ((int64_t)b * T + j0) * D + h * kDh, D, T - j0, Ks);
  load_tile(v + ((int64_t)b * T + j0) * D + h * kDh, D, T - j0, Vs);
  float* Sw = Ss + warp * 16 * kLdF;
  float* dAw = dAs + warp * 16 * kLdF;
  bf16* Aw = As + warp * 16 * kLdH;
  bf16* dSw = dSs + warp * 16 * kLdH;
  Acc dk_acc[4], dv_acc[4];
  zero(dk_acc);
  zero(dv_acc);
  for (int i0 = 0; i0 < Tq; i0 += kRows) {
    __syncthreads();
    load_tile(q + ((int64_t)b * Tq + i0) * D + h * kDh, D, Tq - i0, Qs);
    load_tile(dctx + ((int64_t)b * Tq + i0) * D + h * kDh, D, Tq - i0, Gs);
    for (int t = threadIdx.x; t < 2 * kRows; t += kThreads) {
      const int qi = t >> 1, i = i0 + qi, word = j0 / 32 + (t & 1);
      const int64_t row = (int64_t)bh * Tq + i;
      sbits[t] = p > 0 && i < Tq && word < words ? kept.bits[row * words + word] : 0u;
      if ((t & 1) == 0) {  // rows past Tq: weight 0 (inv 0), so they add nothing
        smx[qi] = i < Tq ? kept.mx[row] : 0.0f;
        sinv[qi] = i < Tq ? kept.inv[row] : 0.0f;
        sdsum[qi] = i < Tq ? kept.dsum[row] : 0.0f;
      }
    }
    __syncthreads();
    warp_abt(Ks + warp * 16 * kLdH, Qs, Sw);   // scores^T: the warp's keys x the tile's queries
    warp_abt(Vs + warp * 16 * kLdH, Gs, dAw);  // dA^T
    for (int c = 0; c < 32; c++) {
      const int qi = half * 32 + c;
      float a = 0.0f, ds = 0.0f;
      if (j < T) {
        const float w = round_bf16(expf(masked(Sw[r * kLdF + qi], scale, mj) - smx[qi]) * sinv[qi]);
        const float sc = p > 0 ? ((sbits[qi * 2 + kl / 32] >> (kl % 32)) & 1u ? inv_keep : 0.0f) : 1.0f;
        a = w * sc;
        ds = w * (dAw[r * kLdF + qi] * sc - sdsum[qi]);
      }
      Aw[r * kLdH + qi] = __float2bfloat16_rn(a);
      dSw[r * kLdH + qi] = __float2bfloat16_rn(ds);
    }
    __syncwarp();
    warp_ab_acc(Aw, Gs, dv_acc);   // dv += A^T dctx
    warp_ab_acc(dSw, Qs, dk_acc);  // dk += dS^T q (times scale below)
  }
  warp_stage(dk_acc, Sw);
  warp_write_rows(Sw, scale, dk + ((int64_t)b * T + jw) * ldk + h * kDh, ldk, T - jw);
  warp_stage(dv_acc, dAw);
  warp_write_rows(dAw, 1.0f, dv + ((int64_t)b * T + jw) * ldk + h * kDh, ldk, T - jw);
}

// Backward, dq. Grid (ceil(Tq / 64), B*H): a block's 64 queries against every tile of 64 keys;
// lanes as in forward.
__global__ void __launch_bounds__(kThreads)
    backward_queries_kernel(const bf16* dctx, const bf16* q, const bf16* k, const bf16* v, int D, Kept kept,
                            float* dq, int ldq, int H, int Tq, int T, float scale, float p, float inv_keep) {
  FLASH_SHARED_MEMORY;
  bf16* Qs = reinterpret_cast<bf16*>(flash_smem);
  bf16* Gs = Qs + kRows * kLdH;  // dctx
  bf16* Ks = Gs + kRows * kLdH;
  bf16* Vs = Ks + kRows * kLdH;
  bf16* dSs = Vs + kRows * kLdH;
  float* Ss = reinterpret_cast<float*>(dSs + kRows * kLdH);
  float* dAs = Ss + kRows * kLdF;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, r = lane >> 1, half = lane & 1;
  const int bh = blockIdx.y, b = bh / H, h = bh % H, i0 = blockIdx.x * kRows, iw = i0 + warp * 16, i = iw + r;
  const int64_t row = (int64_t)bh * Tq + i;
  const int words = (T + 31) / 32;
  const uint32_t* m = kept.keys + (int64_t)b * words;
  const float mx = i < Tq ? kept.mx[row] : 0.0f, inv = i < Tq ? kept.inv[row] : 0.0f,
              dsum = i < Tq ? kept.dsum[row] : 0.0f;
  load_tile(q + ((int64_t)b * Tq + i0) * D + h * kDh, D, Tq - i0, Qs);
  load_tile(dctx + ((int64_t)b * Tq + i0) * D + h * kDh, D, Tq - i0, Gs);
  float* Sw = Ss + warp * 16 * kLdF;
  float* dAw = dAs + warp * 16 * kLdF;
  bf16* dSw = dSs + warp * 16 * kLdH;
  Acc dq_acc[4];
  zero(dq_acc);
  for (int j0 = 0; j0 < T; j0 += kRows) {
    __syncthreads();
    load_tile(k + ((int64_t)b * T + j0) * D + h * kDh, D, T - j0, Ks);
    load_tile(v + ((int64_t)b * T + j0) * D + h * kDh, D, T - j0, Vs);
    __syncthreads();
    warp_abt(Qs + warp * 16 * kLdH, Ks, Sw);  // scores
    warp_abt(Gs + warp * 16 * kLdH, Vs, dAw);  // dA = dctx v^T
    const int jb = j0 + half * 32;
    const uint32_t bits = p > 0 && i < Tq && jb < T ? kept.bits[row * words + jb / 32] : 0u;
    for (int c = 0; c < 32; c++) {
      const int jc = jb + c, col = half * 32 + c;
      float ds = 0.0f;
      if (jc < T) {
        const float w = round_bf16(expf(masked(Sw[r * kLdF + col], scale, bit(m, jc)) - mx) * inv);
        const float sc = p > 0 ? ((bits >> c) & 1u ? inv_keep : 0.0f) : 1.0f;
        ds = w * (dAw[r * kLdF + col] * sc - dsum);
      }
      dSw[r * kLdH + col] = __float2bfloat16_rn(ds);
    }
    __syncwarp();
    warp_ab_acc(dSw, Ks, dq_acc);  // dq += dS k (times scale below)
  }
  warp_stage(dq_acc, Sw);
  warp_write_rows(Sw, scale, dq + ((int64_t)b * Tq + iw) * ldq + h * kDh, ldq, Tq - iw);
}

}  // namespace flash
}  // namespace engine

// Fused ("flash") attention for the bf16 mode, heads of 64: one block per (sequence, head, 64
// queries) computes the masked softmax, the dropout and the product with v on chip, so that the
// [B, H, Tq, T] scores and weights never reach memory (they were most of attention's time: each
// was written and read back several times). As FlashAttention-2 does, the products are the
// tensor cores' mma.sync m16n8k16 (bf16 operands, fp32 accumulation) with each warp's scores in
// registers: an accumulator's layout is the next product's operand layout, so the weights go from
// one product to the next without shared memory. q, k, v and dctx come as dense bf16 copies ([rows,
// D], heads the column blocks), rounded once by the caller, and tiles load in 16-byte pieces.
// (Measured on an H200, a first version through WMMA, with the scores staged in shared memory
// and 4-8 warps an SM, was slower than the unfused path.)
//
// Forward, per block and tile of 64 keys: scores, the online softmax (running max and sum, the
// output rescaled), the weights exp(s - max) rounded to bf16 times the dropout scale from the
// shared generator (../rng.h: the same draws as every backend), ctx += A v; ctx divided by the sum
// at the end. Forward keeps for backward, in the probs buffer: each row's max and 1/sum, the head's
// ctx row, the dropout mask and the key mask as bits; backward recomputes the normalized weights
// w from them. Backward runs FlashAttention-2's two passes with no float atomics (deterministic):
// one block per 64 keys accumulates dk and dv over every query tile, one block per 64 queries dq
// over every key tile; both take dS = w * (dA * scale - rowsum(dctx * ctx)).
//
// Fragments (PTX ISA, mma.m16n8k16 .bf16; lane = 4g + t): A [16 x 16] in 4 registers of 2 values,
// (row g, cols 2t, 2t+1), (g+8, 2t..), (g, 2t+8..), (g+8, 2t+8..); B [16 x 8] in 2, (rows 2t, 2t+1;
// col g), (rows 2t+8, 2t+9; col g); C [16 x 8] 4 floats, (g, 2t), (g, 2t+1), (g+8, 2t), (g+8, 2t+1).
//
// This header is also compiled for the host by native/tests/cuda_emulation.h, which runs these
// kernels thread by thread (mma.sync from every lane's fragments), so that the CPU build's tests
// check them against the reference.
#pragma once
#include <cfloat>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "../rng.h"

#ifdef __CUDACC__
#include <cuda_bf16.h>
#define FLASH_SHARED_MEMORY extern __shared__ __align__(16) unsigned char flash_smem[]
#define FLASH_UNROLL _Pragma("unroll")  // fragments stay in registers only where indices are constants
#else
#define FLASH_UNROLL
#endif

namespace engine {
namespace flash {

using bf16 = __nv_bfloat16;

constexpr int kDh = 64;        // the head width these kernels take
constexpr int kRows = 64;      // queries (forward, dq) or keys (dk, dv) per block
constexpr int kThreads = 128;  // 4 warps, 16 of the rows each
constexpr int kLdH = 72;       // tile row stride: 144 bytes, so that a fragment's 32 loads hit 32 banks

// What a block reads per tile, in shared memory, twice: the next tile loads (cp.async) while the
// block works on this one.
struct KeyTile {  // forward: 64 keys and values, and the key mask
  bf16 k[kRows * kLdH], v[kRows * kLdH];
  int32_t mask[kRows];
};
struct QueryTile {  // backward, dk and dv: 64 queries, their dctx, row statistics and mask words
  bf16 q[kRows * kLdH], g[kRows * kLdH];
  float mx[kRows], inv[kRows], dsum[kRows];
  uint32_t bits[2 * kRows];  // query qi: words 2qi, 2qi + 1 (the block's 64 keys)
};
struct KeyTileBackward {  // backward, dq: 64 keys and values, their mask word pair, the dropout words
  bf16 k[kRows * kLdH], v[kRows * kLdH];
  uint32_t bits[2 * kRows];  // query row r of the block: words 2r, 2r + 1 (this tile's keys)
  uint32_t keys[4];          // the tile's 2 key mask words (and padding to 16 bytes)
};
constexpr size_t kForwardSmem = 2 * sizeof(KeyTile);
constexpr size_t kKeysSmem = 2 * sizeof(QueryTile);
constexpr size_t kQueriesSmem = 2 * sizeof(KeyTileBackward);

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

#ifdef __CUDACC__
// d += a b for the warp.
__device__ __forceinline__ void mma(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
// Copies of 16 and 4 bytes to shared memory in flight while the block computes (cp.async, sm_80+);
// where !valid, zeros (src-size 0: nothing is read). wait_tiles<N>() waits for all but the newest N
// committed groups.
__device__ __forceinline__ void copy16(void* dst, const void* src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"((unsigned)__cvta_generic_to_shared(dst)), "l"(src),
               "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void copy4(void* dst, const void* src, bool valid) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"((unsigned)__cvta_generic_to_shared(dst)), "l"(src),
               "r"(valid ? 4 : 0));
}
__device__ __forceinline__ void commit_tiles() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void wait_tiles() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}
#else
using ::emu::commit_tiles;
using ::emu::copy16;
using ::emu::copy4;
using ::emu::mma;
using ::emu::wait_tiles;
#endif

__device__ __forceinline__ float round_bf16(float x) { return __bfloat162float(__float2bfloat16_rn(x)); }
__device__ __forceinline__ uint32_t pack(float lo, float hi) {
  return (uint32_t)__bfloat16_as_ushort(__float2bfloat16_rn(lo)) |
         (uint32_t)__bfloat16_as_ushort(__float2bfloat16_rn(hi)) << 16;
}
__device__ __forceinline__ uint32_t pack(bf16 lo, bf16 hi) {
  return (uint32_t)__bfloat16_as_ushort(lo) | (uint32_t)__bfloat16_as_ushort(hi) << 16;
}
__device__ __forceinline__ uint32_t word_at(const bf16* p) { return *reinterpret_cast<const uint32_t*>(p); }

// A fragment of rows x (row-major, stride kLdH) from x's top left: the operand X.
__device__ __forceinline__ void load_a(const bf16* x, uint32_t (&a)[4]) {
  const int g = (threadIdx.x & 31) >> 2, t = threadIdx.x & 3;
  a[0] = word_at(x + g * kLdH + 2 * t);
  a[1] = word_at(x + (g + 8) * kLdH + 2 * t);
  a[2] = word_at(x + g * kLdH + 2 * t + 8);
  a[3] = word_at(x + (g + 8) * kLdH + 2 * t + 8);
}
// B fragment of the operand Y^T, Y row-major [8 x 16] from its top left (B(k, n) = Y[n][k]: the k of q k^T).
__device__ __forceinline__ void load_b_transposed(const bf16* y, uint32_t (&b)[2]) {
  const int g = (threadIdx.x & 31) >> 2, t = threadIdx.x & 3;
  b[0] = word_at(y + g * kLdH + 2 * t);
  b[1] = word_at(y + g * kLdH + 2 * t + 8);
}
// B fragment of the operand Y itself, row-major [16 x 8] (B(k, n) = Y[k][n]: the v of A v).
__device__ __forceinline__ void load_b(const bf16* y, uint32_t (&b)[2]) {
  const int g = (threadIdx.x & 31) >> 2, t = threadIdx.x & 3;
  b[0] = pack(y[2 * t * kLdH + g], y[(2 * t + 1) * kLdH + g]);
  b[1] = pack(y[(2 * t + 8) * kLdH + g], y[(2 * t + 9) * kLdH + g]);
}

// Rows [0, n) of a 64-wide bf16 tile, rows ld apart, into shared memory; the rows from n on are
// zeros. Eight values a load, every load issued before the first store.
constexpr int kLoads = kRows * kDh / 8 / kThreads;
__device__ __forceinline__ void load_tile(const bf16* src, int64_t ld, int n, bf16* dst) {
  uint4 x[kLoads];
  FLASH_UNROLL
  for (int u = 0; u < kLoads; u++) {
    const int e = threadIdx.x + u * kThreads, r = e / 8, c = e % 8 * 8;
    x[u] = r < n ? *reinterpret_cast<const uint4*>(src + r * ld + c) : make_uint4(0, 0, 0, 0);
  }
  FLASH_UNROLL
  for (int u = 0; u < kLoads; u++) {
    const int e = threadIdx.x + u * kThreads;
    *reinterpret_cast<uint4*>(dst + e / 8 * kLdH + e % 8 * 8) = x[u];
  }
}

// The same, in flight (commit_tiles() and wait_tiles() around it).
__device__ __forceinline__ void load_tile_async(const bf16* src, int64_t ld, int n, bf16* dst) {
  FLASH_UNROLL
  for (int u = 0; u < kLoads; u++) {
    const int e = threadIdx.x + u * kThreads, r = e / 8, c = e % 8 * 8;
    copy16(dst + r * kLdH + c, r < n ? src + r * ld + c : src, r < n);
  }
}

// The warp's 16 rows of a 64-wide tile as A fragments, one per 16 columns.
__device__ __forceinline__ void load_rows(const bf16* tile, int warp, uint32_t (&a)[4][4]) {
  FLASH_UNROLL
  for (int kk = 0; kk < 4; kk++) load_a(tile + warp * 16 * kLdH + kk * 16, a[kk]);
}

// c[n] (n-th 8 columns) = X Y^T over 64: X the warp's rows (fragments x), Y rows n0 + [0, 8N) of a tile.
template <int N>
__device__ __forceinline__ void product_t(const uint32_t (&x)[4][4], const bf16* tile, int n0, float (&c)[N][4]) {
  FLASH_UNROLL
  for (int n = 0; n < N; n++) {
    c[n][0] = c[n][1] = c[n][2] = c[n][3] = 0.0f;
    FLASH_UNROLL
    for (int kk = 0; kk < 4; kk++) {
      uint32_t b[2];
      load_b_transposed(tile + (n0 + n * 8) * kLdH + kk * 16, b);
      mma(c[n], x[kk], b);
    }
  }
}

// acc += P Y: P [16 x 16K] as A fragments p, Y rows k0 + [0, 16K) of a tile (all 64 columns).
template <int K>
__device__ __forceinline__ void accumulate(const uint32_t (&p)[K][4], const bf16* tile, int k0, float (&acc)[8][4]) {
  FLASH_UNROLL
  for (int n = 0; n < 8; n++)
    FLASH_UNROLL
    for (int kk = 0; kk < K; kk++) {
      uint32_t b[2];
      load_b(tile + (k0 + kk * 16) * kLdH + n * 8, b);
      mma(acc[n], p[kk], b);
    }
}

// The values c (2K accumulators of 8 columns) as K A fragments of 16 columns (bf16).
template <int K>
__device__ __forceinline__ void to_operand(const float (&c)[2 * K][4], uint32_t (&a)[K][4]) {
  FLASH_UNROLL
  for (int kk = 0; kk < K; kk++) {
    a[kk][0] = pack(c[2 * kk][0], c[2 * kk][1]);
    a[kk][1] = pack(c[2 * kk][2], c[2 * kk][3]);
    a[kk][2] = pack(c[2 * kk + 1][0], c[2 * kk + 1][1]);
    a[kk][3] = pack(c[2 * kk + 1][2], c[2 * kk + 1][3]);
  }
}

// The lane's rows g and g+8 of the warp's 16 x 64 result acc, times s[row], into dst (rows ld apart)
// where the row is below n.
__device__ __forceinline__ void write_rows(const float (&acc)[8][4], const float (&s)[2], float* dst, int64_t ld, int n) {
  const int g = (threadIdx.x & 31) >> 2, t = threadIdx.x & 3;
  FLASH_UNROLL
  for (int r = 0; r < 2; r++) {
    if (g + 8 * r >= n) continue;
    float* d = dst + (g + 8 * r) * ld + 2 * t;
    FLASH_UNROLL
    for (int c = 0; c < 8; c++) d[c * 8] = acc[c][2 * r] * s[r], d[c * 8 + 1] = acc[c][2 * r + 1] * s[r];
  }
}

// A row's max across the 4 lanes that share it.
__device__ __forceinline__ float group_max(float x) {
  x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 1));
  return fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 2));
}
__device__ __forceinline__ float group_sum(float x) {
  x += __shfl_xor_sync(0xffffffffu, x, 1);
  return x + __shfl_xor_sync(0xffffffffu, x, 2);
}

// A key's flag in the tile: 1 attended, 0 masked (the lowest float, as the unfused path and
// transformers: a row with no attended key becomes uniform), -1 past T (no part in the row at all).
__device__ __forceinline__ float score(float s, float scale, float flag) {
  return flag > 0 ? s * scale : flag == 0 ? -FLT_MAX : -INFINITY;
}

// Forward. Grid (ceil(Tq / 64), B*H); warp w takes queries 16w.. of the block.
__device__ __forceinline__ void prefetch_keys(KeyTile& kt, const bf16* k, const bf16* v, const int32_t* m, int D, int T,
                                              int j0) {
  load_tile_async(k + (int64_t)j0 * D, D, T - j0, kt.k);
  load_tile_async(v + (int64_t)j0 * D, D, T - j0, kt.v);
  for (int x = threadIdx.x; x < kRows; x += kThreads) copy4(&kt.mask[x], j0 + x < T ? m + j0 + x : m, j0 + x < T);
  commit_tiles();
}

// (Bounded to 128 registers, 24 bytes spilled, so that 4 blocks fit an SM instead of 3.)
__global__ void __launch_bounds__(kThreads, 4)
    forward_kernel(const bf16* q, const bf16* k, const bf16* v, const int32_t* mask, float* ctx, int D, Kept kept,
                   bool keep, int H, int Tq, int T, float scale, float p, float inv_keep, uint64_t seed) {
  FLASH_SHARED_MEMORY;
  KeyTile* tiles = reinterpret_cast<KeyTile*>(flash_smem);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int bh = blockIdx.y, b = bh / H, h = bh % H, i0 = blockIdx.x * kRows, iw = i0 + warp * 16;
  const int32_t* m = mask + (int64_t)b * T;
  const bf16* kh = k + (int64_t)b * T * D + h * kDh;
  const bf16* vh = v + (int64_t)b * T * D + h * kDh;
  const int words = (T + 31) / 32;
  if (keep && h == 0 && blockIdx.x == 0)  // the key mask, for backward (it has no mask argument)
    for (int w = threadIdx.x; w < words; w += kThreads) {
      uint32_t word = 0;
      for (int l = 0; l < 32 && 32 * w + l < T; l++) word |= (m[32 * w + l] ? 1u : 0u) << l;
      kept.keys[(int64_t)b * words + w] = word;
    }
  uint32_t qf[4][4];  // the warp's queries, kept in registers (staged in the second buffer)
  load_tile(q + ((int64_t)b * Tq + i0) * D + h * kDh, D, Tq - i0, tiles[1].k);
  prefetch_keys(tiles[0], kh, vh, m, D, T, 0);
  __syncthreads();
  load_rows(tiles[1].k, warp, qf);
  __syncthreads();

  float o[8][4] = {}, mx[2] = {-INFINITY, -INFINITY}, sum[2] = {0.0f, 0.0f};  // rows g, g+8
  const int64_t row0 = (int64_t)bh * Tq + iw + g;  // the lane's first row (b, h, i)
  const uint64_t first[2] = {((uint64_t)bh * T + (uint64_t)(iw + g)) * T, ((uint64_t)bh * T + (uint64_t)(iw + g + 8)) * T};
  for (int j0 = 0, it = 0; j0 < T; j0 += kRows, it++) {
    if (j0 + kRows < T) prefetch_keys(tiles[(it + 1) & 1], kh, vh, m, D, T, j0 + kRows);
    else commit_tiles();  // an empty group, so that the wait below always leaves one
    wait_tiles<1>();
    __syncthreads();
    const KeyTile& kt = tiles[it & 1];
    float s[8][4];
    product_t(qf, kt.k, 0, s);
    float tmx[2] = {-INFINITY, -INFINITY};
    FLASH_UNROLL
    for (int n = 0; n < 8; n++)
      FLASH_UNROLL
      for (int e = 0; e < 4; e++) {
        const int c = n * 8 + 2 * t + (e & 1);
        s[n][e] = score(s[n][e], scale, j0 + c >= T ? -1.0f : kt.mask[c] ? 1.0f : 0.0f);
        tmx[e >> 1] = fmaxf(tmx[e >> 1], s[n][e]);
      }
    float alpha[2];
    FLASH_UNROLL
    for (int r = 0; r < 2; r++) {  // tile 0 holds key 0, so the max is at least -FLT_MAX from there on
      const float nmx = fmaxf(mx[r], group_max(tmx[r]));
      alpha[r] = expf(mx[r] - nmx);
      mx[r] = nmx;
      sum[r] *= alpha[r];
    }
    FLASH_UNROLL
    for (int n = 0; n < 8; n++) o[n][0] *= alpha[0], o[n][1] *= alpha[0], o[n][2] *= alpha[1], o[n][3] *= alpha[1];
    uint32_t bits[2][2] = {};  // rows g, g+8; the tile's keys 0-31, 32-63
    FLASH_UNROLL
    for (int n = 0; n < 8; n++)
      FLASH_UNROLL
      for (int e = 0; e < 4; e++) {
        const int r = e >> 1, c = n * 8 + 2 * t + (e & 1);
        const float x = expf(s[n][e] - mx[r]);
        sum[r] += x;
        float w = round_bf16(x);
        if (p > 0) {  // a weight of exactly 0 (a masked key) needs no draw: 0 times either scale is 0
          const float sc = x != 0.0f ? dropout_scale(seed, first[r] + j0 + c, p, inv_keep) : 0.0f;
          if (sc != 0.0f) bits[r][n >> 2] |= 1u << (c & 31);
          w *= sc;
        }
        s[n][e] = w;
      }
    if (keep && p > 0) {
      FLASH_UNROLL
      for (int r = 0; r < 2; r++)
        FLASH_UNROLL
        for (int w = 0; w < 2; w++) {
          uint32_t x = bits[r][w];
          x |= __shfl_xor_sync(0xffffffffu, x, 1);
          x |= __shfl_xor_sync(0xffffffffu, x, 2);
          if (t == 0 && iw + g + 8 * r < Tq && j0 + 32 * w < T) kept.bits[(row0 + 8 * r) * words + j0 / 32 + w] = x;
        }
    }
    uint32_t a[4][4];
    to_operand(s, a);
    accumulate(a, kt.v, 0, o);
    __syncthreads();  // this buffer is the next prefetch's
  }
  float inv[2];
  FLASH_UNROLL
  for (int r = 0; r < 2; r++) inv[r] = 1.0f / group_sum(sum[r]);
  write_rows(o, inv, ctx + ((int64_t)b * Tq + iw) * D + h * kDh, D, Tq - iw);
  if (keep) {
    write_rows(o, inv, kept.out + ((int64_t)bh * Tq + iw) * kDh, kDh, Tq - iw);
    FLASH_UNROLL
    for (int r = 0; r < 2; r++)
      if (t == 0 && iw + g + 8 * r < Tq) kept.mx[row0 + 8 * r] = mx[r], kept.inv[row0 + 8 * r] = inv[r];
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

// Backward, dk and dv. Grid (ceil(T / 64), B*H): a block's 64 keys (warp w: 16 of them, in
// registers) against every tile of 64 queries, 32 queries at a time. Lane 4g + t holds keys g, g+8.
__device__ __forceinline__ void prefetch_queries(QueryTile& qt, const bf16* q, const bf16* g, const Kept& kept, int D,
                                                 int64_t bh, int Tq, int words, int j0, int i0, float p) {
  load_tile_async(q + (int64_t)i0 * D, D, Tq - i0, qt.q);
  load_tile_async(g + (int64_t)i0 * D, D, Tq - i0, qt.g);
  for (int x = threadIdx.x; x < 2 * kRows; x += kThreads) {  // rows past Tq: zeros (weight 0: they add nothing)
    const int qi = x >> 1, i = i0 + qi, word = j0 / 32 + (x & 1);
    const int64_t row = bh * Tq + i;
    const bool in = i < Tq, ok = p > 0 && in && word < words;
    copy4(&qt.bits[x], kept.bits + (ok ? row * words + word : 0), ok);
    if ((x & 1) == 0) {
      copy4(&qt.mx[qi], kept.mx + (in ? row : 0), in);
      copy4(&qt.inv[qi], kept.inv + (in ? row : 0), in);
      copy4(&qt.dsum[qi], kept.dsum + (in ? row : 0), in);
    }
  }
  commit_tiles();
}

// (Bounded to 168 registers, about 100 bytes spilled, so that 3 blocks fit an SM instead of 2.)
__global__ void __launch_bounds__(kThreads, 3)
    backward_keys_kernel(const bf16* dctx, const bf16* q, const bf16* k, const bf16* v, int D, Kept kept, float* dk,
                         int ldk, float* dv, int H, int Tq, int T, float scale, float p, float inv_keep) {
  FLASH_SHARED_MEMORY;
  QueryTile* tiles = reinterpret_cast<QueryTile*>(flash_smem);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int bh = blockIdx.y, b = bh / H, h = bh % H, j0 = blockIdx.x * kRows, jw = j0 + warp * 16;
  const int words = (T + 31) / 32;
  const bf16* qh = q + (int64_t)b * Tq * D + h * kDh;
  const bf16* gh = dctx + (int64_t)b * Tq * D + h * kDh;
  float flag[2];  // keys jw + g and jw + g + 8
  FLASH_UNROLL
  for (int r = 0; r < 2; r++) {
    const int j = jw + g + 8 * r;
    flag[r] = j >= T ? -1.0f : (kept.keys[(int64_t)b * words + j / 32] >> (j % 32)) & 1u ? 1.0f : 0.0f;
  }
  uint32_t kf[4][4], vf[4][4];  // the warp's keys and values, kept in registers (staged in the second buffer)
  load_tile(k + ((int64_t)b * T + j0) * D + h * kDh, D, T - j0, tiles[1].q);
  load_tile(v + ((int64_t)b * T + j0) * D + h * kDh, D, T - j0, tiles[1].g);
  prefetch_queries(tiles[0], qh, gh, kept, D, bh, Tq, words, j0, 0, p);
  __syncthreads();
  load_rows(tiles[1].q, warp, kf);
  load_rows(tiles[1].g, warp, vf);
  __syncthreads();
  float dk_acc[8][4] = {}, dv_acc[8][4] = {};
  for (int i0 = 0, it = 0; i0 < Tq; i0 += kRows, it++) {
    if (i0 + kRows < Tq) prefetch_queries(tiles[(it + 1) & 1], qh, gh, kept, D, bh, Tq, words, j0, i0 + kRows, p);
    else commit_tiles();
    wait_tiles<1>();
    __syncthreads();
    const QueryTile& qt = tiles[it & 1];
    FLASH_UNROLL
    for (int half = 0; half < 2; half++) {
      float st[4][4], dat[4][4];  // scores^T and dA^T: the warp's keys x 32 queries
      product_t(kf, qt.q, half * 32, st);
      product_t(vf, qt.g, half * 32, dat);
      FLASH_UNROLL
      for (int n = 0; n < 4; n++)
        FLASH_UNROLL
        for (int e = 0; e < 4; e++) {
          const int r = e >> 1, qi = half * 32 + n * 8 + 2 * t + (e & 1), kl = warp * 16 + g + 8 * r;
          float a = 0.0f, ds = 0.0f;
          if (flag[r] >= 0) {
            const float w = round_bf16(expf(score(st[n][e], scale, flag[r]) - qt.mx[qi]) * qt.inv[qi]);
            const float sc = p > 0 ? ((qt.bits[qi * 2 + kl / 32] >> (kl % 32)) & 1u ? inv_keep : 0.0f) : 1.0f;
            a = w * sc;
            ds = w * (dat[n][e] * sc - qt.dsum[qi]);
          }
          st[n][e] = a;
          dat[n][e] = ds;
        }
      uint32_t pa[2][4], pds[2][4];
      to_operand(st, pa);
      to_operand(dat, pds);
      accumulate(pa, qt.g, half * 32, dv_acc);   // dv += A^T dctx
      accumulate(pds, qt.q, half * 32, dk_acc);  // dk += dS^T q (times scale below)
    }
    __syncthreads();  // this buffer is the next prefetch's
  }
  const float s_dk[2] = {scale, scale}, s_dv[2] = {1.0f, 1.0f};
  write_rows(dk_acc, s_dk, dk + ((int64_t)b * T + jw) * ldk + h * kDh, ldk, T - jw);
  write_rows(dv_acc, s_dv, dv + ((int64_t)b * T + jw) * ldk + h * kDh, ldk, T - jw);
}

// Backward, dq. Grid (ceil(Tq / 64), B*H): a block's 64 queries (warp w: 16, in registers) against
// every tile of 64 keys, 32 keys at a time. Lane 4g + t holds queries g, g+8.
__device__ __forceinline__ void prefetch_keys_backward(KeyTileBackward& kt, const bf16* k, const bf16* v,
                                                       const Kept& kept, int D, int64_t row_block, int b, int Tq,
                                                       int T, int words, int i0, int j0, float p) {
  load_tile_async(k + (int64_t)j0 * D, D, T - j0, kt.k);
  load_tile_async(v + (int64_t)j0 * D, D, T - j0, kt.v);
  for (int x = threadIdx.x; x < 2 * kRows; x += kThreads) {
    const int r = x >> 1, word = j0 / 32 + (x & 1);
    const bool ok = p > 0 && i0 + r < Tq && word < words;
    copy4(&kt.bits[x], kept.bits + (ok ? (row_block + r) * words + word : 0), ok);
  }
  for (int x = threadIdx.x; x < 2; x += kThreads) {
    const int word = j0 / 32 + x;
    copy4(&kt.keys[x], kept.keys + (word < words ? (int64_t)b * words + word : 0), word < words);
  }
  commit_tiles();
}

__global__ void __launch_bounds__(kThreads, 3)
    backward_queries_kernel(const bf16* dctx, const bf16* q, const bf16* k, const bf16* v, int D, Kept kept,
                            float* dq, int ldq, int H, int Tq, int T, float scale, float p, float inv_keep) {
  FLASH_SHARED_MEMORY;
  KeyTileBackward* tiles = reinterpret_cast<KeyTileBackward*>(flash_smem);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int bh = blockIdx.y, b = bh / H, h = bh % H, i0 = blockIdx.x * kRows, iw = i0 + warp * 16;
  const int words = (T + 31) / 32;
  const bf16* kh = k + (int64_t)b * T * D + h * kDh;
  const bf16* vh = v + (int64_t)b * T * D + h * kDh;
  const int64_t row_block = (int64_t)bh * Tq + i0, row0 = row_block + warp * 16 + g;
  float mx[2], inv[2], dsum[2];  // rows g, g+8 (past Tq: weight 0)
  FLASH_UNROLL
  for (int r = 0; r < 2; r++) {
    const bool in = iw + g + 8 * r < Tq;
    mx[r] = in ? kept.mx[row0 + 8 * r] : 0.0f;
    inv[r] = in ? kept.inv[row0 + 8 * r] : 0.0f;
    dsum[r] = in ? kept.dsum[row0 + 8 * r] : 0.0f;
  }
  uint32_t qf[4][4], gf[4][4];  // the warp's queries and their dctx, kept in registers (staged in the second buffer)
  load_tile(q + ((int64_t)b * Tq + i0) * D + h * kDh, D, Tq - i0, tiles[1].k);
  load_tile(dctx + ((int64_t)b * Tq + i0) * D + h * kDh, D, Tq - i0, tiles[1].v);
  prefetch_keys_backward(tiles[0], kh, vh, kept, D, row_block, b, Tq, T, words, i0, 0, p);
  __syncthreads();
  load_rows(tiles[1].k, warp, qf);
  load_rows(tiles[1].v, warp, gf);
  __syncthreads();
  float dq_acc[8][4] = {};
  for (int j0 = 0, it = 0; j0 < T; j0 += kRows, it++) {
    if (j0 + kRows < T) prefetch_keys_backward(tiles[(it + 1) & 1], kh, vh, kept, D, row_block, b, Tq, T, words, i0, j0 + kRows, p);
    else commit_tiles();
    wait_tiles<1>();
    __syncthreads();
    const KeyTileBackward& kt = tiles[it & 1];
    uint32_t bits[2][2];  // rows g, g+8; the tile's keys 0-31, 32-63
    FLASH_UNROLL
    for (int r = 0; r < 2; r++) bits[r][0] = kt.bits[(warp * 16 + g + 8 * r) * 2], bits[r][1] = kt.bits[(warp * 16 + g + 8 * r) * 2 + 1];
    FLASH_UNROLL
    for (int half = 0; half < 2; half++) {
      float s[4][4], da[4][4];  // scores and dA = dctx v^T: the warp's queries x 32 keys
      product_t(qf, kt.k, half * 32, s);
      product_t(gf, kt.v, half * 32, da);
      FLASH_UNROLL
      for (int n = 0; n < 4; n++)
        FLASH_UNROLL
        for (int e = 0; e < 4; e++) {
          const int r = e >> 1, c = half * 32 + n * 8 + 2 * t + (e & 1);
          float ds = 0.0f;
          if (j0 + c < T) {
            const float f = (kt.keys[half] >> (c & 31)) & 1u ? 1.0f : 0.0f;
            const float w = round_bf16(expf(score(s[n][e], scale, f) - mx[r]) * inv[r]);
            const float sc = p > 0 ? ((bits[r][half] >> (c & 31)) & 1u ? inv_keep : 0.0f) : 1.0f;
            ds = w * (da[n][e] * sc - dsum[r]);
          }
          da[n][e] = ds;
        }
      uint32_t pds[2][4];
      to_operand(da, pds);
      accumulate(pds, kt.k, half * 32, dq_acc);  // dq += dS k (times scale below)
    }
    __syncthreads();  // this buffer is the next prefetch's
  }
  const float s_dq[2] = {scale, scale};
  write_rows(dq_acc, s_dq, dq + ((int64_t)b * Tq + iw) * ldq + h * kDh, ldq, Tq - iw);
}

}  // namespace flash
}  // namespace engine

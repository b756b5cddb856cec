// The fused ("flash") attention for the bf16 mode, heads of 64: what its forward
// (attention_bf16_forward.cuh) and backward (attention_bf16_backward.cuh) share. One block per
// (sequence, head, 64 queries) computes the masked softmax, the dropout and the product with v on chip, so that the
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
// These headers are also compiled for the host by native/tests/cuda_emulation.h, which runs these
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

}  // namespace flash
}  // namespace engine

// The fused bf16 attention's backward (attention_bf16_tiles.cuh says how it works): the row dots,
// then one block per 64 keys for dk and dv and one per 64 queries for dq, no float atomics.
#pragma once
#include "attention_bf16_tiles.cuh"

namespace engine {
namespace flash {

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
                                                 int64_t bh, int Tq, int words, int j0, int i0, bool dropout) {
  load_tile_async(q + (int64_t)i0 * D, D, Tq - i0, qt.q);
  load_tile_async(g + (int64_t)i0 * D, D, Tq - i0, qt.g);
  for (int x = threadIdx.x; x < 2 * kRows; x += kThreads) {  // rows past Tq: zeros (weight 0: they add nothing)
    const int qi = x >> 1, i = i0 + qi, word = j0 / 32 + (x & 1);
    const int64_t row = bh * Tq + i;
    const bool in = i < Tq, ok = dropout && in && word < words;
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
                         int ldk, float* dv, int H, int Tq, int T, float scale, Dropout d) {
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
  prefetch_queries(tiles[0], qh, gh, kept, D, bh, Tq, words, j0, 0, d.threshold > 0);
  __syncthreads();
  load_rows(tiles[1].q, warp, kf);
  load_rows(tiles[1].g, warp, vf);
  __syncthreads();
  float dk_acc[8][4] = {}, dv_acc[8][4] = {};
  for (int i0 = 0, it = 0; i0 < Tq; i0 += kRows, it++) {
    if (i0 + kRows < Tq) prefetch_queries(tiles[(it + 1) & 1], qh, gh, kept, D, bh, Tq, words, j0, i0 + kRows, d.threshold > 0);
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
            const float sc = d.threshold > 0 ? ((qt.bits[qi * 2 + kl / 32] >> (kl % 32)) & 1u ? d.inv_keep : 0.0f) : 1.0f;
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
                                                       int T, int words, int i0, int j0, bool dropout) {
  load_tile_async(k + (int64_t)j0 * D, D, T - j0, kt.k);
  load_tile_async(v + (int64_t)j0 * D, D, T - j0, kt.v);
  for (int x = threadIdx.x; x < 2 * kRows; x += kThreads) {
    const int r = x >> 1, word = j0 / 32 + (x & 1);
    const bool ok = dropout && i0 + r < Tq && word < words;
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
                            float* dq, int ldq, int H, int Tq, int T, float scale, Dropout d) {
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
  prefetch_keys_backward(tiles[0], kh, vh, kept, D, row_block, b, Tq, T, words, i0, 0, d.threshold > 0);
  __syncthreads();
  load_rows(tiles[1].k, warp, qf);
  load_rows(tiles[1].v, warp, gf);
  __syncthreads();
  float dq_acc[8][4] = {};
  for (int j0 = 0, it = 0; j0 < T; j0 += kRows, it++) {
    if (j0 + kRows < T) prefetch_keys_backward(tiles[(it + 1) & 1], kh, vh, kept, D, row_block, b, Tq, T, words, i0, j0 + kRows, d.threshold > 0);
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
            const float sc = d.threshold > 0 ? ((bits[r][half] >> (c & 31)) & 1u ? d.inv_keep : 0.0f) : 1.0f;
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

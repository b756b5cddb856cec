// The fused bf16 attention's forward (attention_bf16_tiles.cuh says how it works): one block per
// (sequence, head, 64 queries), an online softmax over tiles of 64 keys.
#pragma once
#include "attention_bf16_tiles.cuh"

namespace engine {
namespace flash {

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
                   bool keep, int H, int Tq, int T, float scale, Dropout d) {
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
        if (d.threshold > 0) {  // a weight of exactly 0 (a masked key) needs no draw: 0 times either scale is 0
          const float sc = x != 0.0f ? dropout_scale(d, first[r] + j0 + c) : 0.0f;
          if (sc != 0.0f) bits[r][n >> 2] |= 1u << (c & 31);
          w *= sc;
        }
        s[n][e] = w;
      }
    if (keep && d.threshold > 0) {
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

}  // namespace flash
}  // namespace engine

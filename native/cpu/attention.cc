// Attention core in blocks of work that each thread takes whole (see Blocks): the heads' q, k and v
// (and in backward dctx) are packed head by head into contiguous [rows, D/H] blocks (bfloat16 bits
// under bf16, as PyTorch's CPU autocast feeds its products; fp32 accumulation); a block's scores
// come from one product, the softmax and dropout run row by row while they are in the core's L2
// cache, and one more product multiplies v; every product runs on its thread alone
// (thread_matmul). Measured on a 2-core Xeon with AMX (L2 2 MiB a core) at 8 x 512 tokens, heads
// of 64, bf16, a layer: batched oneDNN products over chunks of 4 heads on both cores, the rows
// split between them, took 38.7 ms forward and 57.4 backward; these blocks 25.0 and 49.8.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <exception>

#include "aligned.h"
#include "bf16.h"
#include "dropout.h"
#include "fastmath.h"
#include "kernels.h"
#include "matmul.h"
#include "parallel.h"

namespace engine {

namespace {

// A block of work takes at most this many scores (and at least one query row): 512 KiB of fp32, so
// that with their gradient, the weights and the heads' operands they stay in a core's L2.
constexpr int64_t kBlockScores = int64_t(1) << 17;

// How a B x H attention with Tq x T scores a head is cut into blocks: heads of one sequence
// [h0, h0 + heads) (every query row), or rows [r0, r0 + rows) of one head where a head's scores
// alone exceed a block. Groups of heads take one product per operand (a product per head of 128
// queries cost more in its calls than in its arithmetic); the heads of a sequence are split into
// groups of equal size, so that one sequence's groups divide among the threads evenly.
struct Blocks {
  int H, Tq, heads, groups, rows;  // heads a group, groups a sequence, query rows a block
  Blocks(int H_, int Tq_, int T) : H(H_), Tq(Tq_) {
    const int64_t queries = std::max(Tq, 1), per_head = queries * std::max(T, 1);
    const int fit = (int)std::clamp<int64_t>(kBlockScores / per_head, 1, H);
    groups = (H + fit - 1) / fit;
    heads = (H + groups - 1) / groups;
    rows = (int)(heads > 1 ? queries : std::clamp<int64_t>(kBlockScores / std::max(T, 1), 1, queries));
  }
};

// n matrices of rows x dh, contiguous in src, written times f (or with add, added) into dst: matrix
// i at column i * dh, rows ld apart. The blocks' products write their outputs contiguous and this
// puts them in place: oneDNN 2.6 runs a product whose output has a row stride of its own through
// its gemm:jit path instead of AMX brgemm (a layer's bf16 backward at 8 x 512: 50 ms writing in
// place, 43 through this copy).
void put_heads(const float* src, int64_t n, int rows, int dh, float* dst, int64_t ld, bool add, float f = 1.0f) {
  for (int64_t i = 0; i < n * rows; i++) {
    const float* s = src + i * dh;
    float* d = dst + (i / rows) * dh + (i % rows) * ld;
    if (add) {
#pragma omp simd
      for (int c = 0; c < dh; c++) d[c] += s[c];
    } else {
#pragma omp simd
      for (int c = 0; c < dh; c++) d[c] = s[c] * f;
    }
  }
}

// The same into bfloat16 bits (each value times f, rounded once).
void put_heads16(const float* src, int64_t n, int rows, int dh, uint16_t* dst, int64_t ld, float f = 1.0f) {
  for (int64_t i = 0; i < n * rows; i++) {
    const float* s = src + i * dh;
    uint16_t* d = dst + (i / rows) * dh + (i % rows) * ld;
#pragma omp simd
    for (int c = 0; c < dh; c++) d[c] = to_bf16(s[c] * f);
  }
}

// body(b, h0, n, r0, rows) for every block: heads [h0, h0 + n) of sequence b, query rows
// [r0, r0 + rows) of each. The blocks are split over the threads; an exception (a product's
// error) stops its thread's blocks and is thrown again once the threads are done.
template <typename Body>
void for_blocks(int B, const Blocks& k, Body body) {
  std::exception_ptr error;
  parallel_ranges((int64_t)B * k.groups, [&](int64_t lo, int64_t hi) {
    try {
      for (int64_t i = lo; i < hi; i++) {
        const int b = (int)(i / k.groups), h0 = (int)(i % k.groups) * k.heads, n = std::min(k.heads, k.H - h0);
        for (int r0 = 0; r0 < k.Tq; r0 += k.rows) body(b, h0, n, r0, std::min(k.rows, k.Tq - r0));
      }
    } catch (...) {
#pragma omp critical(attention_error)
      if (!error) error = std::current_exception();
    }
  });
  if (error) std::rethrow_exception(error);
}

// The operands (made by the calling thread, read by all), and each thread's scores and weights.
thread_local AlignedVector<float> q_operand, k_operand, v_operand, g_operand, scores, grads, weights, out;
// bf16 gradients out of backward: dk and dv summed in fp32 over a head group's blocks of rows.
thread_local AlignedVector<float> dk_sum, dv_sum;

// Room for n floats, or (bf16) n bfloat16 values, in one of the scratch buffers above.
float* room(AlignedVector<float>& s, int64_t n, bool bf16) {
  const size_t floats = (size_t)(bf16 ? (n + 1) / 2 : n);
  if (s.size() < floats) s.resize(floats);
  return s.data();
}

// Element n of buf, a buffer of fp32 or (bf16) of bfloat16 bits.
const void* element(const void* buf, bool bf16, int64_t n) {
  return bf16 ? static_cast<const void*>(static_cast<const uint16_t*>(buf) + n) : static_cast<const float*>(buf) + n;
}

// a as fp32, or as the bits of its bfloat16.
template <typename Out>
inline void put(Out& d, float a) {
  if constexpr (sizeof(Out) == 2)
    d = to_bf16(a);
  else
    d = a;
}

// f(p) with p the element at `offset` of buf, a buffer of fp32 or (bf16) of bfloat16 bits, typed so.
template <typename F>
void typed_at(float* buf, bool bf16, int64_t offset, F f) {
  if (bf16)
    f(reinterpret_cast<uint16_t*>(buf) + offset);
  else
    f(buf + offset);
}

// One row of dh values times s, into fp32 or bf16 bits (a loop over plain arguments, which GCC
// vectorizes; inside the lambda below it reads them through the closure and does not).
template <typename Out>
void pack_row(const float* src, Out* d, int dh, float s) {
#pragma omp simd
  for (int c = 0; c < dh; c++) put(d[c], src[c] * s);
}

// An operand of the heads' products: B sequences of n rows of x (ld apart), their first H * dh
// columns times s, packed head by head as [B, H, n, dh] (bfloat16 bits under bf16), so that each
// head's block is contiguous. Source row by source row on all threads: reading a head's block down
// the rows, ld apart, ran 2.7x slower; so did fp32 products reading the heads in place. Into buf.
const float* operand(const float* x, int64_t ld, int B, int n, int H, int dh, float s, bool bf16,
                     AlignedVector<float>& buf) {
  float* out = room(buf, (int64_t)B * H * n * dh, bf16);
  parallel_ranges((int64_t)B * n, [=](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; i++) {
      const int64_t b = i / n, r = i % n;
      for (int h = 0; h < H; h++)
        typed_at(out, bf16, ((b * H + h) * n + r) * dh,
                 [&](auto* d) { pack_row(x + i * ld + (int64_t)h * dh, d, dh, s); });
    }
  });
  return out;
}

// An operand of the heads' products as they read it: row r of sequence b in head h at element
// b * seq + h * head + r * ld of base (fp32 or bf16 bits), its dh columns contiguous.
struct Heads {
  const void* base;
  bool bf16;
  int64_t ld, seq, head;
  const void* at(int64_t b, int64_t h, int64_t r) const { return element(base, bf16, b * seq + h * head + r * ld); }
};

// operand()'s packing of B sequences of n rows into H heads.
Heads packed_heads(const float* p, bool bf16, int H, int n, int dh) {
  return {p, bf16, dh, (int64_t)H * n * dh, (int64_t)n * dh};
}

// bfloat16 bits in place: B sequences of n rows, ld apart, head h in columns [h * dh, (h + 1) * dh).
// Measured on a 2-core Zen 4, one thread, 6 heads of 128 x 64 at once: a product reading q and k
// (or v) so ran 6-16% slower than from packed heads, where packing them was a pass over all three.
Heads heads_in_place(const uint16_t* p, int n, int ld, int dh) { return {p, true, ld, (int64_t)n * ld, dh}; }

// What probs keeps for backward. fp32: the probabilities, with the dropout mask in their sign bits
// (a probability is never negative). bf16: each row's largest score and the inverse of its sum of
// exponentials, from which backward computes the row again (its scores by the same product, then
// probabilities()). Measured on the 2-core Xeon with AMX (per-core memory bandwidth 8-13 GB/s) at
// 8 x 512, a layer's attention, forward + backward: bf16 75 ms keeping the probabilities, 63
// computing them again; fp32 (products 5x slower) 116 and 121.
struct RowStats {
  float max, inv_sum;
};

// A row's statistics take two of the T floats that probs has for it: rows of one key (T = 1) keep
// their probabilities instead, as fp32 does.
inline bool keeps_row_stats(bool bf16, int T) { return bf16 && T >= 2; }

// exponentials(): a row of products q.k, times s, in place as its softmax's exponentials,
// exp(s q.k - max); and its statistics. The probabilities are these times inv_sum: scale_row()
// makes them so in place, and probabilities() makes them again from the products and the
// statistics, the same values. Masked keys get the lowest float, as HF's masked_fill with
// finfo.min, so a row whose keys are all masked becomes uniform exactly as in transformers.
#if defined(__AVX512F__)
// With AVX-512, 16 keys at a time. GCC's vectorized loops (below, without it) end each row's max
// and sum one lane at a time; on a 2-core Zen 4, rows of 128 keys: 0.48 ns a key alone against 0.35
// here, and in bf16 BERT-base inference at 32 x 128 a layer's softmax rows (with their bf16
// weights) 2.6 -> 2.1 ms of a thread's 8.1 ms of attention.

// Keys [j, j + 16) of a row (the lanes of k), times s; masked keys, and lanes outside k, the lowest float.
inline __m512 masked16(const float* row, const int32_t* mask, __m512 s, __mmask16 k) {
  const __m512i keys = _mm512_maskz_loadu_epi32(k, mask);
  const __mmask16 keep = _mm512_mask_test_epi32_mask(k, keys, keys);
  return _mm512_mask_mul_ps(_mm512_set1_ps(-FLT_MAX), keep, _mm512_maskz_loadu_ps(k, row), s);
}

RowStats exponentials(float* row, const int32_t* mask, int T, float s) {
  const __m512 vs = _mm512_set1_ps(s);
  __m512 mx = _mm512_set1_ps(-FLT_MAX);
  for (int j = 0; j < T; j += 16) {
    const __mmask16 k = lanes16(T - j);
    const __m512 x = masked16(row + j, mask + j, vs, k);
    _mm512_mask_storeu_ps(row + j, k, x);
    mx = _mm512_max_ps(mx, x);
  }
  const float m = _mm512_reduce_max_ps(mx);
  const __m512 vm = _mm512_set1_ps(m);
  __m512 sum = _mm512_setzero_ps();
  for (int j = 0; j < T; j += 16) {
    const __mmask16 k = lanes16(T - j);
    const __m512 e = fast_exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, row + j), vm));
    _mm512_mask_storeu_ps(row + j, k, e);
    sum = _mm512_mask_add_ps(sum, k, sum, e);
  }
  return {m, 1.0f / _mm512_reduce_add_ps(sum)};
}

void probabilities(float* row, const int32_t* mask, int T, float s, RowStats st) {
  const __m512 vs = _mm512_set1_ps(s), vm = _mm512_set1_ps(st.max), inv = _mm512_set1_ps(st.inv_sum);
  for (int j = 0; j < T; j += 16) {
    const __mmask16 k = lanes16(T - j);
    const __m512 e = fast_exp16(_mm512_sub_ps(masked16(row + j, mask + j, vs, k), vm));
    _mm512_mask_storeu_ps(row + j, k, _mm512_mul_ps(e, inv));
  }
}
#else
inline float masked(float s, int32_t keep) { return keep ? s : -FLT_MAX; }

RowStats exponentials(float* row, const int32_t* mask, int T, float s) {
  float mx = -FLT_MAX;
#pragma omp simd reduction(max : mx)
  for (int j = 0; j < T; j++) mx = std::max(mx, masked(row[j] * s, mask[j]));
  float sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int j = 0; j < T; j++) {
    row[j] = fast_exp(masked(row[j] * s, mask[j]) - mx);
    sum += row[j];
  }
  return {mx, 1.0f / sum};
}

void probabilities(float* row, const int32_t* mask, int T, float s, RowStats st) {
  const float mx = st.max, inv = st.inv_sum;
#pragma omp simd
  for (int j = 0; j < T; j++) row[j] = fast_exp(masked(row[j] * s, mask[j]) - mx) * inv;
}
#endif

void scale_row(float* row, int T, float s) {
#pragma omp simd
  for (int j = 0; j < T; j++) row[j] *= s;
}

// Backward's probabilities carry the dropout mask in their sign bits, set by weights_row (in
// forward where they are kept, else in backward as it draws the mask again). These read it back.
inline bool dropped(float kept) { return __builtin_bit_cast(int32_t, kept) < 0; }
inline float probability(float kept) { return std::fabs(kept); }

// One row of attention weights from the softmax row norm * P: dropped out (a threshold over 0) with
// the row's dropout numbers from `base`, into fp32 or bf16 bits; with `mark` (norm 1), P's dropped
// entries get their sign bit. (The loops see plain values only: read through a closure they keep
// GCC from vectorizing.)
template <typename Out>
void weights_row(float* P, float norm, Out* d, int T, const Dropout& dropout, uint64_t base, bool mark) {
  if (dropout.threshold == 0) {
#pragma omp simd
    for (int j = 0; j < T; j++) put(d[j], P[j] * norm);
    return;
  }
  const auto row = [P, d, mark, norm, t = dropout.threshold, s = dropout.inv_keep](int64_t c0, int64_t c1,
                                                                                const dropout_lane* u) {
    const uint32_t threshold = t;
    const float inv_keep = s, n = norm;
    if (mark) {
#pragma omp simd
      for (int64_t j = c0; j < c1; j++) {
        const bool drop = u[j - c0] < threshold;
        put(d[j], drop ? 0.0f : P[j] * inv_keep);
        P[j] = drop ? -P[j] : P[j];
      }
      return;
    }
#pragma omp simd
    for (int64_t j = c0; j < c1; j++) put(d[j], P[j] * n * (u[j - c0] < threshold ? 0.0f : inv_keep));
  };
  for_dropout_numbers(dropout, base, T, row);
}

// The weights again, in backward, from kept probabilities.
template <typename Out>
void kept_weights_row(const float* kept, Out* d, int T, float inv_keep) {
#pragma omp simd
  for (int j = 0; j < T; j++) put(d[j], dropped(kept[j]) ? 0.0f : kept[j] * inv_keep);
}

// One row of the scores' gradient from the weights' gradient g (in place allowed, or into bf16
// bits): g' = g after the kept dropout mask, dS = scale * P * (g' - sum(g' * P)).
template <typename Out>
void scores_grad_row(const float* kept, float* g, Out* d, int T, float scale, float inv_keep) {
  float dot = 0;
#pragma omp simd reduction(+ : dot)
  for (int j = 0; j < T; j++) {
    g[j] = dropped(kept[j]) ? 0.0f : g[j] * inv_keep;
    dot += g[j] * probability(kept[j]);
  }
#pragma omp simd
  for (int j = 0; j < T; j++) put(d[j], scale * probability(kept[j]) * (g[j] - dot));
}

}  // namespace

void attention_forward(const float* q, int ldq, const float* k, const float* v, int ldkv, const int32_t* mask,
                       float* probs, float* ctx, int B, int Tq, int T, int D, int H, float p, uint64_t seed, bool bf16,
                       bool in16) {
  const int dh = D / H;
  const Blocks blocks(H, Tq, T);
  const float scale = 1.0f / std::sqrt((float)dh);
  // Only fp32 without dropout multiplies v by the probabilities themselves.
  const Dropout dropout = make_dropout(seed, p);
  const bool copies = bf16 || dropout.threshold > 0;
  // What backward reads (above); none in inference.
  float* kept = keeps_row_stats(bf16, T) ? nullptr : probs;
  RowStats* stats = keeps_row_stats(bf16, T) ? reinterpret_cast<RowStats*>(probs) : nullptr;
  // DistilBERT scales q before its product, BERT the scores after (the same for heads of 64): q is
  // packed times the scale; read in place, the scores are scaled.
  const float score_scale = in16 ? scale : 1.0f;
  const uint16_t* q16 = reinterpret_cast<const uint16_t*>(q);
  const Heads Q = in16 ? heads_in_place(q16, Tq, ldq, dh)
                       : packed_heads(operand(q, ldq, B, Tq, H, dh, scale, bf16, q_operand), bf16, H, Tq, dh);
  const Heads K = in16 ? heads_in_place(q16 + (k - q), T, ldkv, dh)
                       : packed_heads(operand(k, ldkv, B, T, H, dh, 1.0f, bf16, k_operand), bf16, H, T, dh);
  const Heads V = in16 ? heads_in_place(q16 + (v - q), T, ldkv, dh)
                       : packed_heads(operand(v, ldkv, B, T, H, dh, 1.0f, bf16, v_operand), bf16, H, T, dh);
  for_blocks(B, blocks, [&](int b, int h0, int n, int r0, int rows) {
    // head: the block's first, as b * H + h; block: the scores of a head in it.
    const int64_t head = (int64_t)b * H + h0, block = (int64_t)rows * T;
    const int32_t* keys = mask + (int64_t)b * T;
    // The heads' scores, contiguous: in probs where fp32 keeps them (a group has every row).
    float* S = kept ? kept + (head * Tq + r0) * T : room(scores, n * block, false);
    float* A = copies ? room(weights, n * block, bf16) : S;
    thread_matmul(false, true, rows, T, dh, Q.at(b, h0, r0), Q.ld, K.at(b, h0, 0), K.ld, 0.0f, S, T, bf16,
                  {n, Q.head, K.head, block});
    for (int64_t i = 0; i < n * rows; i++) {
      float* row = S + i * T;
      const int64_t h = head + i / rows, r = r0 + i % rows;  // (b*H + head, query row)
      const RowStats st = exponentials(row, keys, T, score_scale);
      if (stats) stats[h * Tq + r] = st;
      // The probabilities themselves where they are kept or multiply v; else only the weights.
      const bool in_place = kept || !copies;
      if (in_place) scale_row(row, T, st.inv_sum);
      if (!copies) continue;
      // Element (b,h,r,j) draws ((b*H+h)*T + r)*T + j, whatever Tq is: the [CLS]-only path draws
      // what the full one does.
      const uint64_t base = ((uint64_t)h * T + r) * T;
      typed_at(A, bf16, i * T,
               [&](auto* d) { weights_row(row, in_place ? 1.0f : st.inv_sum, d, T, dropout, base, kept != nullptr); });
    }
    float* C = room(out, n * rows * dh, false);
    thread_matmul(false, false, rows, dh, T, A, T, V.at(b, h0, 0), V.ld, 0.0f, C, dh, bf16,
                  {n, block, V.head, (int64_t)rows * dh});
    const int64_t at = ((int64_t)b * Tq + r0) * D + (int64_t)h0 * dh;
    if (in16)
      put_heads16(C, n, rows, dh, reinterpret_cast<uint16_t*>(ctx) + at, D);
    else
      put_heads(C, n, rows, dh, ctx + at, D, false);
  });
}

void attention_backward(const float* dctx, const float* q, int ldq, const float* k, const float* v, int ldkv,
                        const int32_t* mask, const float* probs, float* dq, float* dk, float* dv, int B, int Tq, int T,
                        int D, int H, float p, uint64_t seed, bool bf16, bool out16, bool in16) {
  const int dh = D / H;
  const Blocks blocks(H, Tq, T);
  const float scale = 1.0f / std::sqrt((float)dh);
  const Dropout dropout = make_dropout(seed, p);
  const bool copies = bf16 || dropout.threshold > 0;
  const float* kept = keeps_row_stats(bf16, T) ? nullptr : probs;
  const RowStats* stats = keeps_row_stats(bf16, T) ? reinterpret_cast<const RowStats*>(probs) : nullptr;
  const float* Gs = operand(dctx, D, B, Tq, H, dh, 1.0f, bf16, g_operand);
  // S = scale q k^T  =>  dq = scale dS' k, dk = dS'^T (scale q), dS' the gradient of q k^T. Where
  // forward's probabilities are kept, or q is read in place, dS = scale dS' is formed (and the
  // scores computed again are scaled); else q is packed times the scale, as forward packed it to
  // compute its scores again, and dq gets the scale as it is put in place.
  const bool q_scaled = !kept && !in16;
  const float ds_scale = q_scaled ? 1.0f : scale, dq_scale = q_scaled ? scale : 1.0f, score_scale = in16 ? scale : 1.0f;
  const uint16_t* q16 = reinterpret_cast<const uint16_t*>(q);
  const Heads Q = in16 ? heads_in_place(q16, Tq, ldq, dh)
                       : packed_heads(operand(q, ldq, B, Tq, H, dh, q_scaled ? scale : 1.0f, bf16, q_operand), bf16, H, Tq, dh);
  const Heads K = in16 ? heads_in_place(q16 + (k - q), T, ldkv, dh)
                       : packed_heads(operand(k, ldkv, B, T, H, dh, 1.0f, bf16, k_operand), bf16, H, T, dh);
  const Heads V = in16 ? heads_in_place(q16 + (v - q), T, ldkv, dh)
                       : packed_heads(operand(v, ldkv, B, T, H, dh, 1.0f, bf16, v_operand), bf16, H, T, dh);
  for_blocks(B, blocks, [&](int b, int h0, int n, int r0, int rows) {
    const int64_t head = (int64_t)b * H + h0, block = (int64_t)rows * T, col = (int64_t)h0 * dh;
    const int32_t* keys = mask + (int64_t)b * T;
    const void *Kb = K.at(b, h0, 0), *Vb = V.at(b, h0, 0), *Qb = Q.at(b, h0, r0);
    const void* G = element(Gs, bf16, (head * Tq + r0) * dh);
    // The packed matrices: a head's query rows of G, its keys of dk and dv.
    const int64_t per_q = (int64_t)Tq * dh, per_k = (int64_t)T * dh;
    // dv and dk sum over a head's blocks of rows: the first overwrites them. Into bf16 (out16) the
    // sums are formed in fp32, the products adding to them, and rounded once after the last block.
    const bool add = r0 > 0, last = r0 + rows >= Tq;
    uint16_t* d16 = reinterpret_cast<uint16_t*>(dq);
    float* C = room(out, n * std::max(rows, T) * dh, false);
    // Forward's probabilities with the dropout mask in their signs, and its weights: kept, or
    // computed again with the mask drawn again.
    const float* P = kept ? kept + (head * Tq + r0) * T : room(scores, n * block, false);
    float* A = copies ? room(weights, n * block, bf16) : const_cast<float*>(P);
    if (kept) {
      if (copies)
        for (int64_t i = 0; i < n * rows; i++)
          typed_at(A, bf16, i * T, [&](auto* d) { kept_weights_row(P + i * T, d, T, dropout.inv_keep); });
    } else {
      float* S = const_cast<float*>(P);
      thread_matmul(false, true, rows, T, dh, Qb, Q.ld, Kb, K.ld, 0.0f, S, T, bf16, {n, Q.head, K.head, block});
      for (int64_t i = 0; i < n * rows; i++) {
        float* row = S + i * T;
        const int64_t h = head + i / rows, r = r0 + i % rows;
        probabilities(row, keys, T, score_scale, stats[h * Tq + r]);
        const uint64_t base = ((uint64_t)h * T + r) * T;
        if (copies) typed_at(A, bf16, i * T, [&](auto* d) { weights_row(row, 1.0f, d, T, dropout, base, true); });
      }
    }
    // ctx = A v  =>  dv = A^T dctx, dA = dctx v^T
    float* Cv = out16 ? room(dv_sum, n * per_k, false) : C;
    thread_matmul(true, false, T, dh, rows, A, T, G, dh, out16 && add ? 1.0f : 0.0f, Cv, dh, bf16, {n, block, per_q, per_k});
    if (!out16)
      put_heads(C, n, T, dh, dv + (int64_t)b * T * ldkv + col, ldkv, add);
    else if (last)
      put_heads16(Cv, n, T, dh, d16 + (dv - dq) + (int64_t)b * T * ldkv + col, ldkv);
    float* dA = room(grads, n * block, false);
    thread_matmul(false, true, rows, T, dh, G, dh, Vb, V.ld, 0.0f, dA, T, bf16, {n, per_q, V.head, block});
    // Dropout's and softmax's backward, row by row. Under bf16 dS goes to the weights' buffer as
    // the next products' operand (the weights are used up).
    float* dS = bf16 ? A : dA;
    for (int64_t i = 0; i < n * rows; i++)
      typed_at(dS, bf16, i * T,
               [&](auto* d) { scores_grad_row(P + i * T, dA + i * T, d, T, ds_scale, dropout.inv_keep); });
    thread_matmul(false, false, rows, dh, T, dS, T, Kb, K.ld, 0.0f, C, dh, bf16, {n, block, K.head, (int64_t)rows * dh});
    if (out16)
      put_heads16(C, n, rows, dh, d16 + ((int64_t)b * Tq + r0) * ldq + col, ldq, dq_scale);
    else
      put_heads(C, n, rows, dh, dq + ((int64_t)b * Tq + r0) * ldq + col, ldq, false, dq_scale);
    float* Ck = out16 ? room(dk_sum, n * per_k, false) : C;
    thread_matmul(true, false, T, dh, rows, dS, T, Qb, Q.ld, out16 && add ? 1.0f : 0.0f, Ck, dh, bf16,
                  {n, block, Q.head, per_k});
    if (!out16)
      put_heads(C, n, T, dh, dk + (int64_t)b * T * ldkv + col, ldkv, add);
    else if (last)
      put_heads16(Ck, n, T, dh, d16 + (dk - dq) + (int64_t)b * T * ldkv + col, ldkv);
  });
}

}  // namespace engine

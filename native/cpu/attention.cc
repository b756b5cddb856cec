// Attention core over batched products (matmul.h). For a chunk of whole sequences, q, k, v (and
// in backward dctx) are packed head by head into contiguous [sequence, head, row, D/H] blocks
// (bfloat16 bits under bf16, as PyTorch's CPU autocast feeds its products; fp32 accumulation),
// one batched product gives every head's scores, the softmax and dropout run row by row on all
// cores, and one batched product per output writes it in place (ctx, dq, dk, dv keep the row
// strides of the fused projections). Measured on a 2-core Xeon with AMX at 8 x 512 tokens, heads
// of 64: an OpenBLAS sgemm per head inside an OpenMP loop ran 155 GFLOP/s; oneDNN's batched
// brgemm runs these shapes at 190-300 (fp32) and 400-1,100 (bf16, AMX).
#include <algorithm>
#include <cfloat>
#include <cmath>

#include "aligned.h"
#include "bf16.h"
#include "dropout.h"
#include "fastmath.h"
#include "kernels.h"
#include "matmul.h"
#include "parallel.h"

namespace engine {

namespace {

// A chunk of heads takes at most this many scores (and at least one head): 4 MiB of fp32, so that
// a chunk's scores stay in the caches between its product, its softmax and the next product (a
// whole batch's went out to memory and back between them, and ran at half the speed).
constexpr int64_t kChunkScores = int64_t(1) << 20;

thread_local AlignedVector<float> packed_q, packed_k, packed_v, packed_g, scores, weights;

// Room for n floats, or (bf16) n bfloat16 values, in one of the scratch buffers above.
float* room(AlignedVector<float>& s, int64_t n, bool bf16) {
  const size_t floats = (size_t)(bf16 ? (n + 1) / 2 : n);
  if (s.size() < floats) s.resize(floats);
  return s.data();
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

// The heads [h0, h0 + nh) of sequences [b0, b0 + nb): x points at row 0 of sequence b0 (rows ld
// apart, R per sequence); head h's block is columns [h * dh, (h + 1) * dh). Packed times s as
// [nb, nh, R, dh]: fp32, or bfloat16 bits with bf16.
float* pack_heads(const float* x, int64_t ld, int R, int h0, int nb, int nh, int dh, float s, bool bf16,
                  AlignedVector<float>& buf) {
  float* out = room(buf, (int64_t)nb * nh * R * dh, bf16);
  // Source row by source row: reading a head's block down the rows, ld apart, ran 2.7x slower.
  parallel_ranges((int64_t)nb * R, [=](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; i++) {
      const int64_t b = i / R, r = i % R;
      for (int h = 0; h < nh; h++) {
        const float* src = x + i * ld + (int64_t)(h0 + h) * dh;
        typed_at(out, bf16, ((b * nh + h) * R + r) * dh, [&](auto* d) { pack_row(src, d, dh, s); });
      }
    }
  });
  return out;
}

// Softmax of one row in place; masked keys get the lowest float first, as HF's masked_fill with
// finfo.min, so a row whose keys are all masked becomes uniform exactly as in transformers.
void masked_softmax_row(float* row, const int32_t* mask, int T) {
  float mx = -FLT_MAX;
#pragma omp simd reduction(max : mx)
  for (int j = 0; j < T; j++) {
    const float s = mask[j] ? row[j] : -FLT_MAX;
    row[j] = s;
    mx = s > mx ? s : mx;
  }
  float sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int j = 0; j < T; j++) {
    row[j] = fast_exp(row[j] - mx);
    sum += row[j];
  }
  const float inv = 1.0f / sum;
#pragma omp simd
  for (int j = 0; j < T; j++) row[j] *= inv;
}

// What probs keeps: the softmax before dropout, with the sign bit set on the entries that dropout
// drops (a probability is never negative), so that backward reads the mask instead of drawing it
// again. These read it back.
inline bool dropped(float kept) { return __builtin_bit_cast(int32_t, kept) < 0; }
inline float probability(float kept) { return std::fabs(kept); }

// One row of attention weights from the softmax row P: dropped out (a threshold over 0) with the row's
// dropout numbers from `base`, into fp32 or bf16 bits; with `mark`, P's dropped entries get their
// sign bit. (The loops see plain values only: read through a closure they keep GCC from vectorizing.)
template <typename Out>
void weights_row(float* P, Out* d, int T, const Dropout& dropout, uint64_t base, bool mark) {
  if (dropout.threshold == 0) {
#pragma omp simd
    for (int j = 0; j < T; j++) put(d[j], P[j]);
    return;
  }
  const auto row = [P, d, mark, t = dropout.threshold, s = dropout.inv_keep](int64_t c0, int64_t c1,
                                                                          const dropout_lane* u) {
    const uint32_t threshold = t;
    const float inv_keep = s;
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
    for (int64_t j = c0; j < c1; j++) put(d[j], P[j] * (u[j - c0] < threshold ? 0.0f : inv_keep));
  };
  for_dropout_numbers(dropout, base, T, row);
}

// The weights again, in backward, from what forward kept.
template <typename Out>
void kept_weights_row(const float* kept, Out* d, int T, float inv_keep) {
#pragma omp simd
  for (int j = 0; j < T; j++) put(d[j], dropped(kept[j]) ? 0.0f : kept[j] * inv_keep);
}

// A chunk of the attention: heads [h0, h0 + nh) of sequences [b0, b0 + nb), either whole sequences
// (nh = H) or heads of one sequence (nb = 1), so that its score rows are contiguous in probs.
struct Chunk {
  int b0, nb, h0, nh;
  int64_t rows(int Tq) const { return (int64_t)nb * nh * Tq; }
  // Where score row i of the chunk lives in probs [B, H, Tq, T] (in rows).
  int64_t first_row(int H, int Tq) const { return ((int64_t)b0 * H + h0) * Tq; }
  // The sequence of row i, and the dropout number of its first key: element (b,h,r,j) draws
  // ((b*H+h)*T + r)*T + j, whatever Tq is, so the [CLS]-only path draws what the full one does.
  int64_t sequence(int64_t i, int Tq) const { return b0 + i / ((int64_t)nh * Tq); }
  uint64_t dropout_base(int64_t i, int H, int Tq, int T) const {
    const int64_t h = h0 + i / Tq % nh, r = i % Tq;
    return ((uint64_t)sequence(i, Tq) * H + h) * T * T + (uint64_t)r * T;
  }
};

// The chunks of a B x H attention with Tq x T scores per head, in order.
template <typename Body>
void for_chunks(int B, int H, int Tq, int T, Body body) {
  const int64_t per_head = std::max<int64_t>(1, (int64_t)Tq * T);
  if (per_head * H <= kChunkScores) {
    const int nb = (int)std::min<int64_t>(B, kChunkScores / (per_head * H));
    for (int b0 = 0; b0 < B; b0 += nb) body(Chunk{b0, std::min(nb, B - b0), 0, H});
  } else {
    const int nh = (int)std::max<int64_t>(1, kChunkScores / per_head);
    for (int b = 0; b < B; b++)
      for (int h0 = 0; h0 < H; h0 += nh) body(Chunk{b, 1, h0, std::min(nh, H - h0)});
  }
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
                       float* probs, float* ctx, int B, int Tq, int T, int D, int H, float p, uint64_t seed, bool bf16) {
  const int dh = D / H;
  const float scale = 1.0f / std::sqrt((float)dh);
  // Only fp32 without dropout multiplies v by the probabilities themselves.
  const Dropout dropout = make_dropout(seed, p);
  const bool copies = bf16 || dropout.threshold > 0;
  for_chunks(B, H, Tq, T, [&](const Chunk& c) {
    const int64_t rows = c.rows(Tq), n = rows * T;
    // DistilBERT scales q before its product (BERT the scores after: the same for heads of 64).
    const float* Q = pack_heads(q + (int64_t)c.b0 * Tq * ldq, ldq, Tq, c.h0, c.nb, c.nh, dh, scale, bf16, packed_q);
    const float* K = pack_heads(k + (int64_t)c.b0 * T * ldkv, ldkv, T, c.h0, c.nb, c.nh, dh, 1.0f, bf16, packed_k);
    const float* V = pack_heads(v + (int64_t)c.b0 * T * ldkv, ldkv, T, c.h0, c.nb, c.nh, dh, 1.0f, bf16, packed_v);
    // Inference keeps no probabilities: the chunk's scores live in scratch.
    float* S = probs ? probs + c.first_row(H, Tq) * T : room(scores, n, false);
    const int64_t head = (int64_t)Tq * T;
    batched_matmul(c.nb, c.nh, false, true, Tq, T, dh, Q, K, S, c.nh * head, head, T, bf16);
    float* A = copies ? room(weights, n, bf16) : S;
    parallel_ranges(rows, [=](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; i++) {
        float* row = S + i * T;
        masked_softmax_row(row, mask + c.sequence(i, Tq) * T, T);
        if (!copies) continue;
        const uint64_t base = c.dropout_base(i, H, Tq, T);
        typed_at(A, bf16, i * T, [&](auto* d) { weights_row(row, d, T, dropout, base, probs != nullptr); });
      }
    });
    batched_matmul(c.nb, c.nh, false, false, Tq, dh, T, A, V, ctx + (int64_t)c.b0 * Tq * D + c.h0 * dh,
                   (int64_t)Tq * D, dh, D, bf16);
  });
}

void attention_backward(const float* dctx, const float* q, int ldq, const float* k, const float* v, int ldkv,
                        const float* probs, float* dq, float* dk, float* dv, int B, int Tq, int T, int D, int H, float p,
                        bool bf16) {
  const int dh = D / H;
  const float scale = 1.0f / std::sqrt((float)dh);
  const Dropout rate = make_dropout(0, p);  // its scale (the mask: forward's marks in probs)
  const float inv_keep = rate.inv_keep;
  const bool copies = bf16 || rate.threshold > 0;
  for_chunks(B, H, Tq, T, [&](const Chunk& c) {
    const int64_t rows = c.rows(Tq), n = rows * T, head = (int64_t)Tq * T;
    const float* P = probs + c.first_row(H, Tq) * T;
    const float* G = pack_heads(dctx + (int64_t)c.b0 * Tq * D, D, Tq, c.h0, c.nb, c.nh, dh, 1.0f, bf16, packed_g);
    const float* Q = pack_heads(q + (int64_t)c.b0 * Tq * ldq, ldq, Tq, c.h0, c.nb, c.nh, dh, 1.0f, bf16, packed_q);
    const float* K = pack_heads(k + (int64_t)c.b0 * T * ldkv, ldkv, T, c.h0, c.nb, c.nh, dh, 1.0f, bf16, packed_k);
    const float* V = pack_heads(v + (int64_t)c.b0 * T * ldkv, ldkv, T, c.h0, c.nb, c.nh, dh, 1.0f, bf16, packed_v);
    // ctx = A v  =>  dv = A^T dctx, dA = dctx v^T
    float* A = copies ? room(weights, n, bf16) : const_cast<float*>(P);
    if (copies)
      parallel_ranges(rows, [=](int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < hi; i++)
          typed_at(A, bf16, i * T, [&](auto* d) { kept_weights_row(P + i * T, d, T, inv_keep); });
      });
    const int64_t kv_off = (int64_t)c.b0 * T * ldkv + c.h0 * dh, q_off = (int64_t)c.b0 * Tq * ldq + c.h0 * dh;
    batched_matmul(c.nb, c.nh, true, false, T, dh, Tq, A, G, dv + kv_off, (int64_t)T * ldkv, dh, ldkv, bf16);
    float* dA = room(scores, n, false);
    batched_matmul(c.nb, c.nh, false, true, Tq, T, dh, G, V, dA, c.nh * head, head, T, bf16);
    // Dropout's and softmax's backward, row by row, with the scores' scale folded in. Under bf16
    // dS goes to the weights' buffer as the next products' operand (the weights are used up).
    float* dS = bf16 ? A : dA;
    parallel_ranges(rows, [=](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; i++)
        typed_at(dS, bf16, i * T, [&](auto* d) { scores_grad_row(P + i * T, dA + i * T, d, T, scale, inv_keep); });
    });
    // S = scale q k^T  =>  dq = dS k, dk = dS^T q (scale inside dS)
    batched_matmul(c.nb, c.nh, false, false, Tq, dh, T, dS, K, dq + q_off, (int64_t)Tq * ldq, dh, ldq, bf16);
    batched_matmul(c.nb, c.nh, true, false, T, dh, Tq, dS, Q, dk + kv_off, (int64_t)T * ldkv, dh, ldkv, bf16);
  });
}

}  // namespace engine

// Attention core, parallel over (batch, head). Inside the parallel region OpenBLAS (OpenMP
// build) runs each small sgemm on the calling thread, so every core works on its own heads.
#include "blas.h"

#include <cfloat>
#include <cmath>
#include <vector>

#include "fastmath.h"
#include "kernels.h"
#include "../rng.h"

namespace engine {

namespace {

// Softmax of one row in place; masked keys get the lowest float first, as HF's masked_fill with
// finfo.min, so a row whose keys are all masked becomes uniform exactly as in transformers.
void masked_softmax_row(float* row, const int32_t* mask, int T) {
  float mx = -FLT_MAX;
  for (int j = 0; j < T; j++) {
    row[j] = mask[j] ? row[j] : -FLT_MAX;
    mx = row[j] > mx ? row[j] : mx;
  }
  float s = 0;
#pragma omp simd reduction(+ : s)
  for (int j = 0; j < T; j++) {
    row[j] = fast_exp(row[j] - mx);
    s += row[j];
  }
  const float inv = 1.0f / s;
  for (int j = 0; j < T; j++) row[j] *= inv;
}

// Applies the attention-dropout mask of head (b, h) to its Tq x T weights. Element (i, j) draws
// number base + i*T + j, whatever Tq is, so the [CLS]-only path draws what the full one does.
void apply_dropout(const float* src, float* dst, int Tq, int T, float p, uint64_t seed, uint64_t base) {
  const float inv_keep = 1.0f / (1.0f - p);
#pragma omp simd
  for (int64_t e = 0; e < (int64_t)Tq * T; e++) dst[e] = src[e] * dropout_scale(seed, base + e, p, inv_keep);
}

thread_local std::vector<float> scratch_a, scratch_b, scratch_p;

float* scratch(std::vector<float>& s, size_t n) {
  if (s.size() < n) s.resize(n);
  return s.data();
}

// The attention weights that multiply v: the probabilities themselves, or (training with
// attention dropout) their dropped-out copy in this thread's scratch.
const float* weights_after_dropout(const float* P, int Tq, int T, float p, uint64_t seed, uint64_t base) {
  if (p <= 0) return P;
  float* Pd = scratch(scratch_a, (size_t)Tq * T);
  apply_dropout(P, Pd, Tq, T, p, seed, base);
  return Pd;
}

// Where head h of sequence b lives: its q / k,v / ctx column blocks, its probabilities, and the
// first dropout number of its T x T block.
struct Head {
  int64_t q, kv, ctx, probs;
  uint64_t dropout_base;
  Head(int b, int h, int Tq, int T, int D, int H, int ldq, int ldkv) {
    const int64_t col = (int64_t)h * (D / H);
    q = (int64_t)b * Tq * ldq + col;
    kv = (int64_t)b * T * ldkv + col;
    ctx = (int64_t)b * Tq * D + col;
    probs = ((int64_t)b * H + h) * Tq * T;
    dropout_base = ((uint64_t)b * H + h) * T * T;
  }
};

}  // namespace

void attention_forward(const float* q, int ldq, const float* k, const float* v, int ldkv, const int32_t* mask,
                       float* probs, float* ctx, int B, int Tq, int T, int D, int H, float p, uint64_t seed) {
  const int dh = D / H;
  const float scale = 1.0f / std::sqrt((float)dh);
#pragma omp parallel for collapse(2) schedule(static)
  for (int b = 0; b < B; b++) {
    for (int h = 0; h < H; h++) {
      const Head o(b, h, Tq, T, D, H, ldq, ldkv);
      // Inference keeps no probabilities: each thread reuses one head's worth of scratch.
      float* P = probs ? probs + o.probs : scratch(scratch_p, (size_t)Tq * T);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Tq, T, dh, scale, q + o.q, ldq, k + o.kv, ldkv, 0.0f, P, T);
      for (int i = 0; i < Tq; i++) masked_softmax_row(P + (int64_t)i * T, mask + (int64_t)b * T, T);
      const float* A = weights_after_dropout(P, Tq, T, p, seed, o.dropout_base);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Tq, dh, T, 1.0f, A, T, v + o.kv, ldkv, 0.0f, ctx + o.ctx, D);
    }
  }
}

void attention_backward(const float* dctx, const float* q, int ldq, const float* k, const float* v, int ldkv,
                        const float* probs, float* dq, float* dk, float* dv, int B, int Tq, int T, int D, int H, float p,
                        uint64_t seed) {
  const int dh = D / H;
  const float scale = 1.0f / std::sqrt((float)dh);
#pragma omp parallel for collapse(2) schedule(static)
  for (int b = 0; b < B; b++) {
    for (int h = 0; h < H; h++) {
      const Head o(b, h, Tq, T, D, H, ldq, ldkv);
      const float* P = probs + o.probs;
      float* dA = scratch(scratch_b, (size_t)Tq * T);
      const float* A = weights_after_dropout(P, Tq, T, p, seed, o.dropout_base);
      // ctx = A v  =>  dv = A^T dctx, dA = dctx v^T
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, dh, Tq, 1.0f, A, T, dctx + o.ctx, D, 0.0f, dv + o.kv, ldkv);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Tq, T, dh, 1.0f, dctx + o.ctx, D, v + o.kv, ldkv, 0.0f, dA, T);
      if (p > 0) apply_dropout(dA, dA, Tq, T, p, seed, o.dropout_base);
      // Softmax backward, row by row: dS = P * (dA - sum(dA * P)).
      for (int i = 0; i < Tq; i++) {
        float* g = dA + (int64_t)i * T;
        const float* pr = P + (int64_t)i * T;
        float dot = 0;
#pragma omp simd reduction(+ : dot)
        for (int j = 0; j < T; j++) dot += g[j] * pr[j];
        for (int j = 0; j < T; j++) g[j] = pr[j] * (g[j] - dot);
      }
      // S = scale q k^T  =>  dq = scale dS k, dk = scale dS^T q
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Tq, dh, T, scale, dA, T, k + o.kv, ldkv, 0.0f, dq + o.q, ldq);
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, dh, Tq, scale, dA, T, q + o.q, ldq, 0.0f, dk + o.kv, ldkv);
    }
  }
}

}  // namespace engine

// Attention core, parallel over (batch, head). Inside the parallel region OpenBLAS (OpenMP
// build) runs each small sgemm on the calling thread, so every core works on its own heads.
#include <cblas.h>

#include <cfloat>
#include <cmath>
#include <vector>

#include "fastmath.h"
#include "kernels.h"
#include "rng.h"

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

thread_local std::vector<float> scratch_a, scratch_b;

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

}  // namespace

void attention_forward(const float* q, int ldq, const float* k, const float* v, int ldkv, const int32_t* mask,
                       float* probs, float* ctx, int B, int Tq, int T, int D, int H, float p, uint64_t seed) {
  const int dh = D / H;
  const float scale = 1.0f / std::sqrt((float)dh);
#pragma omp parallel for collapse(2) schedule(static)
  for (int b = 0; b < B; b++) {
    for (int h = 0; h < H; h++) {
      const int64_t qoff = (int64_t)b * Tq * ldq + (int64_t)h * dh, koff = (int64_t)b * T * ldkv + (int64_t)h * dh;
      const int64_t coff = (int64_t)b * Tq * D + (int64_t)h * dh;
      float* P = probs + ((int64_t)b * H + h) * Tq * T;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Tq, T, dh, scale, q + qoff, ldq, k + koff, ldkv, 0.0f, P, T);
      for (int i = 0; i < Tq; i++) masked_softmax_row(P + (int64_t)i * T, mask + (int64_t)b * T, T);
      const float* A = weights_after_dropout(P, Tq, T, p, seed, ((uint64_t)b * H + h) * T * T);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Tq, dh, T, 1.0f, A, T, v + koff, ldkv, 0.0f, ctx + coff, D);
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
      const int64_t qoff = (int64_t)b * Tq * ldq + (int64_t)h * dh, koff = (int64_t)b * T * ldkv + (int64_t)h * dh;
      const int64_t coff = (int64_t)b * Tq * D + (int64_t)h * dh;
      const uint64_t base = ((uint64_t)b * H + h) * T * T;
      const float* P = probs + ((int64_t)b * H + h) * Tq * T;
      float* dA = scratch(scratch_b, (size_t)Tq * T);
      const float* A = weights_after_dropout(P, Tq, T, p, seed, base);
      // ctx = A v  =>  dv = A^T dctx, dA = dctx v^T
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, dh, Tq, 1.0f, A, T, dctx + coff, D, 0.0f, dv + koff, ldkv);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Tq, T, dh, 1.0f, dctx + coff, D, v + koff, ldkv, 0.0f, dA, T);
      if (p > 0) apply_dropout(dA, dA, Tq, T, p, seed, base);
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
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Tq, dh, T, scale, dA, T, k + koff, ldkv, 0.0f, dq + qoff, ldq);
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, dh, Tq, scale, dA, T, q + qoff, ldq, 0.0f, dk + koff, ldkv);
    }
  }
}

}  // namespace engine

#include <omp.h>

#include <cmath>
#include <vector>

#include "kernels.h"

namespace engine {

void layernorm_forward(const float* x, const float* gamma, const float* beta, float* out, float* mean, float* rstd,
                       int N, int D, float eps, const float* r, float* sum) {
#pragma omp parallel for schedule(static)
  for (int i = 0; i < N; i++) {
    const float* xi = x + (int64_t)i * D;
    if (r) {  // the residual sum, row by row: the norm's passes below read it from the core's cache
      float* si = sum + (int64_t)i * D;
      const float* ri = r + (int64_t)i * D;
#pragma omp simd
      for (int d = 0; d < D; d++) si[d] = xi[d] + ri[d];
      xi = si;
    }
    // The sums in double, reduced in vector lanes (omp simd): exact enough, and 3x faster than in order.
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (int d = 0; d < D; d++) s += xi[d];
    const double mu = s / D;
    double ss = 0;
#pragma omp simd reduction(+ : ss)
    for (int d = 0; d < D; d++) {
      const double c = xi[d] - mu;
      ss += c * c;
    }
    const double r = 1.0 / std::sqrt(ss / D + eps);  // biased variance, as torch.nn.LayerNorm
    float* oi = out + (int64_t)i * D;
    const float muf = (float)mu, rf = (float)r;
    for (int d = 0; d < D; d++) oi[d] = (xi[d] - muf) * rf * gamma[d] + beta[d];
    mean[i] = muf;
    rstd[i] = rf;
  }
}

void layernorm_backward(const float* dout, const float* x, const float* gamma, const float* mean, const float* rstd,
                        float* dx, float* dgamma, float* dbeta, int N, int D) {
  const int nt = omp_get_max_threads();
  // Per-thread partial sums over fixed row blocks, added in thread order: deterministic.
  std::vector<double> part((size_t)nt * 2 * D, 0.0);
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num();
    const int lo = (int)((int64_t)N * t / nt), hi = (int)((int64_t)N * (t + 1) / nt);
    double* pg = part.data() + (size_t)t * 2 * D;
    double* pb = pg + D;
    for (int i = lo; i < hi; i++) {
      const float* xi = x + (int64_t)i * D;
      const float* gi = dout + (int64_t)i * D;
      const float mu = mean[i], r = rstd[i];
      double sum_dg = 0, sum_dgx = 0;
#pragma omp simd reduction(+ : sum_dg, sum_dgx)
      for (int d = 0; d < D; d++) {
        const float xhat = (xi[d] - mu) * r;
        const float dg = gi[d] * gamma[d];
        sum_dg += dg;
        sum_dgx += dg * xhat;
        pg[d] += gi[d] * xhat;
        pb[d] += gi[d];
      }
      const float m1 = (float)(sum_dg / D), m2 = (float)(sum_dgx / D);
      float* dxi = dx + (int64_t)i * D;
      for (int d = 0; d < D; d++) {
        const float xhat = (xi[d] - mu) * r;
        dxi[d] = r * (gi[d] * gamma[d] - m1 - xhat * m2);
      }
    }
  }
  if (!dgamma) return;
  for (int t = 0; t < nt; t++) {
    const double* pg = part.data() + (size_t)t * 2 * D;
    for (int d = 0; d < D; d++) {
      dgamma[d] += (float)pg[d];
      dbeta[d] += (float)pg[D + d];
    }
  }
}

}  // namespace engine

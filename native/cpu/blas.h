// Matrix products of the CPU backend: OpenBLAS's CBLAS, or (built with ENGINE_NO_CBLAS, where no
// BLAS library is installed, as on the GPU check machines) plain loops with the same interface.
// The fallback exists so that the CPU backend can serve as the reference of the per-kernel suite
// anywhere; it is far slower and never used by the npm build.
#pragma once
#ifndef ENGINE_NO_CBLAS
#include <cblas.h>
#else
#include <cstdint>

enum CBLAS_ORDER { CblasRowMajor = 101 };
enum CBLAS_TRANSPOSE { CblasNoTrans = 111, CblasTrans = 112 };

inline void cblas_sgemm(CBLAS_ORDER, CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K, float alpha,
                        const float* A, int lda, const float* B, int ldb, float beta, float* C, int ldc) {
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) {
      double s = 0;
      for (int k = 0; k < K; k++) {
        const float a = ta == CblasNoTrans ? A[(int64_t)i * lda + k] : A[(int64_t)k * lda + i];
        const float b = tb == CblasNoTrans ? B[(int64_t)k * ldb + j] : B[(int64_t)j * ldb + k];
        s += (double)a * b;
      }
      float* c = C + (int64_t)i * ldc + j;
      *c = (float)(alpha * s + (beta != 0.0f ? beta * *c : 0.0f));
    }
}

inline void cblas_sgemv(CBLAS_ORDER, CBLAS_TRANSPOSE ta, int M, int N, float alpha, const float* A, int lda,
                        const float* x, int, float beta, float* y, int) {
  const int rows = ta == CblasNoTrans ? M : N, inner = ta == CblasNoTrans ? N : M;
  for (int i = 0; i < rows; i++) {
    double s = 0;
    for (int k = 0; k < inner; k++) s += (double)(ta == CblasNoTrans ? A[(int64_t)i * lda + k] : A[(int64_t)k * lda + i]) * x[k];
    y[i] = (float)(alpha * s + (beta != 0.0f ? beta * y[i] : 0.0f));
  }
}

inline void openblas_set_num_threads(int) {}
#endif

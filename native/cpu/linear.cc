// Linear layers through OpenBLAS sgemm. The OpenMP build of OpenBLAS shares our thread pool,
// so kernels and matrix products never oversubscribe the cores.
#include "blas.h"
#include <omp.h>

#include <vector>

#include "kernels.h"

namespace engine {

void set_threads(int n) {
  omp_set_num_threads(n);
  openblas_set_num_threads(n);
}

int get_threads() { return omp_get_max_threads(); }

void linear_forward(const float* x, const float* W, const float* b, float* y, int N, int in, int out) {
  if (b) {
#pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++)
      for (int j = 0; j < out; j++) y[(int64_t)i * out + j] = b[j];
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, out, in, 1.0f, x, in, W, in, b ? 1.0f : 0.0f, y, out);
}

void linear_backward(const float* dy, const float* x, const float* W, float* dx, float dx_beta, float* dW, float* db,
                     int N, int in, int out) {
  if (dx) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, in, out, 1.0f, dy, out, W, in, dx_beta, dx, in);
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, N, 1.0f, dy, out, x, in, 1.0f, dW, in);
  if (db) {
    // Column sums of dy as dy^T * ones: sgemv reads dy row by row, where a loop per column
    // would stride through memory.
    static thread_local std::vector<float> ones;
    if ((int)ones.size() < N) ones.assign(N, 1.0f);
    cblas_sgemv(CblasRowMajor, CblasTrans, N, out, 1.0f, dy, out, ones.data(), 1, 1.0f, db, 1);
  }
}

}  // namespace engine

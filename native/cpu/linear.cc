// Linear layers through matmul() (oneDNN, or OpenBLAS). Both run on the OpenMP thread pool our
// kernels use (OpenBLAS's OpenMP build, oneDNN's OMP runtime), so nothing oversubscribes the cores.
#include "blas.h"
#include <omp.h>

#include <vector>

#include "kernels.h"
#include "matmul.h"

namespace engine {

void set_threads(int n, bool this_thread) {
  omp_set_num_threads(n);
  if (!this_thread) openblas_set_num_threads(n);
}

int get_threads() { return omp_get_max_threads(); }

void linear_forward(const float* x, const float* W, const float* b, float* y, int N, int in, int out, bool bf16,
                    int act) {
  matmul(false, true, N, out, in, x, in, W, in, b, 0.0f, y, out, bf16, true, act);
}

void linear_backward(const float* dy, const float* x, const float* W, float* dx, float dx_beta, float* dW, float* db,
                     int N, int in, int out, bool bf16) {
  if (bf16) return linear_gradients_bf16(dy, x, W, dx, dx_beta, dW, db, N, in, out);
  const BlasGradients blas = N > 0 ? blas_gradient_products(in, out) : BlasGradients{false, false};
  if (dx && blas.dx)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, in, out, 1.0f, dy, out, W, in, dx_beta, dx, in);
  else if (dx)
    matmul(false, false, N, in, out, dy, out, W, in, nullptr, dx_beta, dx, in, false, true);
  if (dW && blas.dw)
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, N, 1.0f, dy, out, x, in, 1.0f, dW, in);
  else if (dW)
    matmul(true, false, out, in, N, dy, out, x, in, nullptr, 1.0f, dW, in);
  if (db) {
    // Column sums of dy as dy^T * ones: sgemv reads dy row by row, where a loop per column
    // would stride through memory.
    static thread_local std::vector<float> ones;
    if ((int)ones.size() < N) ones.assign(N, 1.0f);
    cblas_sgemv(CblasRowMajor, CblasTrans, N, out, 1.0f, dy, out, ones.data(), 1, 1.0f, db, 1);
  }
}

}  // namespace engine

// The linear layers' matrix products: C[M,N] = op(A) op(B) (+ bias[N]) (+ beta * C), row-major,
// op = transpose where asked. Built with ENGINE_WITH_ONEDNN they run as oneDNN matmul
// primitives (created once per shape, then reused), which dispatch on the CPU's features
// (AVX2, AVX-512, AMX) whatever OPENBLAS_CORETYPE says; otherwise through OpenBLAS's sgemm
// (or blas.h's reference loops).
#pragma once

namespace engine {

void matmul(bool trans_a, bool trans_b, int M, int N, int K, const float* A, int lda, const float* B, int ldb,
            const float* bias, float beta, float* C, int ldc);

// Which library runs matmul(): "onednn" or "openblas" (or "reference").
const char* matmul_library();

}  // namespace engine

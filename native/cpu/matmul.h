// The linear layers' matrix products: C[M,N] = op(A) op(B) (+ bias[N]) (+ beta * C), row-major,
// op = transpose where asked. Built with ENGINE_WITH_ONEDNN they run as oneDNN matmul
// primitives (created once per shape, then reused), which dispatch on the CPU's features
// (AVX2, AVX-512, AMX) whatever OPENBLAS_CORETYPE says; otherwise through OpenBLAS's sgemm
// (or blas.h's reference loops). `bf16`: the operands are rounded to bfloat16 (round to nearest
// even) and the products accumulate in fp32, into fp32 C: what PyTorch's CPU autocast does for a
// linear layer. Needs the oneDNN build and a CPU with native bf16 (bf16_supported()).
#pragma once
#include <cstdint>
#include <string>

namespace engine {

// b_is_weight: B is a parameter, unchanged until the next weights_changed(): its copies are kept
// and reused (a bf16 copy, and from its second read on, a copy in oneDNN's blocked layout).
// act >= 0: the Activation (backend.h) applied to C after the bias (needs beta 0).
void matmul(bool trans_a, bool trans_b, int M, int N, int K, const float* A, int lda, const float* B, int ldb,
            const float* bias, float beta, float* C, int ldc, bool bf16 = false, bool b_is_weight = false,
            int act = -1);

// y = x W^T + b (x [N, in], W [out, in]) with bfloat16 operands, y written as bfloat16 bits (an
// intermediate that only bf16 products read: attention's q, k and v).
void linear_forward16(const float* x, const float* W, const float* b, uint16_t* y, int N, int in, int out);
// The same with x as bfloat16 bits (attention's ctx) and y in fp32.
void linear_forward_from16(const uint16_t* x, const float* W, const float* b, float* y, int N, int in, int out);

// Inference's FFN with bfloat16 operands: y = act(x W1^T + b1) W2^T + b2 (x [N, D], W1 [F, D],
// W2 [D, F]), the activation kept in h (N x F floats of room) as bfloat16 between the two.
void ffn_forward_bf16(const float* x, const float* W1, const float* b1, const float* W2, const float* b2, float* h,
                      float* y, int N, int D, int F, int act);

// Training's FFN with bfloat16 operands: h = x W1^T + b1, y = act(h) W2^T + b2, with h and the
// activation as bfloat16 (as PyTorch's CPU autocast keeps them), what backward reads, in h's N x F
// floats of room: h's N x F halves, then the activation's (the second product's A operand).
// x [N, D], W1 [F, D], W2 [D, F].
void ffn_train_forward_bf16(const float* x, const float* W1, const float* b1, const float* W2, const float* b2,
                            float* h, float* y, int N, int D, int F, int act);

// Its backward from dy [N, D] and what forward kept in h: dx = d/dx (+ dx_beta dx); dW1, db1, dW2,
// db2 += theirs (null: not wanted); a and dh (N x F floats) scratch. The gradient of h leaves the
// activation's backward as bfloat16 (its column sums, db1, in fp32).
void ffn_backward_bf16(const float* dy, const float* x, const float* h, float* a, const float* W1, const float* W2,
                       float* dh, float* dx, float dx_beta, float* dW1, float* db1, float* dW2, float* db2, int N, int D,
                       int F, int act);

// A linear layer's gradient products with bfloat16 operands: dx = dy W (+ dx_beta dx), dW += dy^T x,
// and db += dy's column sums (in fp32, as dy is converted), dy converted once for all three (any
// output may be null). dy [N, out], x [N, in], W [out, in]. dy16: dy is bfloat16 bits already
// ([N, out] of them in its room), taken as it is; db then sums those. x16: x is bfloat16 bits so.
void linear_gradients_bf16(const float* dy, const float* x, const float* W, float* dx, float dx_beta, float* dW,
                           float* db, int N, int in, int out, bool dy16 = false, bool x16 = false);

// count products of the same shape, matrix i of each operand `stride` elements after matrix i - 1.
struct Batch {
  int count;
  int64_t a, b, c;  // the strides
};

// Products on the calling thread alone, for kernels that give each thread its own blocks of work
// inside their parallel region (attention, a few heads of one sequence at a time): C = op(A) op(B)
// + beta C, row-major with the given strides, op = transpose where asked (A stored [K, M], B
// [N, K]). A and B are fp32 or, with bf16, bfloat16 bits; C fp32. One oneDNN matmul made for one
// thread (AMX or AVX-512 brgemm), or an sgemm per product.
void thread_matmul(bool ta, bool tb, int M, int N, int K, const void* A, int lda, const void* B, int ldb, float beta,
                   float* C, int ldc, bool bf16, Batch batch = {1, 0, 0, 0});

// Parameter values changed somewhere: kept copies of weights are made again on their next use.
void weights_changed();

// Empty when bf16 products run natively here; else why not (one line for the user).
std::string bf16_unsupported_reason();

// Which of a linear layer's fp32 gradient products (dx = dy W, dW += dy^T x; W [out, in]) run
// faster through OpenBLAS's sgemm than through oneDNN (see matmul.cc). Fixed per machine and shape,
// so that a run and its resumption take the same path.
struct BlasGradients {
  bool dx, dw;
};
BlasGradients blas_gradient_products(int in, int out);

}  // namespace engine

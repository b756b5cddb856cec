// The CUDA backend: cuBLAS for every matrix product (cuBLASLt where a linear layer's bias can be
// added in the product's epilogue; attention's per-head products as batched GEMMs over pointer
// arrays), our own kernels for the rest (attention's masked softmax and dropout fused into one
// kernel each way; in bf16 with heads of 64, all of attention in fused kernels of its own,
// attention_bf16_*.cuh). This file is the class and the one translation unit; the kernels live one
// header per op family (common, elementwise, embedding, layernorm, products, softmax, loss_adam),
// as native/cpu/ keeps one file per op. Its contracts are the Backend methods' (../backend.h); the per-kernel suite
// checks it against the same references as the CPU backend. Dropout draws from the same
// counter-based generator (../rng.h), so masks are the CPU's bit for bit; every reduction runs in a
// fixed order (no float atomics), so a step is deterministic and a resumed run repeats an
// uninterrupted one (engine_check resume).
//
// Precision: "fp32" (cuBLAS's plain fp32), "tf32" (tensor cores with tf32 operands) or "bf16"
// (operands rounded to bf16 once before the products that read them, fp32 accumulation and output,
// as PyTorch's autocast does; cuBLAS's COMPUTE_32F_FAST_16BF was measured to run tf32 kernels on an
// H200, so the rounding is explicit). Everything outside the matrix products, the weights and the
// optimizer state stay fp32 in every mode.
#include <cub/device/device_radix_sort.cuh>
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cfloat>
#include <cstdint>
#include <map>
#include <numeric>
#include <tuple>
#include <stdexcept>
#include <string>
#include <vector>

#include "../backend.h"
#include "../rng.h"
#include "attention_bf16_backward.cuh"
#include "attention_bf16_forward.cuh"
#include "elementwise.cuh"
#include "embedding.cuh"
#include "layernorm.cuh"
#include "loss_adam.cuh"
#include "products.cuh"
#include "softmax.cuh"

namespace engine {

namespace {

void check(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS) throw std::runtime_error(std::string("cuBLAS error ") + std::to_string((int)s) + " in " + what);
}

cublasOperation_t op(bool trans) { return trans ? CUBLAS_OP_T : CUBLAS_OP_N; }

class CudaBackend final : public Backend {
 public:
  // On GPU `device` (cuda:N; see use_device).
  CudaBackend(const std::string& precision, int device) : precision_(precision) {
    use_device(device);
    check(cublasCreate(&blas_), "cublasCreate");
    if (precision == "fp32") compute_ = CUBLAS_COMPUTE_32F;
    else if (precision == "tf32") compute_ = CUBLAS_COMPUTE_32F_FAST_TF32;
    else if (precision == "bf16") compute_ = CUBLAS_COMPUTE_32F, bf16_ = true;
    else throw std::runtime_error("CUDA: unknown precision '" + precision + "' (fp32, tf32, bf16)");
  }
  ~CudaBackend() override {
    for (auto& [key, plan] : lt_plans_) {
      if (plan.desc) cublasLtMatmulDescDestroy(plan.desc);
      for (cublasLtMatrixLayout_t l : {plan.a, plan.b, plan.d})
        if (l) cublasLtMatrixLayoutDestroy(l);
    }
    if (lt_) cublasLtDestroy(lt_);
    if (lt_workspace_) cudaFree(lt_workspace_);
    for (void* p : {(void*)ptrs_, (void*)ones_, (void*)scratch_a_, (void*)scratch_b_, (void*)partial_, (void*)ints_, sort_})
      if (p) cudaFree(p);
    for (__nv_bfloat16* p : half_)
      if (p) cudaFree(p);
    cublasDestroy(blas_);
  }

  std::string name() const override { return precision_ == "fp32" ? "cuda" : "cuda-" + precision_; }
  bool keeps_probabilities() const override { return !bf16_; }

  void* alloc(size_t bytes) override {
    void* p = nullptr;
    const cudaError_t e = cudaMalloc(&p, std::max<size_t>(bytes, 1));
    if (e != cudaSuccess)
      throw std::runtime_error("CUDA: cannot allocate " + std::to_string(bytes >> 20) + " MiB on the GPU (" +
                               cudaGetErrorString(e) + ")");
    return p;
  }
  void release(void* p) override { cudaFree(p); }
  void upload(void* dst, const void* src, size_t bytes) override {
    check(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice), "upload");
  }
  void download(void* dst, const void* src, size_t bytes) override {
    check(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost), "download");
  }
  void fill_zero(void* p, size_t bytes) override { check(cudaMemset(p, 0, bytes), "fill_zero"); }
  void synchronize() override { check(cudaDeviceSynchronize(), "synchronize"); }

  void linear_forward(const float* x, const float* W, const float* b, float* y, int N, int in, int out) override {
    const void *xs = operand(x, (int64_t)N * in, 0), *Ws = operand(W, (int64_t)out * in, 1);
    if (b && biased_product(xs, Ws, b, y, N, in, out)) return;
    if (b) {  // y = b, then the product added onto it
      bias_rows_kernel<<<blocks_for((int64_t)N * out), kThreads>>>(b, y, N, out);
      LAUNCH_CHECK("bias_rows");
    }
    gemm(false, true, N, out, in, 1.0f, xs, in, Ws, in, b ? 1.0f : 0.0f, y, out);
  }

  void linear_backward(const float* dy, const float* x, const float* W, float* dx, float dx_beta, float* dW, float* db,
                       int N, int in, int out) override {
    const void* g;  // dy as the products read it, rounded once for both (bf16: with db's column sums)
    if (bf16_ && db) {
      __nv_bfloat16* h = half(0, (size_t)N * out);
      const int chunks = (N + kColsumRows - 1) / kColsumRows;
      float* partial = scratch(scratch_a_, cap_a_, (size_t)chunks * out);
      to_bf16_colsum_kernel<<<dim3(blocks_for(out, 128), chunks), 128>>>(dy, h, partial, N, out);
      LAUNCH_CHECK("to_bf16_colsum");
      colsum_reduce_kernel<<<blocks_for(out, 128), 128>>>(partial, chunks, db, out);
      LAUNCH_CHECK("colsum_reduce");
      g = h, db = nullptr;
    } else {
      g = operand(dy, (int64_t)N * out, 0);
    }
    if (dx) gemm(false, false, N, in, out, 1.0f, g, out, operand(W, (int64_t)out * in, 1), in, dx_beta, dx, in);
    if (dW) gemm(true, false, out, in, N, 1.0f, g, out, operand(x, (int64_t)N * in, 2), in, 1.0f, dW, in);
    if (db) {  // column sums of dy as dy^T * ones (column-major: dy^T is [out x N], ld out)
      const float* ones = ones_of(N);
      const float a = 1.0f, bt = 1.0f;
      check(cublasSgemv(blas_, CUBLAS_OP_N, out, N, &a, dy, out, ones, 1, &bt, db, 1), "bias gradient");
    }
  }

  void layernorm_forward(const float* x, const float* gamma, const float* beta, float* out, float* mean, float* rstd,
                         int N, int D, float eps) override {
    layernorm_forward_kernel<<<blocks_for((int64_t)N * 32), kThreads>>>(x, gamma, beta, out, mean, rstd, N, D, eps);
    LAUNCH_CHECK("layernorm_forward");
  }

  void layernorm_backward(const float* dout, const float* x, const float* gamma, const float* mean, const float* rstd,
                          float* dx, float* dgamma, float* dbeta, int N, int D) override {
    layernorm_backward_dx_kernel<<<blocks_for((int64_t)N * 32), kThreads>>>(dout, x, gamma, mean, rstd, dx, N, D);
    LAUNCH_CHECK("layernorm_backward_dx");
    if (!dgamma) return;
    const int chunks = (N + kLnRowsPerChunk - 1) / kLnRowsPerChunk;
    float* partial = scratch(scratch_b_, cap_b_, (size_t)chunks * 2 * D);
    layernorm_param_partial_kernel<<<dim3(blocks_for(D, 128), chunks), 128>>>(dout, x, mean, rstd, partial, N, D);
    LAUNCH_CHECK("layernorm_param_partial");
    layernorm_param_reduce_kernel<<<blocks_for(D, 128), 128>>>(partial, chunks, dgamma, dbeta, D);
    LAUNCH_CHECK("layernorm_param_reduce");
  }

  void attention_forward(const float* q, int ldq, const float* k, const float* v, int ldkv, const int32_t* mask,
                         float* probs, float* ctx, int B, int Tq, int T, int D, int H, float p,
                         uint64_t seed) override {
    const int dh = D / H;
    const size_t nP = (size_t)B * H * Tq * T;
    const int64_t rows = (int64_t)B * H * Tq;
    const float scale = 1.0f / std::sqrt((float)dh);
    const Dropout d = make_dropout(seed, p);
    flash::Kept kept{};
    if (fused(probs, B, H, rows, T, D, dh, &kept)) {
      flash::forward_kernel<<<dim3((Tq + flash::kRows - 1) / flash::kRows, B * H), flash::kThreads, flash::kForwardSmem>>>(
          dense(q, ldq, Tq, B, D, H, 0), dense(k, ldkv, T, B, D, H, 1), dense(v, ldkv, T, B, D, H, 2), mask, ctx, D, kept,
          probs != nullptr, H, Tq, T, scale, d);
      LAUNCH_CHECK("flash forward");
      return;
    }
    const Blocks Q = heads(q, ldq, Tq, B, D, H, 0), K = heads(k, ldkv, T, B, D, H, 1), V = heads(v, ldkv, T, B, D, H, 2);
    const void* A;  // the weights after dropout, as the next product reads them
    if (bf16_) {  // scores to scratch; probs gets the bf16 probabilities and the mask's bits
      float* S = scratch(scratch_b_, cap_b_, nP);
      batched_gemm(false, true, Tq, T, dh, scale, Q, K, 0.0f, weights(S, Tq, T, H), B, H);  // S = scale q k^T
      __nv_bfloat16* Ah = half(4, nP);
      softmax_dropout_bf16_kernel<<<blocks_for(rows * 32), kThreads>>>(
          S, reinterpret_cast<__nv_bfloat16*>(probs), Ah, probs && d.threshold > 0 ? mask_bits(probs, nP, rows, T) : nullptr,
          mask, rows, H, Tq, T, d);
      A = Ah;
    } else {  // the scores become the probabilities in place (inference: in scratch)
      float* P = probs ? probs : scratch(scratch_b_, cap_b_, nP);
      batched_gemm(false, true, Tq, T, dh, scale, Q, K, 0.0f, weights(P, Tq, T, H), B, H);  // S = scale q k^T
      float* Af = d.threshold > 0 ? scratch(scratch_a_, cap_a_, nP) : nullptr;
      softmax_dropout_kernel<<<blocks_for(rows * 32), kThreads>>>(P, Af, mask, rows, H, Tq, T, d);
      A = Af ? Af : P;
    }
    LAUNCH_CHECK("softmax_dropout");
    batched_gemm(false, false, Tq, dh, T, 1.0f, weights(A, Tq, T, H), V, 0.0f, out_heads(ctx, D, Tq, dh), B, H);  // ctx = A v
  }

  void attention_backward(const float* dctx, const float* q, int ldq, const float* k, const float* v, int ldkv,
                          const int32_t*, const float* probs, float* dq, float* dk, float* dv, int B, int Tq, int T,
                          int D, int H, float p, uint64_t seed) override {
    const int dh = D / H;
    const size_t nP = (size_t)B * H * Tq * T;
    const int64_t rows = (int64_t)B * H * Tq;
    const float scale = 1.0f / std::sqrt((float)dh);
    const Dropout d = make_dropout(seed, p);
    flash::Kept kept{};
    if (fused(const_cast<float*>(probs), B, H, rows, T, D, dh, &kept)) {
      flash::row_dot_kernel<<<blocks_for(rows * 32), kThreads>>>(dctx, D, kept, rows, H, Tq);
      LAUNCH_CHECK("flash row_dot");
      const flash::bf16 *Q = dense(q, ldq, Tq, B, D, H, 0), *K = dense(k, ldkv, T, B, D, H, 1),
                        *V = dense(v, ldkv, T, B, D, H, 2), *G = dense(dctx, D, Tq, B, D, H, 3);
      flash::backward_keys_kernel<<<dim3((T + flash::kRows - 1) / flash::kRows, B * H), flash::kThreads, flash::kKeysSmem>>>(
          G, Q, K, V, D, kept, dk, ldkv, dv, H, Tq, T, scale, d);
      LAUNCH_CHECK("flash backward keys");
      flash::backward_queries_kernel<<<dim3((Tq + flash::kRows - 1) / flash::kRows, B * H), flash::kThreads,
                                       flash::kQueriesSmem>>>(G, Q, K, V, D, kept, dq, ldq, H, Tq, T, scale, d);
      LAUNCH_CHECK("flash backward queries");
      return;
    }
    const Blocks Q = heads(q, ldq, Tq, B, D, H, 0), K = heads(k, ldkv, T, B, D, H, 1), V = heads(v, ldkv, T, B, D, H, 2),
                 dC = heads(dctx, D, Tq, B, D, H, 3);
    float* dA = scratch(scratch_b_, cap_b_, nP);
    batched_gemm(false, true, Tq, T, dh, 1.0f, dC, V, 0.0f, weights(dA, Tq, T, H), B, H);  // dA = dctx v^T
    // dS and the weights after dropout (for dv) in one kernel: bf16 copies, or fp32 with dS in place in dA.
    const void *A = probs, *dS = dA;
    if (bf16_) {
      __nv_bfloat16 *Ah = half(4, nP), *dSh = half(5, nP);
      softmax_dropout_backward_bf16_kernel<<<blocks_for(rows * 32), kThreads>>>(
          dA, reinterpret_cast<const __nv_bfloat16*>(probs), d.threshold > 0 ? mask_bits(const_cast<float*>(probs), nP, rows, T) : nullptr,
          Ah, dSh, rows, Tq, T, d);
      A = Ah, dS = dSh;
    } else {
      float* Af = d.threshold > 0 ? scratch(scratch_a_, cap_a_, nP) : nullptr;
      softmax_dropout_backward_kernel<<<blocks_for(rows * 32), kThreads>>>(dA, probs, Af, rows, Tq, T, d);
      if (Af) A = Af;
    }
    LAUNCH_CHECK("softmax_dropout_backward");
    batched_gemm(true, false, T, dh, Tq, 1.0f, weights(A, Tq, T, H), dC, 0.0f, out_heads(dv, ldkv, T, dh), B, H);  // dv = A^T dctx
    batched_gemm(false, false, Tq, dh, T, scale, weights(dS, Tq, T, H), K, 0.0f, out_heads(dq, ldq, Tq, dh), B, H);  // dq = scale dS k
    batched_gemm(true, false, T, dh, Tq, scale, weights(dS, Tq, T, H), Q, 0.0f, out_heads(dk, ldkv, T, dh), B, H);  // dk = scale dS^T q
  }

  void activation_forward(const float* x, float* y, int64_t n, int act) override {
    activation_forward_kernel<<<blocks_for(n), kThreads>>>(x, y, n, act);
    LAUNCH_CHECK("activation_forward");
  }
  void activation_backward(const float* dy, const float* x, float* dx, int64_t n, int act) override {
    activation_backward_kernel<<<blocks_for(n), kThreads>>>(dy, x, dx, n, act);
    LAUNCH_CHECK("activation_backward");
  }
  void dropout_forward(const float* x, float* y, int64_t rows, int64_t cols, int64_t row_stride, float p,
                       uint64_t seed) override {
    dropout_kernel<<<blocks_for(rows * cols), kThreads>>>(x, y, rows, cols, row_stride, make_dropout(seed, p));
    LAUNCH_CHECK("dropout");
  }
  void add(const float* a, const float* b, float* out, int64_t n) override {
    add_kernel<<<blocks_for(n), kThreads>>>(a, b, out, n);
    LAUNCH_CHECK("add");
  }
  void scale(float* x, float s, int64_t n) override {
    scale_kernel<<<blocks_for(n), kThreads>>>(x, s, n);
    LAUNCH_CHECK("scale");
  }
  double sum_squares(const float* x, int64_t n) override {
    constexpr int kBlocks = 1024;
    if (!partial_) check(cudaMalloc(&partial_, kBlocks * sizeof(double)), "sum_squares scratch");
    sum_squares_kernel<<<kBlocks, kThreads>>>(x, n, partial_);
    LAUNCH_CHECK("sum_squares");
    std::vector<double> host(kBlocks);
    check(cudaMemcpy(host.data(), partial_, kBlocks * sizeof(double), cudaMemcpyDeviceToHost), "sum_squares");
    return std::accumulate(host.begin(), host.end(), 0.0);
  }
  void copy_rows(const float* src, int64_t src_stride, float* dst, int64_t dst_stride, int64_t rows,
                 int64_t D) override {
    copy_rows_kernel<<<blocks_for(rows * D), kThreads>>>(src, src_stride, dst, dst_stride, rows, D);
    LAUNCH_CHECK("copy_rows");
  }

  void embedding_forward(const int32_t* ids, const float* word, const float* pos, float* out, int B, int T,
                         int D) override {
    const int64_t n = (int64_t)B * T * D;
    embedding_forward_kernel<<<blocks_for(n), kThreads>>>(ids, word, pos, out, T, D, n);
    LAUNCH_CHECK("embedding_forward");
  }

  void embedding_backward(const int32_t* ids, const float* dout, float* dword, float* dpos, int B, int T,
                          int D) override {
    // Rows grouped by id on the device: a stable radix sort of (id, row) pairs keeps each id's rows
    // in row order, so that one block adds them in that order (no host round trip, no atomics).
    const int N = B * T;
    int32_t* buf = ints_of(3 * (size_t)N);
    int32_t *rows_in = buf, *keys = buf + N, *rows = buf + 2 * N;
    iota_kernel<<<blocks_for(N), kThreads>>>(rows_in, N);
    LAUNCH_CHECK("iota");
    size_t bytes = 0;
    check(cub::DeviceRadixSort::SortPairs(nullptr, bytes, ids, keys, rows_in, rows, N), "embedding sort (size)");
    check(cub::DeviceRadixSort::SortPairs(sort_scratch(bytes), bytes, ids, keys, rows_in, rows, N), "embedding sort");
    embedding_word_grad_kernel<<<N, 128>>>(keys, rows, dout, dword, N, D);
    LAUNCH_CHECK("embedding_word_grad");
    if (dpos) {
      embedding_pos_grad_kernel<<<blocks_for((int64_t)T * D), kThreads>>>(dout, dpos, B, T, D);
      LAUNCH_CHECK("embedding_pos_grad");
    }
  }

  void cross_entropy(const float* logits, const int32_t* labels, float* losses, float* dlogits, int B, int C,
                     float grad_scale) override {
    cross_entropy_kernel<<<blocks_for(B, 64), 64>>>(logits, labels, losses, dlogits, B, C, grad_scale);
    LAUNCH_CHECK("cross_entropy");
  }
  void adam_update(float* p, const float* g, float* m, float* v, int64_t n, float alpha, float b1, float b2,
                   float eps) override {
    adam_kernel<<<blocks_for(n), kThreads>>>(p, g, m, v, n, alpha, 1.0f - b1, 1.0f - b2, eps);
    LAUNCH_CHECK("adam");
  }
  void adam_update_rows(float* p, const float* g, float* m, float* v, const int32_t* rows, int64_t nrows,
                        int64_t row_len, float alpha, float b1, float b2, float eps) override {
    adam_rows_kernel<<<blocks_for(nrows * row_len), kThreads>>>(p, g, m, v, rows, nrows, row_len, alpha, 1.0f - b1,
                                                                 1.0f - b2, eps);
    LAUNCH_CHECK("adam_rows");
  }
  void zero_rows(float* x, const int32_t* rows, int64_t nrows, int64_t row_len) override {
    zero_rows_kernel<<<blocks_for(nrows * row_len), kThreads>>>(x, rows, nrows, row_len);
    LAUNCH_CHECK("zero_rows");
  }
  void adamw_update(float* p, const float* g, float* m, float* v, int64_t n, float lr, float wd, float b1, float b2,
                    float eps, float bc1, float bc2_sqrt) override {
    adamw_kernel<<<blocks_for(n), kThreads>>>(p, g, m, v, n, 1.0f - lr * wd, lr / bc1, b1, b2, eps, bc2_sqrt);
    LAUNCH_CHECK("adamw");
  }
  void gather_rows(const float* src, const int32_t* rows, int64_t n, int64_t D, float* dst) override {
    move_rows_kernel<<<blocks_for(n * D), kThreads>>>(src, rows, n, D, dst, true);
    LAUNCH_CHECK("gather_rows");
  }
  void scatter_rows(const float* src, const int32_t* rows, int64_t n, int64_t D, float* dst) override {
    move_rows_kernel<<<blocks_for(n * D), kThreads>>>(src, rows, n, D, dst, false);
    LAUNCH_CHECK("scatter_rows");
  }

 private:
  // Row-major C[M,N] = alpha op(A) op(B) + beta C, as cblas_sgemm(CblasRowMajor, ...), on operands of
  // the mode's type (operand()): cuBLAS is column-major, so it computes C^T = op(B)^T op(A)^T with the
  // operands swapped.
  void gemm(bool ta, bool tb, int M, int N, int K, float alpha, const void* A, int lda, const void* B, int ldb,
            float beta, float* C, int ldc) {
    const cudaDataType t = bf16_ ? CUDA_R_16BF : CUDA_R_32F;
    check(cublasGemmEx(blas_, op(tb), op(ta), N, M, K, &alpha, B, t, ldb, A, t, lda, &beta, C, CUDA_R_32F, ldc, compute_,
                       CUBLAS_GEMM_DEFAULT),
          "gemm");
  }

  // y = x W^T + b in one cuBLASLt call, the bias added in the product's epilogue (y written once,
  // instead of filled with b and read back by the product). False where cuBLASLt offers no algorithm
  // for these shapes and alignments, or b is not 16-byte aligned (what its bias epilogue wants): the
  // caller then takes the two-pass way.
  bool biased_product(const void* x, const void* W, const float* b, float* y, int N, int in, int out) {
    if ((uintptr_t)b % 16) return false;
    const auto key = std::make_tuple(N, in, out, alignment(x), alignment(W), alignment(y));
    auto it = lt_plans_.find(key);
    if (it == lt_plans_.end()) it = lt_plans_.emplace(key, lt_plan(N, in, out, std::get<3>(key), std::get<4>(key), std::get<5>(key))).first;
    const LtPlan& plan = it->second;
    if (!plan.found) return false;
    check(cublasLtMatmulDescSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &b, sizeof(b)), "bias pointer");
    const float one = 1.0f, zero = 0.0f;
    check(cublasLtMatmul(lt_, plan.desc, &one, W, plan.a, x, plan.b, &zero, y, plan.d, y, plan.d, &plan.algo,
                         lt_workspace_, kLtWorkspace, 0),
          "cublasLtMatmul");
    return true;
  }

  // The largest power of two (up to 256) that divides p's address: cuBLASLt's heuristic assumes
  // 256-byte aligned matrices unless told otherwise.
  static uint32_t alignment(const void* p) {
    uint32_t a = 256;
    while ((uintptr_t)p % a) a /= 2;
    return a;
  }

  // Column-major, as cuBLASLt sees the row-major product: y^T [out x N] = W [out x in] (stored as
  // [in x out], transposed) times x^T [in x N].
  struct LtPlan {
    bool found = false;
    cublasLtMatmulDesc_t desc = nullptr;
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
    cublasLtMatmulAlgo_t algo{};
  };
  LtPlan lt_plan(int N, int in, int out, uint32_t align_x, uint32_t align_w, uint32_t align_y) {
    if (!lt_) {
      check(cublasLtCreate(&lt_), "cublasLtCreate");
      lt_workspace_ = alloc(kLtWorkspace);
    }
    LtPlan plan;
    const cudaDataType t = bf16_ ? CUDA_R_16BF : CUDA_R_32F;
    const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    const cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_BIAS;
    check(cublasLtMatmulDescCreate(&plan.desc, compute_, CUDA_R_32F), "matmul desc");
    check(cublasLtMatmulDescSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)), "transa");
    check(cublasLtMatmulDescSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)), "transb");
    check(cublasLtMatmulDescSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof(epilogue)), "epilogue");
    check(cublasLtMatrixLayoutCreate(&plan.a, t, in, out, in), "layout W");
    check(cublasLtMatrixLayoutCreate(&plan.b, t, in, N, in), "layout x");
    check(cublasLtMatrixLayoutCreate(&plan.d, CUDA_R_32F, out, N, out), "layout y");
    cublasLtMatmulPreference_t pref = nullptr;
    check(cublasLtMatmulPreferenceCreate(&pref), "preference");
    const uint64_t workspace = kLtWorkspace;
    check(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace, sizeof(workspace)), "workspace");
    check(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &align_w, sizeof(align_w)), "align W");
    check(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &align_x, sizeof(align_x)), "align x");
    check(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &align_y, sizeof(align_y)), "align y");
    check(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &align_y, sizeof(align_y)), "align y");
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    const cublasStatus_t st =
        cublasLtMatmulAlgoGetHeuristic(lt_, plan.desc, plan.a, plan.b, plan.d, plan.d, pref, 1, &result, &found);
    cublasLtMatmulPreferenceDestroy(pref);
    if (st == CUBLAS_STATUS_SUCCESS && found > 0) plan.found = true, plan.algo = result.algo;
    return plan;
  }

  // Whether attention runs the fused kernels (attention_bf16_*.cuh): bf16, heads of 64, rows of the
  // dense bf16 copies 16-byte aligned (D a multiple of 8), and where a backward follows (probs),
  // room in probs for what they keep (*kept: where). Forward and backward decide alike from the
  // same shapes.
  bool fused(float* probs, int B, int H, int64_t rows, int T, int D, int dh, flash::Kept* kept) {
    return bf16_ && dh == flash::kDh && D % 8 == 0 && B * H <= 65535 &&
           (!probs || flash::kept_layout(probs, B, rows, T, kept));
  }

  // bf16 attention: where the dropout mask's bits go in the probs buffer (nP floats of room), after the
  // nP bf16 probabilities; null where they do not fit (T of 1 or 2), and backward draws again.
  static uint32_t* mask_bits(float* probs, size_t nP, int64_t rows, int T) {
    const size_t offset = (2 * nP + 15) / 16 * 16, bytes = (size_t)rows * ((T + 31) / 32) * sizeof(uint32_t);
    return offset + bytes <= 4 * nP ? reinterpret_cast<uint32_t*>(reinterpret_cast<char*>(probs) + offset) : nullptr;
  }

  // A bf16 buffer of at least n values in slot (0-2: a product's operands, or q, k, v; 3-5: dctx, the
  // attention weights and their gradient).
  __nv_bfloat16* half(int slot, size_t n) {
    if (n > half_cap_[slot]) {
      if (half_[slot]) cudaFree(half_[slot]);
      half_[slot] = static_cast<__nv_bfloat16*>(alloc(n * sizeof(__nv_bfloat16)));
      half_cap_[slot] = n;
    }
    return half_[slot];
  }

  // A dense operand of n values in the mode's type: x itself, or its bf16 copy in slot.
  const void* operand(const float* x, int64_t n, int slot) {
    if (!bf16_) return x;
    __nv_bfloat16* h = half(slot, (size_t)n);
    to_bf16_kernel<<<blocks_for(n), kThreads>>>(x, h, n);
    LAUNCH_CHECK("to_bf16");
    return h;
  }

  // One operand of a per-head product: block (b, h) starts at p + b*batch + h*head elements, rows ld
  // apart (heads are column blocks of q/k/v/ctx, or whole [Tq x T] blocks of the attention weights).
  struct Blocks {
    const void* p;
    int ld;
    int64_t batch, head;
  };
  // q, k, v or dctx (rows_per_seq rows of ld floats per sequence, heads the column blocks of the
  // first D) as an input of the per-head products: itself, or in bf16 its D columns rounded into a
  // dense copy in slot, once for every product that reads it.
  Blocks heads(const float* x, int ld, int rows_per_seq, int B, int D, int H, int slot) {
    if (!bf16_) return {x, ld, (int64_t)rows_per_seq * ld, D / H};
    const int64_t rows = (int64_t)B * rows_per_seq;
    __nv_bfloat16* h = half(slot, (size_t)(rows * D));
    rows_to_bf16_kernel<<<dim3((unsigned)rows, blocks_for(D)), kThreads>>>(x, ld, h, D);
    LAUNCH_CHECK("rows_to_bf16");
    return {h, D, (int64_t)rows_per_seq * D, D / H};
  }
  // The same dense bf16 copy, for the fused attention kernels.
  const flash::bf16* dense(const float* x, int ld, int rows_per_seq, int B, int D, int H, int slot) {
    return static_cast<const flash::bf16*>(heads(x, ld, rows_per_seq, B, D, H, slot).p);
  }
  // A product's fp32 output with the same layout.
  static Blocks out_heads(float* x, int ld, int rows_per_seq, int dh) { return {x, ld, (int64_t)rows_per_seq * ld, dh}; }
  // Attention weights [B, H, Tq, T] (of the mode's type as an input, fp32 as an output).
  static Blocks weights(const void* p, int Tq, int T, int H) { return {p, T, (int64_t)H * Tq * T, (int64_t)Tq * T}; }

  // The row-major product of every (b, h) block in one batched call over pointer tables; A and B
  // of the mode's type, C fp32.
  void batched_gemm(bool ta, bool tb, int M, int N, int K, float alpha, const Blocks& A, const Blocks& B, float beta,
                    const Blocks& C, int nb, int H) {
    const int count = nb * H;
    const void** ptrs = pointer_table(3 * (size_t)count);
    const int64_t width = bf16_ ? sizeof(__nv_bfloat16) : sizeof(float);
    fill_pointers_kernel<<<blocks_for(count), kThreads>>>(ptrs, (const char*)A.p, A.batch * width, A.head * width, nb, H);
    fill_pointers_kernel<<<blocks_for(count), kThreads>>>(ptrs + count, (const char*)B.p, B.batch * width, B.head * width, nb, H);
    fill_pointers_kernel<<<blocks_for(count), kThreads>>>(ptrs + 2 * count, (const char*)C.p, C.batch * (int64_t)sizeof(float),
                                                          C.head * (int64_t)sizeof(float), nb, H);
    LAUNCH_CHECK("fill_pointers");
    const cudaDataType t = bf16_ ? CUDA_R_16BF : CUDA_R_32F;
    check(cublasGemmBatchedEx(blas_, op(tb), op(ta), N, M, K, &alpha, (const void* const*)(ptrs + count), t, B.ld,
                              (const void* const*)ptrs, t, A.ld, &beta, (void* const*)(ptrs + 2 * count), CUDA_R_32F,
                              C.ld, count, compute_, CUBLAS_GEMM_DEFAULT),
          "batched gemm");
  }

  const void** pointer_table(size_t n) {
    if (n > ptr_cap_) {
      if (ptrs_) cudaFree(ptrs_);
      check(cudaMalloc(&ptrs_, n * sizeof(void*)), "pointer table");
      ptr_cap_ = n;
    }
    return (const void**)ptrs_;
  }

  float* scratch(float*& buf, size_t& cap, size_t n) {
    if (n > cap) {
      if (buf) cudaFree(buf);
      buf = static_cast<float*>(alloc(n * sizeof(float)));
      cap = n;
    }
    return buf;
  }

  const float* ones_of(int n) {
    if ((size_t)n > ones_cap_) {
      if (ones_) cudaFree(ones_);
      ones_ = static_cast<float*>(alloc((size_t)n * sizeof(float)));
      std::vector<float> h(n, 1.0f);
      upload(ones_, h.data(), (size_t)n * sizeof(float));
      ones_cap_ = n;
    }
    return ones_;
  }

  int32_t* ints_of(size_t n) {
    if (n > ints_cap_) {
      if (ints_) cudaFree(ints_);
      ints_ = static_cast<int32_t*>(alloc(n * sizeof(int32_t)));
      ints_cap_ = n;
    }
    return ints_;
  }

  void* sort_scratch(size_t bytes) {
    if (bytes > sort_cap_) {
      if (sort_) cudaFree(sort_);
      sort_ = alloc(bytes);
      sort_cap_ = bytes;
    }
    return sort_;
  }

  std::string precision_;
  cublasHandle_t blas_ = nullptr;
  // cuBLASLt for the biased products: its handle, workspace and a plan per (N, in, out, alignments).
  static constexpr size_t kLtWorkspace = 32u << 20;
  cublasLtHandle_t lt_ = nullptr;
  void* lt_workspace_ = nullptr;
  std::map<std::tuple<int, int, int, uint32_t, uint32_t, uint32_t>, LtPlan> lt_plans_;
  cublasComputeType_t compute_ = CUBLAS_COMPUTE_32F;
  bool bf16_ = false;
  static constexpr int kHalfSlots = 6;
  __nv_bfloat16* half_[kHalfSlots] = {};  // bf16 copies of products' operands (half())
  size_t half_cap_[kHalfSlots] = {};
  void* ptrs_ = nullptr;
  size_t ptr_cap_ = 0;
  float* ones_ = nullptr;
  size_t ones_cap_ = 0;
  float *scratch_a_ = nullptr, *scratch_b_ = nullptr;
  size_t cap_a_ = 0, cap_b_ = 0;
  double* partial_ = nullptr;
  int32_t* ints_ = nullptr;
  size_t ints_cap_ = 0;
  void* sort_ = nullptr;  // CUB's temporary storage
  size_t sort_cap_ = 0;
};

}  // namespace

std::unique_ptr<Backend> make_cuda_backend(const std::string& precision, int device) {
  return std::make_unique<CudaBackend>(precision, device);
}

}  // namespace engine

// The entry point that backends.cc looks up when it loads this backend as engine_cuda.so: a C
// signature, so that no exception crosses the library boundary.
extern "C" __attribute__((visibility("default"))) engine::Backend* bert20news_make_cuda_device_backend(const char* precision,
                                                                                                        int device, char* error,
                                                                                                        size_t error_len) {
  try {
    return new engine::CudaBackend(precision, device);
  } catch (const std::exception& e) {
    snprintf(error, error_len, "%s", e.what());
    return nullptr;
  }
}


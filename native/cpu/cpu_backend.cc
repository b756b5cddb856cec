// The CPU backend: device memory is host memory (64-byte aligned), kernels run synchronously.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "kernels.h"
#include "matmul.h"
#include "parallel.h"

namespace engine {

namespace {

constexpr size_t kStreamBytes = size_t(64) << 20;

// Zeroes n bytes at p with non-temporal stores (x86-64: SSE2), bypassing the caches.
void zero_streaming(char* p, size_t n) {
#ifdef __SSE2__
  const size_t head = std::min(n, (size_t)((16 - (uintptr_t)p % 16) % 16));
  std::memset(p, 0, head);
  const __m128i z = _mm_setzero_si128();
  size_t i = head;
  for (; i + 16 <= n; i += 16) _mm_stream_si128(reinterpret_cast<__m128i*>(p + i), z);
  _mm_sfence();
  std::memset(p + i, 0, n - i);
#else
  std::memset(p, 0, n);
#endif
}

class CpuBackend final : public Backend {
 public:
  // bf16: the matrix products (linear layers' and attention's) take bfloat16 operands (fp32
  // accumulation); weights, LayerNorm, softmax, the loss and the rest of the step stay fp32.
  explicit CpuBackend(bool bf16) : bf16_(bf16) {}
  std::string name() const override { return bf16_ ? "cpu-bf16" : "cpu"; }
  bool host_memory() const override { return true; }

  void* alloc(size_t bytes) override { return alloc_aligned(bytes); }
  // A large block is fresh zero pages, touched only where used (a model that adopts its caller's
  // weights never touches its own).
  void* alloc_zeroed(size_t bytes) override {
    void* p = alloc_aligned(bytes);
    if (bytes < kHugePage) std::memset(p, 0, bytes);
    return p;
  }
  void release(void* p) override { free_aligned(p); }
  void upload(void* dst, const void* src, size_t bytes) override {
    if (dst != src) std::memcpy(dst, src, bytes);
  }
  void download(void* dst, const void* src, size_t bytes) override {
    if (dst != src) std::memcpy(dst, src, bytes);
  }
  // On every thread (one thread's memset ran at half the memory's rate); a clear larger than the
  // caches (the gradients', before each step, 172 MB for distilbert-base) is not read back before
  // it leaves them, so it goes to memory directly with streaming stores (9.5 -> 4.8 ms a
  // train_8x128 step).
  void fill_zero(void* p, size_t bytes) override {
    char* c = static_cast<char*>(p);
    const bool stream = bytes >= kStreamBytes;
    parallel_ranges((int64_t)bytes, [=](int64_t lo, int64_t hi) {
      if (stream)
        zero_streaming(c + lo, (size_t)(hi - lo));
      else
        std::memset(c + lo, 0, (size_t)(hi - lo));
    });
  }
  void weights_changed() override { engine::weights_changed(); }

  void linear_forward(const float* x, const float* W, const float* b, float* y, int N, int in, int out) override {
    engine::linear_forward(x, W, b, y, N, in, out, bf16_);
  }
  void linear_act_forward(const float* x, const float* W, const float* b, float* y, int N, int in, int out,
                          int act) override {
    engine::linear_forward(x, W, b, y, N, in, out, bf16_, act);
  }
  // Under bf16 the activation goes between the FFN's products as bfloat16, written once by its
  // kernel, with no fp32 activation and no conversion pass; in training h and the activation are
  // kept as bfloat16 in h's room, and a is not used (matmul.h).
  void ffn_train_forward(const float* x, const float* W1, const float* b1, const float* W2, const float* b2, float* h,
                         float* a, float* y, int N, int D, int F, int act) override {
    if (bf16_) return ffn_train_forward_bf16(x, W1, b1, W2, b2, h, y, N, D, F, act);
    Backend::ffn_train_forward(x, W1, b1, W2, b2, h, a, y, N, D, F, act);
  }
  void ffn_backward(const float* dy, const float* x, const float* h, float* a, const float* W1, const float* W2,
                    float* dh, float* dx, float dx_beta, float* dW1, float* db1, float* dW2, float* db2, int N, int D,
                    int F, int act) override {
    if (bf16_) return ffn_backward_bf16(dy, x, h, a, W1, W2, dh, dx, dx_beta, dW1, db1, dW2, db2, N, D, F, act);
    Backend::ffn_backward(dy, x, h, a, W1, W2, dh, dx, dx_beta, dW1, db1, dW2, db2, N, D, F, act);
  }
  void ffn_forward(const float* x, const float* W1, const float* b1, const float* W2, const float* b2, float* h, float* y,
                   int N, int D, int F, int act) override {
    if (bf16_) return ffn_forward_bf16(x, W1, b1, W2, b2, h, y, N, D, F, act);
    Backend::ffn_forward(x, W1, b1, W2, b2, h, y, N, D, F, act);
  }
  void linear_backward(const float* dy, const float* x, const float* W, float* dx, float dx_beta, float* dW, float* db,
                       int N, int in, int out) override {
    engine::linear_backward(dy, x, W, dx, dx_beta, dW, db, N, in, out, bf16_);
  }
  void layernorm_forward(const float* x, const float* gamma, const float* beta, float* out, float* mean, float* rstd,
                         int N, int D, float eps) override {
    engine::layernorm_forward(x, gamma, beta, out, mean, rstd, N, D, eps);
  }
  void add_layernorm_forward(const float* a, const float* b, float* sum, const float* gamma, const float* beta,
                             float* out, float* mean, float* rstd, int N, int D, float eps) override {
    engine::layernorm_forward(a, gamma, beta, out, mean, rstd, N, D, eps, b, sum);
  }
  void layernorm_backward(const float* dout, const float* x, const float* gamma, const float* mean, const float* rstd,
                          float* dx, float* dgamma, float* dbeta, int N, int D) override {
    engine::layernorm_backward(dout, x, gamma, mean, rstd, dx, dgamma, dbeta, N, D);
  }
  void attention_forward(const float* q, int ldq, const float* k, const float* v, int ldkv, const int32_t* mask,
                         float* probs, float* ctx, int B, int Tq, int T, int D, int H, float p,
                         uint64_t seed) override {
    engine::attention_forward(q, ldq, k, v, ldkv, mask, probs, ctx, B, Tq, T, D, H, p, seed, bf16_);
  }
  // Under bf16 q, k and v leave their product as bfloat16, which attention's products read in place,
  // and attention's output leaves it as bfloat16, the output projection's operand (forward's and its
  // weight gradient's), as PyTorch's CPU autocast passes them: half the bytes written, and no
  // packing or conversion pass.
  void qkv_forward(const float* x, const float* W, const float* b, float* qkv, int N, int D) override {
    if (!bf16_) return Backend::qkv_forward(x, W, b, qkv, N, D);
    linear_forward16(x, W, b, reinterpret_cast<uint16_t*>(qkv), N, D, 3 * D);
  }
  void attention_forward_qkv(const float* qkv, const int32_t* mask, float* probs, float* ctx, int B, int T, int D,
                             int H, float p, uint64_t seed) override {
    engine::attention_forward(qkv, 3 * D, qkv + D, qkv + 2 * D, 3 * D, mask, probs, ctx, B, T, T, D, H, p, seed, bf16_,
                              bf16_);
  }
  void context_forward(const float* ctx, const float* W, const float* b, float* y, int N, int D) override {
    if (!bf16_) return Backend::context_forward(ctx, W, b, y, N, D);
    linear_forward_from16(reinterpret_cast<const uint16_t*>(ctx), W, b, y, N, D, D);
  }
  void context_backward(const float* dy, const float* ctx, const float* W, float* dctx, float* dW, float* db, int N,
                        int D) override {
    if (!bf16_) return Backend::context_backward(dy, ctx, W, dctx, dW, db, N, D);
    linear_gradients_bf16(dy, ctx, W, dctx, 0.0f, dW, db, N, D, D, false, true);
  }
  // probs keeps the probabilities with the dropout mask in their sign bits (kernels.h).
  bool keeps_probabilities() const override { return false; }
  void attention_backward(const float* dctx, const float* q, int ldq, const float* k, const float* v, int ldkv,
                          const int32_t* mask, const float* probs, float* dq, float* dk, float* dv, int B, int Tq, int T,
                          int D, int H, float p, uint64_t seed) override {
    engine::attention_backward(dctx, q, ldq, k, v, ldkv, mask, probs, dq, dk, dv, B, Tq, T, D, H, p, seed, bf16_);
  }
  // Under bf16 the gradient of q, k and v passes from attention to the projection's products as
  // bfloat16, as PyTorch's CPU autocast passes it: half the bytes written, and no conversion pass.
  void attention_backward_qkv(const float* dctx, const float* qkv, const int32_t* mask, const float* probs,
                              float* d_qkv, int B, int T, int D, int H, float p, uint64_t seed) override {
    engine::attention_backward(dctx, qkv, 3 * D, qkv + D, qkv + 2 * D, 3 * D, mask, probs, d_qkv, d_qkv + D,
                               d_qkv + 2 * D, B, T, T, D, H, p, seed, bf16_, bf16_, bf16_);
  }
  void qkv_backward(const float* d_qkv, const float* x, const float* W, float* dx, float dx_beta, float* dW, float* db,
                    int N, int D) override {
    if (!bf16_) return Backend::qkv_backward(d_qkv, x, W, dx, dx_beta, dW, db, N, D);
    linear_gradients_bf16(d_qkv, x, W, dx, dx_beta, dW, db, N, D, 3 * D, true);
  }
  void activation_forward(const float* x, float* y, int64_t n, int act) override {
    engine::activation_forward(x, y, n, act);
  }
  void activation_backward(const float* dy, const float* x, float* dx, int64_t n, int act) override {
    engine::activation_backward(dy, x, dx, n, act);
  }
  void dropout_forward(const float* x, float* y, int64_t rows, int64_t cols, int64_t row_stride, float p,
                       uint64_t seed) override {
    engine::dropout_forward(x, y, rows, cols, row_stride, p, seed);
  }
  void add(const float* a, const float* b, float* out, int64_t n) override { engine::add(a, b, out, n); }
  void scale(float* x, float s, int64_t n) override { engine::scale(x, s, n); }
  double sum_squares(const float* x, int64_t n) override { return engine::sum_squares(x, n); }
  void copy_rows(const float* src, int64_t src_stride, float* dst, int64_t dst_stride, int64_t rows,
                 int64_t D) override {
    engine::copy_rows(src, src_stride, dst, dst_stride, rows, D);
  }
  void gather_rows(const float* src, const int32_t* rows, int64_t n, int64_t D, float* dst) override {
    engine::gather_rows(src, rows, n, D, dst);
  }
  void scatter_rows(const float* src, const int32_t* rows, int64_t n, int64_t D, float* dst) override {
    engine::scatter_rows(src, rows, n, D, dst);
  }
  void embedding_forward(const int32_t* ids, const float* word, const float* pos, float* out, int B, int T,
                         int D) override {
    engine::embedding_forward(ids, word, pos, out, B, T, D);
  }
  void embedding_backward(const int32_t* ids, const float* dout, float* dword, float* dpos, int B, int T,
                          int D) override {
    engine::embedding_backward(ids, dout, dword, dpos, B, T, D);
  }
  void cross_entropy(const float* logits, const int32_t* labels, float* losses, float* dlogits, int B, int C,
                     float grad_scale) override {
    engine::cross_entropy(logits, labels, losses, dlogits, B, C, grad_scale);
  }
  void adam_update(float* p, const float* g, float* m, float* v, int64_t n, float alpha, float b1, float b2,
                   float eps) override {
    engine::adam_update(p, g, m, v, n, alpha, b1, b2, eps);
  }
  void adam_update_rows(float* p, const float* g, float* m, float* v, const int32_t* rows, int64_t nrows,
                        int64_t row_len, float alpha, float b1, float b2, float eps) override {
    engine::adam_update_rows(p, g, m, v, rows, nrows, row_len, alpha, b1, b2, eps);
  }
  void zero_rows(float* x, const int32_t* rows, int64_t nrows, int64_t row_len) override {
    engine::zero_rows(x, rows, nrows, row_len);
  }
  void adamw_update(float* p, const float* g, float* m, float* v, int64_t n, float lr, float wd, float b1, float b2,
                    float eps, float bc1, float bc2_sqrt) override {
    engine::adamw_update(p, g, m, v, n, lr, wd, b1, b2, eps, bc1, bc2_sqrt);
  }

 private:
  const bool bf16_;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(const std::string& precision) {
  if (precision == "bf16") {
    const std::string why = bf16_unsupported_reason();
    if (!why.empty()) throw std::runtime_error(why);
  } else if (precision != "fp32") {
    throw std::runtime_error("precision " + precision + " is not available on the CPU backend (fp32, bf16)");
  }
  return std::make_unique<CpuBackend>(precision == "bf16");
}

}  // namespace engine

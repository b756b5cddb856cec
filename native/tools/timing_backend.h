// A Backend that forwards every call to another and times it (synchronizing after each), for
// engine_check's `--profile` and `bench --profile` (through the addon): where a model step's time goes, kernel by kernel, on any backend.
// The synchronization makes the total larger than an untimed step; the shares are what it is for.
#pragma once
#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "../backend.h"

namespace tools {

class TimingBackend final : public engine::Backend {
 public:
  explicit TimingBackend(std::unique_ptr<engine::Backend> inner) : in_(std::move(inner)) {}

  // Seconds and calls per method since the last reset().
  std::map<std::string, std::pair<double, long>> totals;
  void reset() { totals.clear(); }

  std::string name() const override { return in_->name(); }
  bool host_memory() const override { return in_->host_memory(); }
  bool keeps_probabilities() const override { return in_->keeps_probabilities(); }
  void weights_changed() override { in_->weights_changed(); }
  void* alloc(size_t bytes) override { return in_->alloc(bytes); }
  void* alloc_zeroed(size_t bytes) override { return in_->alloc_zeroed(bytes); }
  void release(void* p) override { in_->release(p); }
  void upload(void* dst, const void* src, size_t bytes) override { time("upload", [&] { in_->upload(dst, src, bytes); }); }
  void download(void* dst, const void* src, size_t bytes) override { time("download", [&] { in_->download(dst, src, bytes); }); }
  void fill_zero(void* p, size_t bytes) override { time("fill_zero", [&] { in_->fill_zero(p, bytes); }); }
  void synchronize() override { in_->synchronize(); }

  void linear_forward(const float* x, const float* W, const float* b, float* y, int N, int in, int out) override {
    time("linear_forward", [&] { in_->linear_forward(x, W, b, y, N, in, out); });
  }
  void linear_backward(const float* dy, const float* x, const float* W, float* dx, float dx_beta, float* dW, float* db,
                       int N, int in, int out) override {
    time("linear_backward", [&] { in_->linear_backward(dy, x, W, dx, dx_beta, dW, db, N, in, out); });
  }
  void layernorm_forward(const float* x, const float* g, const float* b, float* out, float* mean, float* rstd, int N,
                         int D, float eps) override {
    time("layernorm_forward", [&] { in_->layernorm_forward(x, g, b, out, mean, rstd, N, D, eps); });
  }
  void add_layernorm_forward(const float* a, const float* r, float* sum, const float* g, const float* b, float* out,
                             float* mean, float* rstd, int N, int D, float eps) override {
    time("add_layernorm_forward", [&] { in_->add_layernorm_forward(a, r, sum, g, b, out, mean, rstd, N, D, eps); });
  }
  void layernorm_backward(const float* dout, const float* x, const float* g, const float* mean, const float* rstd,
                          float* dx, float* dg, float* db, int N, int D) override {
    time("layernorm_backward", [&] { in_->layernorm_backward(dout, x, g, mean, rstd, dx, dg, db, N, D); });
  }
  void attention_forward(const float* q, int ldq, const float* k, const float* v, int ldkv, const int32_t* mask,
                         float* probs, float* ctx, int B, int Tq, int T, int D, int H, float p, uint64_t seed) override {
    time("attention_forward", [&] { in_->attention_forward(q, ldq, k, v, ldkv, mask, probs, ctx, B, Tq, T, D, H, p, seed); });
  }
  // Timed as a linear layer's and attention's, forward and backward (profile.ts's families).
  void qkv_forward(const float* x, const float* W, const float* b, float* qkv, int N, int D) override {
    time("linear_forward", [&] { in_->qkv_forward(x, W, b, qkv, N, D); });
  }
  void attention_forward_qkv(const float* qkv, const int32_t* mask, float* probs, float* ctx, int B, int T, int D,
                             int H, float p, uint64_t seed) override {
    time("attention_forward", [&] { in_->attention_forward_qkv(qkv, mask, probs, ctx, B, T, D, H, p, seed); });
  }
  void context_forward(const float* ctx, const float* W, const float* b, float* y, int N, int D) override {
    time("linear_forward", [&] { in_->context_forward(ctx, W, b, y, N, D); });
  }
  void context_backward(const float* dy, const float* ctx, const float* W, float* dctx, float* dW, float* db, int N,
                        int D) override {
    time("linear_backward", [&] { in_->context_backward(dy, ctx, W, dctx, dW, db, N, D); });
  }
  void attention_backward_qkv(const float* dctx, const float* qkv, const int32_t* mask, const float* probs,
                              float* d_qkv, int B, int T, int D, int H, float p, uint64_t seed) override {
    time("attention_backward", [&] { in_->attention_backward_qkv(dctx, qkv, mask, probs, d_qkv, B, T, D, H, p, seed); });
  }
  void qkv_backward(const float* d_qkv, const float* x, const float* W, float* dx, float dx_beta, float* dW,
                    float* db, int N, int D) override {
    time("linear_backward", [&] { in_->qkv_backward(d_qkv, x, W, dx, dx_beta, dW, db, N, D); });
  }
  void attention_backward(const float* dctx, const float* q, int ldq, const float* k, const float* v, int ldkv,
                          const int32_t* mask, const float* probs, float* dq, float* dk, float* dv, int B, int Tq, int T,
                          int D, int H, float p, uint64_t seed) override {
    time("attention_backward",
         [&] { in_->attention_backward(dctx, q, ldq, k, v, ldkv, mask, probs, dq, dk, dv, B, Tq, T, D, H, p, seed); });
  }
  void linear_act_forward(const float* x, const float* W, const float* b, float* y, int N, int in, int out,
                          int act) override {
    time("linear_act_forward", [&] { in_->linear_act_forward(x, W, b, y, N, in, out, act); });
  }
  void ffn_forward(const float* x, const float* W1, const float* b1, const float* W2, const float* b2, float* h, float* y,
                   int N, int D, int F, int act) override {
    time("ffn_forward", [&] { in_->ffn_forward(x, W1, b1, W2, b2, h, y, N, D, F, act); });
  }
  void ffn_train_forward(const float* x, const float* W1, const float* b1, const float* W2, const float* b2, float* h,
                         float* a, float* y, int N, int D, int F, int act) override {
    time("ffn_train_forward", [&] { in_->ffn_train_forward(x, W1, b1, W2, b2, h, a, y, N, D, F, act); });
  }
  void ffn_backward(const float* dy, const float* x, const float* h, float* a, const float* W1, const float* W2,
                    float* dh, float* dx, float dx_beta, float* dW1, float* db1, float* dW2, float* db2, int N, int D,
                    int F, int act) override {
    time("ffn_backward",
         [&] { in_->ffn_backward(dy, x, h, a, W1, W2, dh, dx, dx_beta, dW1, db1, dW2, db2, N, D, F, act); });
  }
  void activation_forward(const float* x, float* y, int64_t n, int act) override {
    time("activation_forward", [&] { in_->activation_forward(x, y, n, act); });
  }
  void activation_backward(const float* dy, const float* x, float* dx, int64_t n, int act) override {
    time("activation_backward", [&] { in_->activation_backward(dy, x, dx, n, act); });
  }
  void dropout_forward(const float* x, float* y, int64_t rows, int64_t cols, int64_t stride, float p,
                       uint64_t seed) override {
    time("dropout", [&] { in_->dropout_forward(x, y, rows, cols, stride, p, seed); });
  }
  void add(const float* a, const float* b, float* out, int64_t n) override { time("add", [&] { in_->add(a, b, out, n); }); }
  void scale(float* x, float s, int64_t n) override { time("scale", [&] { in_->scale(x, s, n); }); }
  double sum_squares(const float* x, int64_t n) override {
    double r = 0;
    time("sum_squares", [&] { r = in_->sum_squares(x, n); });
    return r;
  }
  void copy_rows(const float* src, int64_t ss, float* dst, int64_t ds, int64_t rows, int64_t D) override {
    time("copy_rows", [&] { in_->copy_rows(src, ss, dst, ds, rows, D); });
  }
  void embedding_forward(const int32_t* ids, const float* word, const float* pos, float* out, int B, int T,
                         int D) override {
    time("embedding_forward", [&] { in_->embedding_forward(ids, word, pos, out, B, T, D); });
  }
  void embedding_backward(const int32_t* ids, const float* dout, float* dword, float* dpos, int B, int T,
                          int D) override {
    time("embedding_backward", [&] { in_->embedding_backward(ids, dout, dword, dpos, B, T, D); });
  }
  void cross_entropy(const float* logits, const int32_t* labels, float* losses, float* dlogits, int B, int C,
                     float scale) override {
    time("cross_entropy", [&] { in_->cross_entropy(logits, labels, losses, dlogits, B, C, scale); });
  }
  void adam_update(float* p, const float* g, float* m, float* v, int64_t n, float a, float b1, float b2,
                   float eps) override {
    time("adam", [&] { in_->adam_update(p, g, m, v, n, a, b1, b2, eps); });
  }
  void adam_update_rows(float* p, const float* g, float* m, float* v, const int32_t* rows, int64_t nrows, int64_t len,
                        float a, float b1, float b2, float eps) override {
    time("adam", [&] { in_->adam_update_rows(p, g, m, v, rows, nrows, len, a, b1, b2, eps); });
  }
  void zero_rows(float* x, const int32_t* rows, int64_t nrows, int64_t len) override {
    time("zero_rows", [&] { in_->zero_rows(x, rows, nrows, len); });
  }
  void adamw_update(float* p, const float* g, float* m, float* v, int64_t n, float lr, float wd, float b1, float b2,
                    float eps, float bc1, float bc2_sqrt) override {
    time("adamw", [&] { in_->adamw_update(p, g, m, v, n, lr, wd, b1, b2, eps, bc1, bc2_sqrt); });
  }
  void gather_rows(const float* src, const int32_t* rows, int64_t n, int64_t D, float* dst) override {
    time("gather_rows", [&] { in_->gather_rows(src, rows, n, D, dst); });
  }
  void scatter_rows(const float* src, const int32_t* rows, int64_t n, int64_t D, float* dst) override {
    time("scatter_rows", [&] { in_->scatter_rows(src, rows, n, D, dst); });
  }

 private:
  template <typename F>
  void time(const char* what, F f) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    in_->synchronize();
    auto& t = totals[what];
    t.first += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    t.second++;
  }

  std::unique_ptr<engine::Backend> in_;
};

}  // namespace tools

// The seam between the model step and the hardware. A Backend owns device memory and runs the
// kernels of the model on it; the model runner (model/encoder.cc) is written once against
// this interface. Kernel pointers are device pointers from alloc() (host memory on the CPU
// backend). Shapes are the caller's to check: the runner sizes every buffer it passes.
//
// Adding a backend: implement this class (cpu/cpu_backend.cc is the reference), register it in
// make_backend() (backends.cc), and add its name to the per-kernel suite (tests/test_backend_ops.cc),
// which must pass before the golden model tests are run on it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace engine {

enum Activation { GELU = 0, GELU_TANH = 1, RELU = 2, TANH = 3 };

// The boundary that host memory a backend works in starts on, as the CPU backend's own buffers do
// (cpu/aligned.h). Measured on a 2-core Zen 4: oneDNN's fp32 product dx = dy W of the FFN's second
// layer (1,024 x 3,072 x 768) ran at 211 GFLOP/s with W on a 64-byte boundary, 166 with W 16 bytes
// past one (malloc's alignment, and a JavaScript ArrayBuffer's).
constexpr size_t kHostAlign = 64;

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  // True where device memory is host memory (the CPU backend): the runner may then work in
  // memory the caller owns instead of a copy, where it starts on a kHostAlign boundary.
  virtual bool host_memory() const { return false; }

  // Memory. alloc() never returns null (it throws std::bad_alloc or std::runtime_error).
  virtual void* alloc(size_t bytes) = 0;
  // Zero-filled memory. The CPU backend takes it from calloc, whose large blocks are mapped
  // lazily: pages never written (word-embedding rows no batch touched) cost no resident memory.
  virtual void* alloc_zeroed(size_t bytes) {
    void* p = alloc(bytes);
    fill_zero(p, bytes);
    return p;
  }
  virtual void release(void* p) = 0;
  virtual void upload(void* dst, const void* src, size_t bytes) = 0;
  virtual void download(void* dst, const void* src, size_t bytes) = 0;
  virtual void fill_zero(void* p, size_t bytes) = 0;
  // Waits for queued work (a no-op where kernels run synchronously).
  virtual void synchronize() {}
  // The runner says that parameter values changed (set, adopted, or an optimizer step): a backend
  // that keeps converted copies of weights (the CPU's bf16 operands) drops them.
  virtual void weights_changed() {}

  // y[N,out] = x[N,in] W[out,in]^T + b (b may be null). W is a parameter: its values may be cached in
  // another form (bf16) until weights_changed().
  virtual void linear_forward(const float* x, const float* W, const float* b, float* y, int N, int in, int out) = 0;
  // y = act(x W^T + b) (Activation), where no backward follows: one pass where the backend fuses the
  // activation into the product, else the two kernels.
  virtual void linear_act_forward(const float* x, const float* W, const float* b, float* y, int N, int in, int out,
                                  int act) {
    linear_forward(x, W, b, y, N, in, out);
    activation_forward(y, y, (int64_t)N * out, act);
  }
  // Inference's FFN: y = act(x W1^T + b1) W2^T + b2 (x [N, D]), h [N, F] the backend's scratch
  // for the activation (in a form of its own). By default the two kernels above.
  virtual void ffn_forward(const float* x, const float* W1, const float* b1, const float* W2, const float* b2, float* h,
                           float* y, int N, int D, int F, int act) {
    linear_act_forward(x, W1, b1, h, N, D, F, act);
    linear_forward(h, W2, b2, y, N, F, D);
  }
  // dx = dy W (dx_beta 0: overwrite, 1: accumulate; dx may be null); dW += dy^T x; db += colsum(dy). dW and db may
  // be null (input gradients only, as explanations take them).
  virtual void linear_backward(const float* dy, const float* x, const float* W, float* dx, float dx_beta, float* dW,
                               float* db, int N, int in, int out) = 0;
  // Training's FFN: h = x W1^T + b1 (kept: backward's input), y = act(h) W2^T + b2 (x [N, D]); h
  // and a [N, F] floats of room, h for what backward reads and a for the activation, each in a form
  // of the backend's own (the CPU's bf16 mode keeps h and the activation as bfloat16 in h). By
  // default the kernels: h itself, the activation in a.
  virtual void ffn_train_forward(const float* x, const float* W1, const float* b1, const float* W2, const float* b2,
                                 float* h, float* a, float* y, int N, int D, int F, int act) {
    linear_forward(x, W1, b1, h, N, D, F);
    activation_forward(h, a, (int64_t)N * F, act);
    linear_forward(a, W2, b2, y, N, F, D);
  }
  // Its backward from dy [N, D], forward's x and what it kept in h: dx as linear_backward's
  // (dx_beta); dW1, db1, dW2, db2 += theirs (null: input gradients only); a and dh [N, F] are
  // scratch. By default the activation is made again in a (it is not kept per layer).
  virtual void ffn_backward(const float* dy, const float* x, const float* h, float* a, const float* W1,
                            const float* W2, float* dh, float* dx, float dx_beta, float* dW1, float* db1, float* dW2,
                            float* db2, int N, int D, int F, int act) {
    activation_forward(h, a, (int64_t)N * F, act);
    linear_backward(dy, a, W2, dh, 0, dW2, db2, N, F, D);
    activation_backward(dh, h, dh, (int64_t)N * F, act);
    linear_backward(dh, x, W1, dx, dx_beta, dW1, db1, N, D, F);
  }

  // out = LayerNorm(x) * gamma + beta over rows of D (biased variance); keeps mean and rstd.
  virtual void layernorm_forward(const float* x, const float* gamma, const float* beta, float* out, float* mean,
                                 float* rstd, int N, int D, float eps) = 0;
  // sum = a + b, then out = LayerNorm(sum) as layernorm_forward's (the residual add and the norm
  // after it); sum may be a or b, and is the x that layernorm_backward then reads. By default the
  // two kernels.
  virtual void add_layernorm_forward(const float* a, const float* b, float* sum, const float* gamma, const float* beta,
                                     float* out, float* mean, float* rstd, int N, int D, float eps) {
    add(a, b, sum, (int64_t)N * D);
    layernorm_forward(sum, gamma, beta, out, mean, rstd, N, D, eps);
  }
  // dx = d/dx (overwrite), dgamma += ..., dbeta += ... (dgamma and dbeta both null: dx only)
  virtual void layernorm_backward(const float* dout, const float* x, const float* gamma, const float* mean,
                                  const float* rstd, float* dx, float* dgamma, float* dbeta, int N, int D) = 0;

  // Multi-head attention: the first Tq positions of each sequence attend to all T keys. q rows
  // have stride ldq, k and v rows stride ldkv (column blocks of a fused projection); ctx [B*Tq, D];
  // heads are column blocks of D/H. probs, B*H*Tq*T floats, keeps what backward needs: where
  // keeps_probabilities(), softmax(q k^T / sqrt(D/H), masked) before dropout as floats [B,H,Tq,T];
  // else a form of the backend's own. Null when no backward follows (inference), then the backend
  // uses scratch of its own. Attention dropout (p > 0) draws from the stream `seed`, element
  // (b,h,i,j) number ((b*H+h)*T + i)*T + j, so Tq = 1 draws what row 0 of Tq = T draws.
  virtual void attention_forward(const float* q, int ldq, const float* k, const float* v, int ldkv,
                                 const int32_t* mask, float* probs, float* ctx, int B, int Tq, int T, int D, int H,
                                 float p, uint64_t seed) = 0;
  // False where attention_forward keeps its own form in probs (CUDA bf16: bf16 probabilities and
  // the dropout mask as bits, or with heads of 64 the fused kernels' row statistics, ctx and bits;
  // CPU: fp32 the probabilities with the dropout mask in their sign bits, bf16 each row's softmax
  // statistics, or with one key (T = 1) the probabilities as fp32), which only attention_backward
  // reads, within probs's B*H*Tq*T floats.
  virtual bool keeps_probabilities() const { return true; }
  // Writes (overwrites) dq, dk, dv with the strides of q, k, v. q, k, v (their values), mask, p and
  // seed are forward's.
  virtual void attention_backward(const float* dctx, const float* q, int ldq, const float* k, const float* v, int ldkv,
                                  const int32_t* mask, const float* probs, float* dq, float* dk, float* dv, int B,
                                  int Tq, int T, int D, int H, float p, uint64_t seed) = 0;
  // A full layer's q/k/v projection, qkv = x W^T + b (x [N, D], W [3D, D]; q, k, v the adjacent
  // column blocks of qkv, [N, 3D] floats of room), its self-attention (every query row) from it,
  // and the attention output's projection, y = ctx W^T + b (W [D, D]). qkv and ctx ([N, D] floats
  // of room) are in a form of the backend's own (the CPU's bf16: bfloat16, the next products'
  // operands as they are). Three calls, so that a profile times the projections and attention
  // apart. By default the kernels above, qkv and ctx in fp32.
  virtual void qkv_forward(const float* x, const float* W, const float* b, float* qkv, int N, int D) {
    linear_forward(x, W, b, qkv, N, D, 3 * D);
  }
  virtual void attention_forward_qkv(const float* qkv, const int32_t* mask, float* probs, float* ctx, int B, int T,
                                     int D, int H, float p, uint64_t seed) {
    attention_forward(qkv, 3 * D, qkv + D, qkv + 2 * D, 3 * D, mask, probs, ctx, B, T, T, D, H, p, seed);
  }
  virtual void context_forward(const float* ctx, const float* W, const float* b, float* y, int N, int D) {
    linear_forward(ctx, W, b, y, N, D, D);
  }
  // The output projection's backward from dy [N, D] and forward's ctx: dctx (fp32, overwritten),
  // dW and db += theirs.
  virtual void context_backward(const float* dy, const float* ctx, const float* W, float* dctx, float* dW, float* db,
                                int N, int D) {
    linear_backward(dy, ctx, W, dctx, 0, dW, db, N, D, D);
  }
  // Their backward: attention's from what qkv_forward and attention_forward_qkv made, then the
  // projection's (x the layer's input): dx = the input gradient (+ dx_beta dx), dW and db += theirs.
  // Between the two, d_qkv ([B*T, 3D] floats of room) holds the gradient of q, k and v in a form of
  // the backend's own (the CPU's bf16: bfloat16, which the projection's products take as they are).
  // Two calls, so that a profile times attention and the projection apart: qkv_backward reads what
  // attention_backward_qkv wrote.
  virtual void attention_backward_qkv(const float* dctx, const float* qkv, const int32_t* mask, const float* probs,
                                      float* d_qkv, int B, int T, int D, int H, float p, uint64_t seed) {
    attention_backward(dctx, qkv, 3 * D, qkv + D, qkv + 2 * D, 3 * D, mask, probs, d_qkv, d_qkv + D, d_qkv + 2 * D, B, T,
                       T, D, H, p, seed);
  }
  virtual void qkv_backward(const float* d_qkv, const float* x, const float* W, float* dx, float dx_beta, float* dW,
                            float* db, int N, int D) {
    linear_backward(d_qkv, x, W, dx, dx_beta, dW, db, N, D, 3 * D);
  }

  // y = act(x); x and y may be the same buffer.
  virtual void activation_forward(const float* x, float* y, int64_t n, int act) = 0;
  // dx = dy * act'(x); dy and dx may be the same buffer.
  virtual void activation_backward(const float* dy, const float* x, float* dx, int64_t n, int act) = 0;

  // Inverted dropout on rows x cols (in place allowed): element (r, c) draws number
  // r * row_stride + c of the stream, so a subset of rows draws what those rows draw in the whole;
  // p is applied as rng.h rounds it (to 16 bits), kept elements scaled to match.
  virtual void dropout_forward(const float* x, float* y, int64_t rows, int64_t cols, int64_t row_stride, float p,
                               uint64_t seed) = 0;
  void dropout_backward(const float* dy, float* dx, int64_t rows, int64_t cols, int64_t row_stride, float p,
                        uint64_t seed) {
    dropout_forward(dy, dx, rows, cols, row_stride, p, seed);  // dropout is linear: the same mask and scale
  }

  // out = a + b (out may alias either).
  virtual void add(const float* a, const float* b, float* out, int64_t n) = 0;
  // x *= s
  virtual void scale(float* x, float s, int64_t n) = 0;
  // Sum of squares of x, accumulated in double (gradient clipping).
  virtual double sum_squares(const float* x, int64_t n) = 0;
  // dst row r (stride dst_stride floats) = src row r (stride src_stride) for r < rows, D floats
  // each: gathers the [CLS] rows of [B*T, D] (src_stride T*D) or scatters them back.
  virtual void copy_rows(const float* src, int64_t src_stride, float* dst, int64_t dst_stride, int64_t rows,
                         int64_t D) = 0;

  // dst[i] = src[rows[i]] for i < n (rows of D floats; rows a device int32 list).
  virtual void gather_rows(const float* src, const int32_t* rows, int64_t n, int64_t D, float* dst) = 0;
  // dst[rows[i]] = src[i] for i < n; rows distinct, the other rows of dst untouched.
  virtual void scatter_rows(const float* src, const int32_t* rows, int64_t n, int64_t D, float* dst) = 0;

  // out[b,t] = word[ids[b,t]] + pos[t]; ids must be in range (the runner checks them on the host).
  virtual void embedding_forward(const int32_t* ids, const float* word, const float* pos, float* out, int B, int T,
                                 int D) = 0;
  // dword[ids[b,t]] += dout[b,t]; dpos[t] += dout[b,t] when dpos is not null. Deterministic.
  virtual void embedding_backward(const int32_t* ids, const float* dout, float* dword, float* dpos, int B, int T,
                                  int D) = 0;

  // Softmax cross-entropy of B rows of C logits: losses[b] = lse - z[label] (float, device);
  // dlogits = ((softmax - onehot) / B) * grad_scale when dlogits is not null.
  virtual void cross_entropy(const float* logits, const int32_t* labels, float* losses, float* dlogits, int B, int C,
                             float grad_scale) = 0;

  // Keras-2.12 Adam: m += (g-m)(1-b1); v += (g^2-v)(1-b2); p -= alpha m / (sqrt(v) + eps).
  virtual void adam_update(float* p, const float* g, float* m, float* v, int64_t n, float alpha, float b1, float b2,
                           float eps) = 0;
  // The same on the listed rows (device int32 list) of row_len values each.
  virtual void adam_update_rows(float* p, const float* g, float* m, float* v, const int32_t* rows, int64_t nrows,
                                int64_t row_len, float alpha, float b1, float b2, float eps) = 0;
  virtual void zero_rows(float* x, const int32_t* rows, int64_t nrows, int64_t row_len) = 0;
  // torch.optim.AdamW: p *= 1 - lr*wd; m += (g-m)(1-b1); v = b2 v + (1-b2) g^2;
  // p -= (lr/bc1) m / (sqrt(v)/bc2_sqrt + eps), with bc1 = 1-b1^t and bc2_sqrt = sqrt(1-b2^t).
  virtual void adamw_update(float* p, const float* g, float* m, float* v, int64_t n, float lr, float wd, float b1,
                            float b2, float eps, float bc1, float bc2_sqrt) = 0;
};

// "cpu"; or "cuda" (the first GPU) or "cuda:N" (GPU N; one GPU a process) where the CUDA backend
// was built; with the precision of its matrix products ("fp32"; on CUDA also "tf32" and "bf16").
// Throws std::runtime_error naming what is missing.
std::unique_ptr<Backend> make_backend(const std::string& name, const std::string& precision = "fp32");
// Names of the backends this build holds ("cuda" where it is compiled in or its library was built).
std::vector<std::string> backend_names();
// Whether the CPU backend's products are plain reference loops (built without OpenBLAS): right
// for the per-kernel suite's references, far too slow for the product, whose addon refuses it.
bool cpu_backend_is_reference();

// A device buffer of n values of T: the handle through which the runner owns device memory.
template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(Backend* be, size_t n) : be_(be), n_(n), p_(n ? static_cast<T*>(be->alloc(n * sizeof(T))) : nullptr) {}
  struct Zeroed {};
  DeviceBuffer(Backend* be, size_t n, Zeroed) : be_(be), n_(n), p_(n ? static_cast<T*>(be->alloc_zeroed(n * sizeof(T))) : nullptr) {}
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept { *this = std::move(o); }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      reset();
      be_ = o.be_, n_ = o.n_, p_ = o.p_, owned_ = o.owned_;
      o.p_ = nullptr, o.n_ = 0, o.owned_ = true;
    }
    return *this;
  }
  ~DeviceBuffer() { reset(); }

  // A buffer over memory the caller owns (host_memory() backends only): never released here.
  static DeviceBuffer borrow(Backend* be, T* p, size_t n) {
    DeviceBuffer b;
    b.be_ = be, b.p_ = p, b.n_ = n, b.owned_ = false;
    return b;
  }

  void reset() {
    if (p_ && owned_) be_->release(p_);
    p_ = nullptr, n_ = 0, owned_ = true;
  }
  T* get() const { return p_; }
  size_t size() const { return n_; }
  void upload(const T* src, size_t n, size_t offset = 0) { be_->upload(p_ + offset, src, n * sizeof(T)); }
  void download(T* dst, size_t n, size_t offset = 0) const { be_->download(dst, p_ + offset, n * sizeof(T)); }

 private:
  Backend* be_ = nullptr;
  size_t n_ = 0;
  T* p_ = nullptr;
  bool owned_ = true;
};

}  // namespace engine

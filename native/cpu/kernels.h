// The CPU backend's kernels: plain C++ over host float buffers (OpenMP + OpenBLAS). Their
// contracts are those of the Backend methods of the same names (../backend.h).
// Layouts are row-major; Linear weights are [out, in] as in PyTorch / Hugging Face.
#pragma once
#include <cstdint>

#include "../backend.h"

namespace engine {

// CPU threads of the engine's parallel regions. this_thread: the calling thread's only (OpenMP's count is
// per thread; OpenBLAS follows the calling thread's at each call), else also OpenBLAS's process-wide default.
void set_threads(int n, bool this_thread = false);
int get_threads();

// y[N,out] = x[N,in] W[out,in]^T + b, then the Activation act where act >= 0 (fused into the
// product's output pass). bf16: products with bfloat16 operands, fp32 accumulation.
void linear_forward(const float* x, const float* W, const float* b, float* y, int N, int in, int out, bool bf16 = false,
                    int act = -1);
// dx = dy W (dx_beta 0: overwrite, 1: accumulate); dW += dy^T x; db += colsum(dy). dx may be null.
void linear_backward(const float* dy, const float* x, const float* W, float* dx, float dx_beta, float* dW, float* db,
                     int N, int in, int out, bool bf16 = false);

// out = LayerNorm(x) * gamma + beta over rows of D; keeps mean and rstd for backward. With r, the
// rows normalized are x + r, written to sum first (sum may be x or r).
void layernorm_forward(const float* x, const float* gamma, const float* beta, float* out, float* mean, float* rstd,
                       int N, int D, float eps, const float* r = nullptr, float* sum = nullptr);
// dx = d/dx (overwrite), dgamma += ..., dbeta += ...
void layernorm_backward(const float* dout, const float* x, const float* gamma, const float* mean, const float* rstd,
                        float* dx, float* dgamma, float* dbeta, int N, int D);

// Multi-head attention core: the first Tq positions of each sequence attend to all T keys.
// q [B*Tq rows, stride ldq], k and v [B*T rows, stride ldkv] (column blocks of a fused qkv or kv
// projection), ctx [B*Tq, D]; heads are column blocks of D/H. Attention dropout (p > 0) draws from
// the counter-based RNG stream `seed`. probs (B*H*Tq*T floats of room) keeps what backward reads:
// fp32, softmax(q k^T * scale, masked) before dropout as [B,H,Tq,T], with the sign bit set where
// dropout drops the weight; bf16, each score row's largest value and inverse sum of exponentials
// ([B,H,Tq] pairs), from which backward computes the row again and draws its mask again.
// Tq = T is self-attention; Tq = 1 computes the [CLS] row only. probs may be null (inference).
// bf16: the products take bfloat16 operands (fp32 accumulation); softmax and dropout stay fp32.
// Backward takes forward's mask, probs, p and seed, and writes dq, dk, dv with the strides of q, k, v;
// with out16 (bf16 only) as bfloat16 bits, element (r, c) of dq at (uint16_t*)dq + r * ldq + c and dk,
// dv at the same element offsets from dq as their float pointers (a [B*T, 3D] bf16 matrix in the
// room of an fp32 one, where dq, dk, dv are its column blocks). With in16 (bf16 only; forward and
// backward alike) q, k and v are bfloat16 bits in the same way, read in place by the products, and
// forward writes ctx as bfloat16 bits ([B*Tq, D] of them in its room).
void attention_forward(const float* q, int ldq, const float* k, const float* v, int ldkv, const int32_t* mask,
                       float* probs, float* ctx, int B, int Tq, int T, int D, int H, float p, uint64_t seed, bool bf16,
                       bool in16 = false);
void attention_backward(const float* dctx, const float* q, int ldq, const float* k, const float* v, int ldkv,
                        const int32_t* mask, const float* probs, float* dq, float* dk, float* dv, int B, int Tq, int T,
                        int D, int H, float p, uint64_t seed, bool bf16, bool out16 = false, bool in16 = false);

void activation_forward(const float* x, float* y, int64_t n, int act);
void activation_backward(const float* dy, const float* x, float* dx, int64_t n, int act);
// The same on bfloat16 bits (the bf16 FFN's kept pre-activation x), with bfloat16 bits out as the
// next bf16 product's operand: y = act(x); d = dy * act'(x) over rows x cols, its column sums (of
// the floats, before rounding) added to colsum where given.
void activation_forward_bf16(const uint16_t* x, uint16_t* y, int64_t n, int act);
void activation_backward_bf16(const float* dy, const uint16_t* x, uint16_t* d, float* colsum, int64_t rows,
                              int64_t cols, int act);
// A rows x cols block of floats (row stride ld) as contiguous bfloat16 bits in d, on every thread;
// with colsum, the block's column sums (of the floats) added to colsum[cols] on the way.
void to_bf16_block(const float* src, int64_t rows, int64_t cols, int64_t ld, uint16_t* d, float* colsum = nullptr);
// The column sums of a rows x cols block of bfloat16 bits, added to colsum[cols].
void bf16_column_sums(const uint16_t* src, int64_t rows, int64_t cols, float* colsum);

// Inverted dropout on rows x cols: y = x * keep / (1 - p), keep drawn from the counter-based RNG;
// element (r, c) draws number r * row_stride + c, so a subset of rows (row_stride = a multiple
// of cols) draws what those rows draw in the whole tensor.
void dropout_forward(const float* x, float* y, int64_t rows, int64_t cols, int64_t row_stride, float p, uint64_t seed);

void add(const float* a, const float* b, float* out, int64_t n);
void scale(float* x, float s, int64_t n);
double sum_squares(const float* x, int64_t n);
void copy_rows(const float* src, int64_t src_stride, float* dst, int64_t dst_stride, int64_t rows, int64_t D);

// dst[i] = src[rows[i]]; and back: dst[rows[i]] = src[i] (rows of D floats).
void gather_rows(const float* src, const int32_t* rows, int64_t n, int64_t D, float* dst);
void scatter_rows(const float* src, const int32_t* rows, int64_t n, int64_t D, float* dst);

// out[b,t] = word[ids[b,t]] + pos[t] (ids already checked).
void embedding_forward(const int32_t* ids, const float* word, const float* pos, float* out, int B, int T, int D);
// dpos may be null (fixed position embeddings).
void embedding_backward(const int32_t* ids, const float* dout, float* dword, float* dpos, int B, int T, int D);

// losses[b] = lse - z[label]; dlogits = ((softmax - onehot) / B) * grad_scale (if not null).
void cross_entropy(const float* logits, const int32_t* labels, float* losses, float* dlogits, int B, int C,
                   float grad_scale);

// Keras-2.12 Adam: m += (g-m)(1-b1); v += (g^2-v)(1-b2); p -= alpha m / (sqrt(v) + eps).
void adam_update(float* p, const float* g, float* m, float* v, int64_t n, float alpha, float b1, float b2, float eps);

// The same update on the listed rows only (rows x row_len).
void adam_update_rows(float* p, const float* g, float* m, float* v, const int32_t* rows, int64_t nrows, int64_t row_len,
                      float alpha, float b1, float b2, float eps);
void zero_rows(float* x, const int32_t* rows, int64_t nrows, int64_t row_len);

// torch.optim.AdamW (decoupled weight decay, bias-corrected, eps added to sqrt(v_hat)).
void adamw_update(float* p, const float* g, float* m, float* v, int64_t n, float lr, float wd, float b1, float b2,
                  float eps, float bc1, float bc2_sqrt);

}  // namespace engine

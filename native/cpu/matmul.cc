// See matmul.h. Measured on this 2-core Zen 5 (bench, and a microbenchmark of the linear layers'
// shapes): oneDNN's brgemm matmul runs M = 128 products (one 128-token text) at 208-212 GFLOP/s
// where OpenBLAS's Haswell kernels run 170-190, and large ones 3-10% faster; hence oneDNN for
// the linear layers, and for attention's products (thread_matmul: each thread its own
// (sequence, head) pairs, attention.cc).
#include "matmul.h"

#include <omp.h>

#include <cstdint>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>
#include <unordered_map>

#include "aligned.h"
#include "kernels.h"

#ifdef ENGINE_WITH_ONEDNN
#include <dnnl.hpp>
#else
#include "blas.h"
#endif

namespace engine {

namespace {

// An empty inner dimension (no tokens in a gradient product): C = beta C + bias, no library call.
void scale_add_bias(int M, int N, const float* bias, float beta, float* C, int ldc) {
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) {
      float& c = C[(int64_t)i * ldc + j];
      c = (beta != 0.0f ? beta * c : 0.0f) + (bias ? bias[j] : 0.0f);
    }
}

// C = act(C) where act >= 0.
void activate(int M, int N, float* C, int ldc, int act) {
  if (act < 0) return;
  if (ldc == N) return activation_forward(C, C, (int64_t)M * N, act);
  for (int i = 0; i < M; i++) activation_forward(C + (int64_t)i * ldc, C + (int64_t)i * ldc, N, act);
}

}  // namespace

#ifdef ENGINE_WITH_ONEDNN

namespace {

struct Shape {
  // c16: C is bfloat16 (an intermediate that only a bf16 product reads); packed_b: B is a weight's
  // packed copy (see Matmuls::product).
  bool ta, tb, bias, bf16, c16, packed_b;
  int M, N, K, lda, ldb, ldc, act;
  float beta;
  Batch batch;  // thread_matmul's; count 1 elsewhere
  bool operator==(const Shape& o) const { return std::memcmp(this, &o, sizeof(Shape)) == 0; }
};

template <typename S>
struct BytesHash {
  size_t operator()(const S& s) const {
    uint64_t h = 1469598103934665603ull;
    const unsigned char* p = reinterpret_cast<const unsigned char*>(&s);
    for (size_t i = 0; i < sizeof(S); i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
  }
};

// oneDNN's form of an Activation (backend.h): erf GELU, tanh GELU, ReLU, tanh.
dnnl::algorithm eltwise_of(int act) {
  switch (act) {
    case GELU: return dnnl::algorithm::eltwise_gelu_erf;
    case GELU_TANH: return dnnl::algorithm::eltwise_gelu_tanh;
    case TANH: return dnnl::algorithm::eltwise_tanh;
    default: return dnnl::algorithm::eltwise_relu;
  }
}

struct Primitive {
  dnnl::memory::desc a, b, bias, c;
  dnnl::matmul prim;
};

// The matmul primitive of shape s, operands read with s's strides, for the threads that
// dnnl_get_max_threads() gives its caller.
Primitive create_primitive(const dnnl::engine& engine, const Shape& s) {
  using dnnl::memory;
  using dims = memory::dims;
  const auto f32 = memory::data_type::f32;
  const auto in = s.bf16 ? memory::data_type::bf16 : f32;
  // Strides give the transposes: a [M,K] view of a row-major [K,M] buffer has strides {1, lda}.
  const dims sa = s.ta ? dims{1, s.lda} : dims{s.lda, 1}, sb = s.tb ? dims{1, s.ldb} : dims{s.ldb, 1};
  memory::desc a({s.M, s.K}, in, sa);
  memory::desc b = s.packed_b ? memory::desc({s.K, s.N}, in, memory::format_tag::any)
                              : memory::desc({s.K, s.N}, in, sb);
  memory::desc c({s.M, s.N}, s.c16 ? memory::data_type::bf16 : f32, dims{s.ldc, 1});
  if (s.batch.count > 1) {
    const int64_t n = s.batch.count;
    a = memory::desc({n, s.M, s.K}, in, {s.batch.a, sa[0], sa[1]});
    b = memory::desc({n, s.K, s.N}, in, {s.batch.b, sb[0], sb[1]});
    c = memory::desc({n, s.M, s.N}, f32, {s.batch.c, s.ldc, 1});
  }
  memory::desc bias = s.bias ? memory::desc({1, s.N}, f32, dims{s.N, 1}) : memory::desc();
  dnnl::primitive_attr attr;
  dnnl::post_ops ops;
  if (s.beta != 0.0f) ops.append_sum(s.beta);
  if (s.act >= 0) ops.append_eltwise(1.0f, eltwise_of(s.act), 0.0f, 0.0f);
  attr.set_post_ops(ops);
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b, bias, c), attr, engine);
  return {a, pd.weights_desc(), bias, c, dnnl::matmul(pd)};
}

// Training sees a new token count per batch, so the cache is bounded: past the limit it starts
// afresh (a primitive is rebuilt in well under a millisecond).
constexpr size_t kMaxCached = 512;

// Rows from which a bf16 product packs a weight on its first read (see Matmuls::product).
constexpr int kPackRows = 2048;

class Matmuls {
  // A weight's copy: plain bfloat16 (rows x cols as stored), or packed for B = W^T or B = W.
  enum CopyForm : int64_t { kPlain, kPacked, kPackedT };
  struct CopyKey {  // int64_t fields: no padding bytes in the hash
    const float* p;
    int64_t rows, cols, ld, form, bf16;
    bool operator==(const CopyKey& o) const { return std::memcmp(this, &o, sizeof(CopyKey)) == 0; }
  };
  struct Copy {
    AlignedVector<char> bytes;
    dnnl::memory::desc layout;  // packed copies: oneDNN's layout
    // current: made since the last weights_changed(); used: read since; seen: read once (see product).
    bool current = false, used = false, seen = false;
  };

 public:
  Matmuls() : engine_(dnnl::engine::kind::cpu, 0), stream_(engine_) {}

  // weight: B is a parameter, unchanged until the next weights_changed(). a_ready: A is contiguous
  // bfloat16 already.
  void run(const Shape& s, const float* A, const float* B, const float* bias, float* C, bool weight,
           bool a_ready = false) {
    std::lock_guard<std::mutex> lock(mu_);
    // A bf16 operand is stored rows x cols as it lies in memory (transposed or not), made contiguous.
    if (s.bf16 && !a_ready) A = convert(A, s.ta ? s.K : s.M, s.ta ? s.M : s.K, s.lda, a16_);
    product(s, A, B, bias, C, weight);
  }

  // Inference's FFN in bf16: the activation leaves the first product as bfloat16 (into h) and is
  // the second's A operand as it is, where an fp32 activation would be written, read and converted.
  void run_ffn(const Shape& s1, const Shape& s2, const float* x, const float* W1, const float* b1, const float* W2,
               const float* b2, float* h, float* y) {
    std::lock_guard<std::mutex> lock(mu_);
    product(s1, convert(x, s1.M, s1.K, s1.lda, a16_), W1, b1, h, true);
    product(s2, h, W2, b2, y, true);
  }

  // Training's FFN in bf16 (see ffn_train_forward_bf16): h = x W1^T + b1 out of the product as
  // bfloat16 (s1 has c16), the activation from it as bfloat16 too, both kept in h's room for
  // backward; the activation is the second product's A operand.
  void run_ffn_train(const Shape& s1, const Shape& s2, const float* x, const float* W1, const float* b1,
                     const float* W2, const float* b2, float* h, float* y, int act) {
    std::lock_guard<std::mutex> lock(mu_);
    const int64_t NF = (int64_t)s1.M * s1.N;
    uint16_t* h16 = reinterpret_cast<uint16_t*>(h);
    product(s1, convert(x, s1.M, s1.K, s1.lda, a16_), W1, b1, h, true);
    activation_forward_bf16(h16, h16 + NF, NF, act);
    product(s2, reinterpret_cast<const float*>(h16 + NF), W2, b2, y, true);
  }

  // Its backward (see ffn_backward_bf16). sx2, sw2: the second layer's dx and dW products; sx1, sw1
  // the first's. Forward's bf16 activation is the B operand of dW2; the gradient of h goes as bf16
  // into a, the A operand of dx and dW1.
  void run_ffn_backward(const Shape& sx2, const Shape& sw2, const Shape& sx1, const Shape& sw1, const float* dy,
                        const float* x, const float* h, float* a, const float* W1, const float* W2, float* dh,
                        float* dx, float* dW1, float* db1, float* dW2, float* db2, int act) {
    std::lock_guard<std::mutex> lock(mu_);
    const int64_t N = sx2.M, F = sx2.N;
    const uint16_t* h16 = reinterpret_cast<const uint16_t*>(h);
    const float* dy16 = convert(dy, N, sx2.K, sx2.lda, a16_, db2);
    product(sx2, dy16, W2, nullptr, dh, true);
    if (dW2) product(sw2, dy16, reinterpret_cast<const float*>(h16 + N * F), nullptr, dW2, false, true);
    activation_backward_bf16(dh, h16, reinterpret_cast<uint16_t*>(a), db1, N, F, act);
    if (dx) product(sx1, a, W1, nullptr, dx, true);
    if (dW1) product(sw1, a, x, nullptr, dW1, false);
  }

  // A linear layer's bf16 gradient products (dx and dW shapes), dy converted once: it is the A
  // operand of both; its column sums go to db on the way. dy_ready: dy is contiguous bfloat16
  // already (db summed from it); x_ready: x is.
  void run_gradients(const Shape& sx, const Shape& sw, const float* dy, const float* x, const float* W, float* dx,
                     float* dW, float* db, bool dy_ready, bool x_ready) {
    std::lock_guard<std::mutex> lock(mu_);
    if (dy_ready && db) bf16_column_sums(reinterpret_cast<const uint16_t*>(dy), sw.K, sw.M, db);
    const float* dy16 = dy_ready ? dy : convert(dy, sw.K, sw.M, sw.lda, a16_, db);
    if (dx) product(sx, dy16, W, nullptr, dx, true);
    if (dW) product(sw, dy16, x, nullptr, dW, false, x_ready);
  }

  // The weight copies are made again in place on their next use (a training step's optimizer
  // changes every weight: freeing and allocating them again cost page faults on 85 MB each step);
  // copies unused since the previous change (a model no longer run) are freed.
  void drop_weights() {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = copies_.begin(); it != copies_.end();) {
      if (!it->second.used) {
        it = copies_.erase(it);
      } else {
        it->second.current = it->second.used = it->second.seen = false;
        ++it;
      }
    }
  }

 private:
  // C = op(A) op(B) (+ bias) by the primitive of shape s. A is ready (contiguous bfloat16 bits
  // where s.bf16); B is as stored, converted here where s.bf16 (b_ready: it is bfloat16 already),
  // or a weight, read from a kept copy.
  //
  // A weight read again before it changes (inference; a training step's next micro-batch) is read
  // from a packed copy: in the blocked layout, and type, that oneDNN asks for (see pack). Measured
  // on this AMX Xeon at distilbert-base shapes, against plain row-major operands: bf16
  // 1,460-1,980 -> 1,930-2,430 GFLOP/s, fp32 180-350 -> 350-380. Making the copy costs a pass over
  // the weight in each orientation (a reorder from fp32), which a training step reads once in each
  // orientation: that pays under bf16 from about 2,000 rows (kPackRows; train_8x512 +3-4%, 4,096
  // rows; train_8x128 -6%, 1,024 rows), and not in fp32 (train_8x128 and 8x512 3-6% slower, 340 MB
  // more). Otherwise a first read takes the weight as it is, or under bf16 its plain bf16 copy (one
  // for both orientations).
  void product(Shape s, const float* A, const float* B, const float* bias, float* C, bool weight, bool b_ready = false) {
    const int64_t rows = s.tb ? s.N : s.K, cols = s.tb ? s.K : s.N;  // B as stored
    Copy* packed = nullptr;
    if (weight) {
      Copy& e = copies_[CopyKey{B, s.K, s.N, s.ldb, s.tb ? kPackedT : kPacked, s.bf16}];
      e.used = true;
      if (!e.current && !e.seen && !(s.bf16 && s.M >= kPackRows))
        e.seen = true;
      else
        packed = &e;
    }
    s.packed_b = packed != nullptr;
    Primitive& p = primitive(s);
    if (packed)
      B = pack(*packed, s, p.b, B);
    else if (s.bf16 && weight)
      B = plain16(B, rows, cols, s.ldb);
    else if (s.bf16 && !b_ready)
      B = convert(B, rows, cols, s.ldb, b16_);
    using dnnl::memory;
    memory a(p.a, engine_, const_cast<float*>(A)), b(p.b, engine_, const_cast<float*>(B)), c(p.c, engine_, C);
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, c}};
    if (s.bias) args.emplace(DNNL_ARG_BIAS, memory(p.bias, engine_, const_cast<float*>(bias)));
    p.prim.execute(stream_, args);
    stream_.wait();
  }

  // src as contiguous bfloat16 in dst (its bits, typed as the matmul operands are); with colsum,
  // its column sums added there.
  const float* convert(const float* src, int64_t rows, int64_t cols, int64_t ld, AlignedVector<uint16_t>& dst,
                       float* colsum = nullptr) {
    dst.resize((size_t)(rows * cols));
    to_bf16_block(src, rows, cols, ld, dst.data(), colsum);
    return reinterpret_cast<const float*>(dst.data());
  }

  // The weight W (rows x cols, row stride ld) as contiguous bfloat16, converted where it changed since.
  const float* plain16(const float* W, int64_t rows, int64_t cols, int64_t ld) {
    Copy& e = copies_[CopyKey{W, rows, cols, ld, kPlain, 1}];
    if (!e.current) {
      e.bytes.resize((size_t)(rows * cols) * sizeof(uint16_t));
      to_bf16_block(W, rows, cols, ld, reinterpret_cast<uint16_t*>(e.bytes.data()));
      e.current = true;
    }
    e.used = true;
    return reinterpret_cast<const float*>(e.bytes.data());
  }

  // e, the copy of weight W (the B operand of shape s) in `layout`: the blocked form and type
  // (fp32 or bf16) that s's primitive asks for, the same for every row count M. Made by one oneDNN
  // reorder (converting to bf16 on the way) where the weights changed since; a bf16 weight's plain
  // copy is freed then, as every later read takes this one.
  const float* pack(Copy& e, const Shape& s, const dnnl::memory::desc& layout, const float* W) {
    using dnnl::memory;
    if (!e.current || !(e.layout == layout)) {
      if (!(e.layout == layout)) e.bytes.resize(layout.get_size()), e.layout = layout;
      const memory::desc plain({s.K, s.N}, memory::data_type::f32, s.tb ? memory::dims{1, s.ldb} : memory::dims{s.ldb, 1});
      memory from(plain, engine_, const_cast<float*>(W)), to(layout, engine_, e.bytes.data());
      dnnl::reorder(from, to).execute(stream_, from, to);
      stream_.wait();
      e.current = true;
      if (s.bf16) copies_.erase(CopyKey{W, s.tb ? s.N : s.K, s.tb ? s.K : s.N, s.ldb, kPlain, 1});
    }
    return reinterpret_cast<const float*>(e.bytes.data());
  }

  // The cached primitive of shape s, created on first use. bf16 operands were made contiguous:
  // their leading dimension is their stored width.
  Primitive& primitive(const Shape& s) {
    auto it = cache_.find(s);
    if (it == cache_.end()) {
      if (cache_.size() >= kMaxCached) cache_.clear();
      Shape strides = s;
      if (s.bf16) strides.lda = s.ta ? s.M : s.K, strides.ldb = s.tb ? s.K : s.N;
      it = cache_.emplace(s, create_primitive(engine_, strides)).first;
    }
    return it->second;
  }

  dnnl::engine engine_;
  dnnl::stream stream_;
  std::mutex mu_;
  std::unordered_map<Shape, Primitive, BytesHash<Shape>> cache_;
  AlignedVector<uint16_t> a16_, b16_;  // bf16 copies of the operands (reused)
  // Weight copies, current until the next weights_changed() (any model's: conservative).
  std::unordered_map<CopyKey, Copy, BytesHash<CopyKey>> copies_;
};

Matmuls& matmuls() {
  static Matmuls m;
  return m;
}

}  // namespace

namespace {

Shape make_shape(bool ta, bool tb, int M, int N, int K, int lda, int ldb, int ldc, bool bias, float beta, bool bf16,
                 int act = -1) {
  Shape s;
  std::memset(&s, 0, sizeof s);  // padding bytes take part in the hash and comparison
  s.ta = ta, s.tb = tb, s.bias = bias, s.bf16 = bf16, s.M = M, s.N = N, s.K = K, s.lda = lda, s.ldb = ldb, s.ldc = ldc;
  s.beta = beta, s.act = act, s.batch.count = 1;
  return s;
}

// A bf16 linear layer's products over N rows (W [out, in]): forward y = x W^T + b, and the
// gradients dx = dy W (+ dx_beta dx) and dW += dy^T x.
Shape forward_shape(int N, int in, int out) { return make_shape(false, true, N, out, in, in, in, out, true, 0.0f, true); }
Shape dx_shape(int N, int in, int out, float dx_beta) {
  return make_shape(false, false, N, in, out, out, in, in, false, dx_beta, true);
}
Shape dw_shape(int N, int in, int out) { return make_shape(true, false, out, in, N, out, in, in, false, 1.0f, true); }

std::runtime_error matmul_error(const Shape& s, const dnnl::error& e) {
  return std::runtime_error(std::string("oneDNN matmul ") + std::to_string(s.M) + "x" + std::to_string(s.N) + "x" +
                            std::to_string(s.K) + ": " + e.what());
}

}  // namespace

void matmul(bool ta, bool tb, int M, int N, int K, const float* A, int lda, const float* B, int ldb, const float* bias,
            float beta, float* C, int ldc, bool bf16, bool b_is_weight, int act) {
  if (M == 0 || N == 0) return;
  if (K == 0) {
    scale_add_bias(M, N, bias, beta, C, ldc);
    return activate(M, N, C, ldc, act);
  }
  const Shape s = make_shape(ta, tb, M, N, K, lda, ldb, ldc, bias != nullptr, beta, bf16, act);
  try {
    matmuls().run(s, A, B, bias, C, b_is_weight);
  } catch (const dnnl::error& e) {
    throw matmul_error(s, e);
  }
}

void linear_forward16(const float* x, const float* W, const float* b, uint16_t* y, int N, int in, int out) {
  if (N == 0) return;
  Shape s = forward_shape(N, in, out);
  s.c16 = true;
  try {
    matmuls().run(s, x, W, b, reinterpret_cast<float*>(y), true);
  } catch (const dnnl::error& e) {
    throw matmul_error(s, e);
  }
}

void linear_forward_from16(const uint16_t* x, const float* W, const float* b, float* y, int N, int in, int out) {
  if (N == 0) return;
  const Shape s = forward_shape(N, in, out);
  try {
    matmuls().run(s, reinterpret_cast<const float*>(x), W, b, y, true, true);
  } catch (const dnnl::error& e) {
    throw matmul_error(s, e);
  }
}

void ffn_forward_bf16(const float* x, const float* W1, const float* b1, const float* W2, const float* b2, float* h,
                      float* y, int N, int D, int F, int act) {
  if (N == 0) return;
  Shape s1 = forward_shape(N, D, F);
  s1.act = act;
  s1.c16 = true;
  const Shape s2 = forward_shape(N, F, D);
  try {
    matmuls().run_ffn(s1, s2, x, W1, b1, W2, b2, h, y);
  } catch (const dnnl::error& e) {
    throw matmul_error(s1, e);
  }
}

void ffn_train_forward_bf16(const float* x, const float* W1, const float* b1, const float* W2, const float* b2,
                            float* h, float* y, int N, int D, int F, int act) {
  if (N == 0) return;
  Shape s1 = forward_shape(N, D, F);
  s1.c16 = true;
  const Shape s2 = forward_shape(N, F, D);
  try {
    matmuls().run_ffn_train(s1, s2, x, W1, b1, W2, b2, h, y, act);
  } catch (const dnnl::error& e) {
    throw matmul_error(s1, e);
  }
}

void ffn_backward_bf16(const float* dy, const float* x, const float* h, float* a, const float* W1, const float* W2,
                       float* dh, float* dx, float dx_beta, float* dW1, float* db1, float* dW2, float* db2, int N, int D,
                       int F, int act) {
  if (N == 0) return;  // no tokens: dx has no rows, the parameters' gradients are unchanged
  const Shape sx2 = dx_shape(N, F, D, 0.0f), sw2 = dw_shape(N, F, D), sx1 = dx_shape(N, D, F, dx_beta),
              sw1 = dw_shape(N, D, F);
  try {
    matmuls().run_ffn_backward(sx2, sw2, sx1, sw1, dy, x, h, a, W1, W2, dh, dx, dW1, db1, dW2, db2, act);
  } catch (const dnnl::error& e) {
    throw matmul_error(sx2, e);
  }
}

void linear_gradients_bf16(const float* dy, const float* x, const float* W, float* dx, float dx_beta, float* dW,
                           float* db, int N, int in, int out, bool dy16, bool x16) {
  if (N == 0) return;  // no tokens: dx has no rows, dW is unchanged
  const Shape sx = dx_shape(N, in, out, dx_beta), sw = dw_shape(N, in, out);
  try {
    matmuls().run_gradients(sx, sw, dy, x, W, dx, dW, db, dy16, x16);
  } catch (const dnnl::error& e) {
    throw matmul_error(dx ? sx : sw, e);
  }
}

void thread_matmul(bool ta, bool tb, int M, int N, int K, const void* A, int lda, const void* B, int ldb, float beta,
                   float* C, int ldc, bool bf16, Batch batch) {
  if (M == 0 || N == 0 || batch.count == 0) return;
  if (K == 0) {
    for (int i = 0; i < batch.count; i++) scale_add_bias(M, N, nullptr, beta, C + i * batch.c, ldc);
    return;
  }
  // The calling thread's primitives, made for one thread: inside a parallel region oneDNN runs a
  // primitive on its caller alone, so one that was made for more would do only the first thread's
  // share of the work.
  struct Products {
    dnnl::engine engine{dnnl::engine::kind::cpu, 0};
    dnnl::stream stream{engine};
    std::unordered_map<Shape, Primitive, BytesHash<Shape>> cache;
  };
  thread_local Products own;
  Shape s = make_shape(ta, tb, M, N, K, lda, ldb, ldc, false, beta, bf16);
  if (batch.count > 1) s.batch.count = batch.count, s.batch.a = batch.a, s.batch.b = batch.b, s.batch.c = batch.c;
  try {
    auto it = own.cache.find(s);
    if (it == own.cache.end()) {
      if (own.cache.size() >= kMaxCached) own.cache.clear();
      // Made while this thread's OpenMP count is 1 (restored however creation ends).
      struct OneThread {
        const int threads = omp_get_max_threads();
        OneThread() { omp_set_num_threads(1); }
        ~OneThread() { omp_set_num_threads(threads); }
      } one;
      it = own.cache.emplace(s, create_primitive(own.engine, s)).first;
    }
    using dnnl::memory;
    Primitive& p = it->second;
    memory a(p.a, own.engine, const_cast<void*>(A)), b(p.b, own.engine, const_cast<void*>(B)), c(p.c, own.engine, C);
    p.prim.execute(own.stream, {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, c}});
    own.stream.wait();
  } catch (const dnnl::error& e) {
    throw matmul_error(s, e);
  }
}

void weights_changed() { matmuls().drop_weights(); }

std::string bf16_unsupported_reason() {
  // The ISA values are nested bit sets: every ISA with native bf16 holds avx512_core_bf16's bits.
  const unsigned isa = (unsigned)dnnl::get_effective_cpu_isa(), bf16 = (unsigned)dnnl::cpu_isa::avx512_core_bf16;
  if ((isa & bf16) == bf16) return "";
  return "this CPU has no native bf16 matrix products (AVX512_BF16 or AMX): use --precision fp32";
}

// Measured on a 2-core Xeon with AMX (distilbert-base shapes, 1,024 and 4,096 rows): oneDNN's fp32
// matmul runs the gradient products at 260-290 GFLOP/s, and the FFN's second layer's (dx with
// K = 768, N = 3072; dW with M = 768, K = rows) at 123-141, where OpenBLAS's sgemm runs every one
// of them at 288-306. On a 2-core Zen 4 (AVX-512 on a 256-bit datapath) oneDNN runs them at
// 205-230, OpenBLAS at 168-212, but for the dW of a layer whose input is wider than its output
// (the FFN's second: oneDNN 164-173, OpenBLAS 197-204; on another machine of that kind, later, a
// harness put both at 196-216 and train_8x128 ran the same either way).
BlasGradients blas_gradient_products(int in, int out) {
  static const bool amx = [] {
    const unsigned isa = (unsigned)dnnl::get_effective_cpu_isa(), bits = (unsigned)dnnl::cpu_isa::avx512_core_amx;
    return (isa & bits) == bits;
  }();
  return {amx, amx || in > out};
}

#else

void matmul(bool ta, bool tb, int M, int N, int K, const float* A, int lda, const float* B, int ldb, const float* bias,
            float beta, float* C, int ldc, bool bf16, bool, int act) {
  if (bf16) throw std::runtime_error(bf16_unsupported_reason());
  if (M == 0 || N == 0) return;
  if (bias || K == 0) {
    // beta applies to what C held; the bias joins it after the scaling.
    scale_add_bias(M, N, bias, beta, C, ldc);
    beta = 1.0f;
  }
  if (K > 0)
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, 1.0f, A, lda,
                B, ldb, beta, C, ldc);
  activate(M, N, C, ldc, act);
}

void linear_forward16(const float*, const float*, const float*, uint16_t*, int, int, int) {
  throw std::runtime_error(bf16_unsupported_reason());
}

void linear_forward_from16(const uint16_t*, const float*, const float*, float*, int, int, int) {
  throw std::runtime_error(bf16_unsupported_reason());
}

void ffn_forward_bf16(const float*, const float*, const float*, const float*, const float*, float*, float*, int, int,
                      int, int) {
  throw std::runtime_error(bf16_unsupported_reason());
}

void ffn_train_forward_bf16(const float*, const float*, const float*, const float*, const float*, float*, float*, int,
                            int, int, int) {
  throw std::runtime_error(bf16_unsupported_reason());
}

void ffn_backward_bf16(const float*, const float*, const float*, float*, const float*, const float*, float*, float*,
                       float, float*, float*, float*, float*, int, int, int, int) {
  throw std::runtime_error(bf16_unsupported_reason());
}

void linear_gradients_bf16(const float*, const float*, const float*, float*, float, float*, float*, int, int, int, bool,
                           bool) {
  throw std::runtime_error(bf16_unsupported_reason());
}

void thread_matmul(bool ta, bool tb, int M, int N, int K, const void* A, int lda, const void* B, int ldb, float beta,
                   float* C, int ldc, bool bf16, Batch batch) {
  if (bf16) throw std::runtime_error(bf16_unsupported_reason());
  if (M == 0 || N == 0) return;
  // Inside a parallel region OpenBLAS's OpenMP build runs the sgemm on the calling thread.
  for (int i = 0; i < batch.count; i++) {
    float* c = C + i * batch.c;
    if (K == 0) {
      scale_add_bias(M, N, nullptr, beta, c, ldc);
      continue;
    }
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, 1.0f,
                static_cast<const float*>(A) + i * batch.a, lda, static_cast<const float*>(B) + i * batch.b, ldb, beta,
                c, ldc);
  }
}

void weights_changed() {}

std::string bf16_unsupported_reason() {
  return "bf16 matrix products on the CPU need the oneDNN build of the engine (libdnnl-dev): use --precision fp32";
}

BlasGradients blas_gradient_products(int, int) { return {false, false}; }  // matmul() is sgemm already

#endif

}  // namespace engine

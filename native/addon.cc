// N-API surface of the engine: each export unpacks typed arrays and sizes, checks that every
// buffer is large enough for the shapes given (a wrong size is a JS TypeError, never a stray
// write), then calls the kernel. Arrays are views into JS memory; nothing is copied.
#include <napi.h>

#include <cstdint>
#include <string>

#include "kernels.h"

namespace {

class Args {
 public:
  Args(const Napi::CallbackInfo& info, const char* fn) : info_(info), fn_(fn) {}

  int64_t integer(size_t i) {
    if (failed_) return 0;
    if (i >= info_.Length() || !info_[i].IsNumber()) return fail(i, "a number"), 0;
    return info_[i].As<Napi::Number>().Int64Value();
  }

  double number(size_t i) {
    if (failed_) return 0;
    if (i >= info_.Length() || !info_[i].IsNumber()) return fail(i, "a number"), 0;
    return info_[i].As<Napi::Number>().DoubleValue();
  }

  float* f32(size_t i, int64_t need, bool nullable = false) { return typed<float>(i, need, nullable, napi_float32_array, "a Float32Array"); }

  int32_t* i32(size_t i, int64_t need) { return typed<int32_t>(i, need, false, napi_int32_array, "an Int32Array"); }

  bool failed() const { return failed_; }

 private:
  template <typename T>
  T* typed(size_t i, int64_t need, bool nullable, napi_typedarray_type type, const char* what) {
    if (failed_) return nullptr;
    if (i < info_.Length() && nullable && (info_[i].IsNull() || info_[i].IsUndefined())) return nullptr;
    if (i >= info_.Length() || !info_[i].IsTypedArray() || info_[i].As<Napi::TypedArray>().TypedArrayType() != type)
      return fail(i, what), nullptr;
    auto arr = info_[i].As<Napi::TypedArrayOf<T>>();
    if (need < 0 || (int64_t)arr.ElementLength() < need) {
      fail(i, (std::string(what) + " of at least " + std::to_string(need) + " elements (got " +
               std::to_string(arr.ElementLength()) + ")").c_str());
      return nullptr;
    }
    return arr.Data();
  }

  void fail(size_t i, const char* what) {
    failed_ = true;
    Napi::TypeError::New(info_.Env(), std::string(fn_) + ": argument " + std::to_string(i) + " must be " + what)
        .ThrowAsJavaScriptException();
  }

  const Napi::CallbackInfo& info_;
  const char* fn_;
  bool failed_ = false;
};

#define CHECK_ARGS(a) \
  if ((a).failed()) return info.Env().Undefined()

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  Args a(info, "setThreads");
  const int64_t n = a.integer(0);
  CHECK_ARGS(a);
  if (n < 1) {
    Napi::RangeError::New(info.Env(), "setThreads: need at least 1 thread").ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  engine::set_threads((int)n);
  return info.Env().Undefined();
}

Napi::Value GetThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), engine::get_threads()); }

Napi::Value LinearForward(const Napi::CallbackInfo& info) {
  Args a(info, "linearForward");
  const int64_t N = a.integer(4), in = a.integer(5), out = a.integer(6);
  const float* x = a.f32(0, N * in);
  const float* W = a.f32(1, out * in);
  const float* b = a.f32(2, out, true);
  float* y = a.f32(3, N * out);
  CHECK_ARGS(a);
  engine::linear_forward(x, W, b, y, (int)N, (int)in, (int)out);
  return info.Env().Undefined();
}

Napi::Value LinearBackward(const Napi::CallbackInfo& info) {
  Args a(info, "linearBackward");
  const int64_t N = a.integer(7), in = a.integer(8), out = a.integer(9);
  const float* dy = a.f32(0, N * out);
  const float* x = a.f32(1, N * in);
  const float* W = a.f32(2, out * in);
  float* dx = a.f32(3, N * in, true);
  const double dx_beta = a.number(4);
  float* dW = a.f32(5, out * in);
  float* db = a.f32(6, out, true);
  CHECK_ARGS(a);
  engine::linear_backward(dy, x, W, dx, (float)dx_beta, dW, db, (int)N, (int)in, (int)out);
  return info.Env().Undefined();
}

Napi::Value LayerNormForward(const Napi::CallbackInfo& info) {
  Args a(info, "layerNormForward");
  const int64_t N = a.integer(6), D = a.integer(7);
  const double eps = a.number(8);
  const float* x = a.f32(0, N * D);
  const float* g = a.f32(1, D);
  const float* b = a.f32(2, D);
  float* out = a.f32(3, N * D);
  float* mean = a.f32(4, N);
  float* rstd = a.f32(5, N);
  CHECK_ARGS(a);
  engine::layernorm_forward(x, g, b, out, mean, rstd, (int)N, (int)D, (float)eps);
  return info.Env().Undefined();
}

Napi::Value LayerNormBackward(const Napi::CallbackInfo& info) {
  Args a(info, "layerNormBackward");
  const int64_t N = a.integer(8), D = a.integer(9);
  const float* dout = a.f32(0, N * D);
  const float* x = a.f32(1, N * D);
  const float* g = a.f32(2, D);
  const float* mean = a.f32(3, N);
  const float* rstd = a.f32(4, N);
  float* dx = a.f32(5, N * D);
  float* dg = a.f32(6, D);
  float* db = a.f32(7, D);
  CHECK_ARGS(a);
  engine::layernorm_backward(dout, x, g, mean, rstd, dx, dg, db, (int)N, (int)D);
  return info.Env().Undefined();
}

bool rowsInRange(const Napi::CallbackInfo& info, const int32_t* rows, int64_t nrows, int64_t total_rows) {
  for (int64_t r = 0; r < nrows; r++) {
    if (rows[r] < 0 || rows[r] >= total_rows) {
      Napi::RangeError::New(info.Env(), "row " + std::to_string(rows[r]) + " outside 0.." + std::to_string(total_rows - 1))
          .ThrowAsJavaScriptException();
      return false;
    }
  }
  return true;
}

bool checkHeads(const Napi::CallbackInfo& info, int64_t D, int64_t H, int64_t Tq, int64_t T, int64_t ldq, int64_t ldkv) {
  if (H < 1 || D % H != 0 || Tq < 1 || Tq > T || ldq < D || ldkv < D) {
    Napi::RangeError::New(info.Env(), "attention: dim must be a multiple of the heads, 1 <= Tq <= T, strides >= dim")
        .ThrowAsJavaScriptException();
    return false;
  }
  return true;
}

// Rows of `rows` vectors of width D laid out with stride ld: the elements a buffer must hold.
int64_t strided(int64_t rows, int64_t ld, int64_t D) { return rows > 0 ? (rows - 1) * ld + D : 0; }

Napi::Value AttentionForward(const Napi::CallbackInfo& info) {
  Args a(info, "attentionForward");
  const int64_t ldq = a.integer(1), ldkv = a.integer(4);
  const int64_t B = a.integer(8), Tq = a.integer(9), T = a.integer(10), D = a.integer(11), H = a.integer(12);
  const double p = a.number(13), seed = a.number(14);
  const float* q = a.f32(0, strided(B * Tq, ldq, D));
  const float* k = a.f32(2, strided(B * T, ldkv, D));
  const float* v = a.f32(3, strided(B * T, ldkv, D));
  const int32_t* mask = a.i32(5, B * T);
  float* probs = a.f32(6, B * H * Tq * T);
  float* ctx = a.f32(7, B * Tq * D);
  CHECK_ARGS(a);
  if (!checkHeads(info, D, H, Tq, T, ldq, ldkv)) return info.Env().Undefined();
  engine::attention_forward(q, (int)ldq, k, v, (int)ldkv, mask, probs, ctx, (int)B, (int)Tq, (int)T, (int)D, (int)H,
                            (float)p, (uint64_t)seed);
  return info.Env().Undefined();
}

Napi::Value AttentionBackward(const Napi::CallbackInfo& info) {
  Args a(info, "attentionBackward");
  const int64_t ldq = a.integer(2), ldkv = a.integer(5);
  const int64_t B = a.integer(10), Tq = a.integer(11), T = a.integer(12), D = a.integer(13), H = a.integer(14);
  const double p = a.number(15), seed = a.number(16);
  const float* dctx = a.f32(0, B * Tq * D);
  const float* q = a.f32(1, strided(B * Tq, ldq, D));
  const float* k = a.f32(3, strided(B * T, ldkv, D));
  const float* v = a.f32(4, strided(B * T, ldkv, D));
  const float* probs = a.f32(6, B * H * Tq * T);
  float* dq = a.f32(7, strided(B * Tq, ldq, D));
  float* dk = a.f32(8, strided(B * T, ldkv, D));
  float* dv = a.f32(9, strided(B * T, ldkv, D));
  CHECK_ARGS(a);
  if (!checkHeads(info, D, H, Tq, T, ldq, ldkv)) return info.Env().Undefined();
  engine::attention_backward(dctx, q, (int)ldq, k, v, (int)ldkv, probs, dq, dk, dv, (int)B, (int)Tq, (int)T, (int)D,
                             (int)H, (float)p, (uint64_t)seed);
  return info.Env().Undefined();
}

Napi::Value ActivationForward(const Napi::CallbackInfo& info) {
  Args a(info, "activationForward");
  const int64_t n = a.integer(2), act = a.integer(3);
  const float* x = a.f32(0, n);
  float* y = a.f32(1, n);
  CHECK_ARGS(a);
  engine::activation_forward(x, y, n, (int)act);
  return info.Env().Undefined();
}

Napi::Value ActivationBackward(const Napi::CallbackInfo& info) {
  Args a(info, "activationBackward");
  const int64_t n = a.integer(3), act = a.integer(4);
  const float* dy = a.f32(0, n);
  const float* x = a.f32(1, n);
  float* dx = a.f32(2, n);
  CHECK_ARGS(a);
  engine::activation_backward(dy, x, dx, n, (int)act);
  return info.Env().Undefined();
}

Napi::Value Dropout(const Napi::CallbackInfo& info, bool backward) {
  Args a(info, backward ? "dropoutBackward" : "dropoutForward");
  const int64_t rows = a.integer(2), cols = a.integer(3), row_stride = a.integer(4);
  const double p = a.number(5), seed = a.number(6);
  const float* x = a.f32(0, rows * cols);
  float* y = a.f32(1, rows * cols);
  CHECK_ARGS(a);
  if (backward) engine::dropout_backward(x, y, rows, cols, row_stride, (float)p, (uint64_t)seed);
  else engine::dropout_forward(x, y, rows, cols, row_stride, (float)p, (uint64_t)seed);
  return info.Env().Undefined();
}

Napi::Value DropoutForward(const Napi::CallbackInfo& info) { return Dropout(info, false); }
Napi::Value DropoutBackward(const Napi::CallbackInfo& info) { return Dropout(info, true); }

Napi::Value Add(const Napi::CallbackInfo& info) {
  Args a(info, "add");
  const int64_t n = a.integer(3);
  const float* x = a.f32(0, n);
  const float* y = a.f32(1, n);
  float* out = a.f32(2, n);
  CHECK_ARGS(a);
  engine::add(x, y, out, n);
  return info.Env().Undefined();
}

Napi::Value EmbeddingForward(const Napi::CallbackInfo& info) {
  Args a(info, "embeddingForward");
  const int64_t B = a.integer(4), T = a.integer(5), D = a.integer(6), V = a.integer(7);
  const int32_t* ids = a.i32(0, B * T);
  const float* word = a.f32(1, V * D);
  const float* pos = a.f32(2, T * D);
  float* out = a.f32(3, B * T * D);
  CHECK_ARGS(a);
  const int64_t bad = engine::embedding_forward(ids, word, pos, out, (int)B, (int)T, (int)D, (int)V);
  return Napi::Number::New(info.Env(), (double)bad);
}

Napi::Value EmbeddingBackward(const Napi::CallbackInfo& info) {
  Args a(info, "embeddingBackward");
  const int64_t B = a.integer(4), T = a.integer(5), D = a.integer(6), V = a.integer(7);
  const int32_t* ids = a.i32(0, B * T);
  const float* dout = a.f32(1, B * T * D);
  float* dword = a.f32(2, V * D);
  float* dpos = a.f32(3, T * D, true);
  CHECK_ARGS(a);
  engine::embedding_backward(ids, dout, dword, dpos, (int)B, (int)T, (int)D, dpos != nullptr);
  return info.Env().Undefined();
}

Napi::Value SoftmaxCrossEntropy(const Napi::CallbackInfo& info) {
  Args a(info, "softmaxCrossEntropy");
  const int64_t B = a.integer(3), C = a.integer(4);
  const float* logits = a.f32(0, B * C);
  const int32_t* labels = a.i32(1, B);
  float* dlogits = a.f32(2, B * C, true);
  CHECK_ARGS(a);
  for (int64_t b = 0; b < B; b++) {
    if (labels[b] < 0 || labels[b] >= C) {
      Napi::RangeError::New(info.Env(), "softmaxCrossEntropy: label " + std::to_string(labels[b]) +
                                            " outside 0.." + std::to_string(C - 1))
          .ThrowAsJavaScriptException();
      return info.Env().Undefined();
    }
  }
  return Napi::Number::New(info.Env(), engine::softmax_cross_entropy(logits, labels, dlogits, (int)B, (int)C));
}

Napi::Value AdamUpdate(const Napi::CallbackInfo& info) {
  Args a(info, "adamUpdate");
  const int64_t n = a.integer(4);
  const double alpha = a.number(5), b1 = a.number(6), b2 = a.number(7), eps = a.number(8);
  float* p = a.f32(0, n);
  const float* g = a.f32(1, n);
  float* m = a.f32(2, n);
  float* v = a.f32(3, n);
  CHECK_ARGS(a);
  engine::adam_update(p, g, m, v, n, (float)alpha, (float)b1, (float)b2, (float)eps);
  return info.Env().Undefined();
}

Napi::Value AdamUpdateRows(const Napi::CallbackInfo& info) {
  Args a(info, "adamUpdateRows");
  const int64_t nrows = a.integer(5), row_len = a.integer(6), total_rows = a.integer(7);
  const double alpha = a.number(8), b1 = a.number(9), b2 = a.number(10), eps = a.number(11);
  float* p = a.f32(0, total_rows * row_len);
  const float* g = a.f32(1, total_rows * row_len);
  float* m = a.f32(2, total_rows * row_len);
  float* v = a.f32(3, total_rows * row_len);
  const int32_t* rows = a.i32(4, nrows);
  CHECK_ARGS(a);
  if (!rowsInRange(info, rows, nrows, total_rows)) return info.Env().Undefined();
  engine::adam_update_rows(p, g, m, v, rows, nrows, row_len, (float)alpha, (float)b1, (float)b2, (float)eps);
  return info.Env().Undefined();
}

Napi::Value ZeroRows(const Napi::CallbackInfo& info) {
  Args a(info, "zeroRows");
  const int64_t nrows = a.integer(2), row_len = a.integer(3), total_rows = a.integer(4);
  float* x = a.f32(0, total_rows * row_len);
  const int32_t* rows = a.i32(1, nrows);
  CHECK_ARGS(a);
  if (!rowsInRange(info, rows, nrows, total_rows)) return info.Env().Undefined();
  engine::zero_rows(x, rows, nrows, row_len);
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("setThreads", Napi::Function::New(env, SetThreads));
  exports.Set("getThreads", Napi::Function::New(env, GetThreads));
  exports.Set("linearForward", Napi::Function::New(env, LinearForward));
  exports.Set("linearBackward", Napi::Function::New(env, LinearBackward));
  exports.Set("layerNormForward", Napi::Function::New(env, LayerNormForward));
  exports.Set("layerNormBackward", Napi::Function::New(env, LayerNormBackward));
  exports.Set("attentionForward", Napi::Function::New(env, AttentionForward));
  exports.Set("attentionBackward", Napi::Function::New(env, AttentionBackward));
  exports.Set("activationForward", Napi::Function::New(env, ActivationForward));
  exports.Set("activationBackward", Napi::Function::New(env, ActivationBackward));
  exports.Set("dropoutForward", Napi::Function::New(env, DropoutForward));
  exports.Set("dropoutBackward", Napi::Function::New(env, DropoutBackward));
  exports.Set("add", Napi::Function::New(env, Add));
  exports.Set("embeddingForward", Napi::Function::New(env, EmbeddingForward));
  exports.Set("embeddingBackward", Napi::Function::New(env, EmbeddingBackward));
  exports.Set("softmaxCrossEntropy", Napi::Function::New(env, SoftmaxCrossEntropy));
  exports.Set("adamUpdate", Napi::Function::New(env, AdamUpdate));
  exports.Set("adamUpdateRows", Napi::Function::New(env, AdamUpdateRows));
  exports.Set("zeroRows", Napi::Function::New(env, ZeroRows));
  return exports;
}

}  // namespace

NODE_API_MODULE(engine, Init)

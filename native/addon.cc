// N-API surface of the engine: a Model object (the model step of model/encoder.h on a
// backend) and a few functions. Every typed array is checked for type and length before native
// code touches it (a wrong one is a JS TypeError, never a stray write), and engine errors
// (bad input ids, a missing backend) become JS Errors with the engine's message.
#include <napi.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "backend.h"
#include "cpu/aligned.h"
#include "cpu/blas.h"
#include "cpu/kernels.h"
#include "model/encoder.h"
#include "tools/timing_backend.h"

namespace {

// --device cpu where the engine was built without OpenBLAS and oneDNN (a GPU host's build).
constexpr const char* kNoCpuBackend =
    "--device cpu: this install has no CPU backend (OpenBLAS and oneDNN were not found when the engine was built: "
    "install libopenblas-openmp-dev and libdnnl-dev and rebuild), use --device cuda";

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

  bool boolean(size_t i) {
    if (failed_) return false;
    if (i >= info_.Length() || !info_[i].IsBoolean()) return fail(i, "a boolean"), false;
    return info_[i].As<Napi::Boolean>().Value();
  }

  float* f32(size_t i, int64_t need) { return typed<float>(i, need, napi_float32_array, "a Float32Array"); }
  int32_t* i32(size_t i, int64_t need) { return typed<int32_t>(i, need, napi_int32_array, "an Int32Array"); }

  bool failed() const { return failed_; }

 private:
  template <typename T>
  T* typed(size_t i, int64_t need, napi_typedarray_type type, const char* what) {
    if (failed_) return nullptr;
    if (i >= info_.Length() || !info_[i].IsTypedArray() || info_[i].As<Napi::TypedArray>().TypedArrayType() != type)
      return fail(i, what), nullptr;
    auto arr = info_[i].As<Napi::TypedArrayOf<T>>();
    if (need < 0 || (int64_t)arr.ElementLength() != need) {
      fail(i, (std::string(what) + " of " + std::to_string(need) + " elements (got " +
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

// Runs f, turning an engine exception into a JS Error.
template <typename F>
Napi::Value guarded(const Napi::CallbackInfo& info, F f) {
  try {
    return f();
  } catch (const std::exception& e) {
    Napi::Error::New(info.Env(), e.what()).ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
}

// The model configuration from the TypeScript EngineConfig object (src/engine/native.ts).
engine::ModelConfig read_config(const Napi::Object& o) {
  auto num = [&](const char* k) {
    Napi::Value v = o.Get(k);
    if (!v.IsNumber()) throw std::invalid_argument(std::string("config.") + k + " must be a number");
    return v.As<Napi::Number>().DoubleValue();
  };
  engine::ModelConfig c;
  const std::string head = o.Get("head").ToString().Utf8Value();
  if (head != "classifier" && head != "masked-lm") throw std::invalid_argument("config.head must be classifier or masked-lm");
  c.head = head == "masked-lm" ? engine::MASKED_LM : engine::SEQUENCE_CLASSIFIER;
  c.vocab_size = (int)num("vocabSize");
  c.max_positions = (int)num("maxPositionEmbeddings");
  c.dim = (int)num("dim");
  c.n_layers = (int)num("nLayers");
  c.n_heads = (int)num("nHeads");
  c.hidden_dim = (int)num("hiddenDim");
  c.dropout = (float)num("dropout");
  c.attention_dropout = (float)num("attentionDropout");
  c.seq_classif_dropout = (float)num("seqClassifDropout");
  c.sinusoidal_positions = o.Get("sinusoidalPosEmbds").ToBoolean().Value();
  const std::string type = o.Get("modelType").ToString().Utf8Value();
  if (type != "distilbert" && type != "bert") throw std::invalid_argument("config.modelType must be distilbert or bert");
  c.arch = type == "bert" ? engine::BERT : engine::DISTILBERT;
  c.type_vocab_size = c.arch == engine::BERT ? (int)num("typeVocabSize") : 0;
  c.layer_norm_eps = (float)num("layerNormEps");
  const std::string problem = o.Get("problemType").ToString().Utf8Value();
  c.problem = problem == "single_label_classification" ? engine::SINGLE_LABEL
              : problem == "multi_label_classification" ? engine::MULTI_LABEL
              : problem == "regression"                 ? engine::REGRESSION
                                                        : -1;
  if (c.problem < 0) throw std::invalid_argument("config.problemType " + problem + " is not supported");
  Napi::Value labels = o.Get("id2label");
  if (!labels.IsArray()) throw std::invalid_argument("config.id2label must be an array");
  c.num_labels = (int)labels.As<Napi::Array>().Length();
  const std::string act = o.Get("activation").ToString().Utf8Value();
  c.activation = act == "gelu" ? engine::GELU : act == "gelu_new" ? engine::GELU_TANH : act == "relu" ? engine::RELU : -1;
  if (c.activation < 0) throw std::invalid_argument("activation " + act + " is not supported");
  return c;
}

Napi::Array layout_to_js(Napi::Env env, const std::vector<engine::ParamSpec>& layout) {
  Napi::Array out = Napi::Array::New(env, layout.size());
  for (size_t i = 0; i < layout.size(); i++) {
    Napi::Object s = Napi::Object::New(env);
    Napi::Array shape = Napi::Array::New(env, layout[i].shape.size());
    for (size_t d = 0; d < layout[i].shape.size(); d++) shape.Set((uint32_t)d, Napi::Number::New(env, (double)layout[i].shape[d]));
    s.Set("name", layout[i].name);
    s.Set("shape", shape);
    s.Set("offset", Napi::Number::New(env, (double)layout[i].offset));
    s.Set("size", Napi::Number::New(env, (double)layout[i].size));
    out.Set((uint32_t)i, s);
  }
  return out;
}

class Model : public Napi::ObjectWrap<Model> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Model",
                       {InstanceMethod("setParams", &Model::SetParams), InstanceMethod("adoptParams", &Model::AdoptParams),
                        InstanceMethod("getParams", &Model::GetParams),
                        InstanceMethod("getGrads", &Model::GetGrads), InstanceMethod("setMoments", &Model::SetMoments),
                        InstanceMethod("getMoments", &Model::GetMoments), InstanceMethod("forward", &Model::Forward),
                        InstanceMethod("forwardEmbedded", &Model::ForwardEmbedded),
                        InstanceMethod("inputGradients", &Model::InputGradients),
                        InstanceMethod("loss", &Model::Loss),
                        InstanceMethod("lossTargets", &Model::LossTargets), InstanceMethod("takeProfile", &Model::TakeProfile), InstanceMethod("pooledOutput", &Model::PooledOutput), InstanceMethod("backward", &Model::Backward),
                        InstanceMethod("zeroGrads", &Model::ZeroGrads), InstanceMethod("adamStep", &Model::AdamStep),
                        InstanceMethod("adamwStep", &Model::AdamwStep),
                        InstanceMethod("hiddenState", &Model::HiddenState),
                        InstanceMethod("releaseWorkspace", &Model::ReleaseWorkspace),
                        InstanceMethod("workspaceBytes", &Model::WorkspaceBytes),
                        InstanceAccessor("paramCount", &Model::ParamCount, nullptr),
                        InstanceAccessor("device", &Model::Device, nullptr)});
  }

  // new Model(config, device, precision = "fp32", profile = false). profile: every kernel call is
  // timed (synchronizing after it), for takeProfile().
  explicit Model(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Model>(info) {
    try {
      if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsString() || (info.Length() > 2 && !info[2].IsString()) ||
          (info.Length() > 3 && !info[3].IsBoolean()))
        throw std::invalid_argument("new Model(config, device, precision, profile): a config object, a device, a precision name and a boolean");
      const std::string precision = info.Length() > 2 ? info[2].As<Napi::String>().Utf8Value() : "fp32";
      const std::string device = info[1].As<Napi::String>().Utf8Value();
      if (device == "cpu" && engine::cpu_backend_is_reference()) throw std::runtime_error(kNoCpuBackend);
      std::unique_ptr<engine::Backend> be = engine::make_backend(device, precision);
      if (info.Length() > 3 && info[3].As<Napi::Boolean>().Value()) be.reset(timing_ = new tools::TimingBackend(std::move(be)));
      model_ = std::make_unique<engine::EncoderModel>(std::move(be), read_config(info[0].As<Napi::Object>()));
    } catch (const std::exception& e) {
      Napi::Error::New(info.Env(), e.what()).ThrowAsJavaScriptException();
    }
  }

 private:
  int64_t n() const { return model_->param_count(); }

  Napi::Value ParamCount(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), (double)n()); }
  Napi::Value Device(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), model_->backend().name()); }

  Napi::Value SetParams(const Napi::CallbackInfo& info) {
    Args a(info, "setParams");
    float* p = a.f32(0, n());
    CHECK_ARGS(a);
    return guarded(info, [&] { model_->set_params(p); return info.Env().Undefined(); });
  }
  // adoptParams(Float32Array): on the CPU the engine works in this array's memory (kept alive by
  // a reference held here), so the weights exist once, where it starts on a 64-byte boundary (as
  // paramArray's do); elsewhere a copy. Returns whether the engine works in the array.
  Napi::Value AdoptParams(const Napi::CallbackInfo& info) {
    Args a(info, "adoptParams");
    float* p = a.f32(0, n());
    CHECK_ARGS(a);
    return guarded(info, [&] {
      const bool adopted = model_->adopt_params(p);
      if (adopted) adopted_ = Napi::Persistent(info[0].As<Napi::Object>());
      return Napi::Boolean::New(info.Env(), adopted);
    });
  }

  Napi::Value GetParams(const Napi::CallbackInfo& info) {
    Args a(info, "getParams");
    float* p = a.f32(0, n());
    CHECK_ARGS(a);
    return guarded(info, [&] { model_->get_params(p); return info.Env().Undefined(); });
  }
  Napi::Value GetGrads(const Napi::CallbackInfo& info) {
    Args a(info, "getGrads");
    float* p = a.f32(0, n());
    CHECK_ARGS(a);
    return guarded(info, [&] { model_->get_grads(p); return info.Env().Undefined(); });
  }
  Napi::Value SetMoments(const Napi::CallbackInfo& info) {
    Args a(info, "setMoments");
    float* m = a.f32(0, n());
    float* v = a.f32(1, n());
    CHECK_ARGS(a);
    return guarded(info, [&] { model_->set_moments(m, v); return info.Env().Undefined(); });
  }
  Napi::Value GetMoments(const Napi::CallbackInfo& info) {
    Args a(info, "getMoments");
    float* m = a.f32(0, n());
    float* v = a.f32(1, n());
    CHECK_ARGS(a);
    return guarded(info, [&] { model_->get_moments(m, v); return info.Env().Undefined(); });
  }

  // forward(ids, mask, B, T, train, seed, grad, allHidden, logitsOut | null[, predict | null[, tokenTypes | null]])
  // predict (masked LM): the increasing flat positions b*T+t to predict; logitsOut then holds
  // predict.length x vocab values. tokenTypes (BERT): token_type_ids [B*T], absent or null: all 0.
  Napi::Value Forward(const Napi::CallbackInfo& info) {
    Args a(info, "forward");
    const int64_t B = a.integer(2), T = a.integer(3);
    if (!a.failed() && (B < 1 || T < 1 || B * T > (int64_t)1 << 31)) {
      Napi::RangeError::New(info.Env(), "forward: batch and sequence length must be positive").ThrowAsJavaScriptException();
      return info.Env().Undefined();
    }
    int32_t* ids = a.i32(0, B * T);
    int32_t* mask = a.i32(1, B * T);
    engine::ForwardOptions o;
    o.train = a.boolean(4);
    const double seed = a.number(5);
    o.grad = a.boolean(6);
    o.all_hidden = a.boolean(7);
    const bool mlm = model_->config().head == engine::MASKED_LM;
    if (mlm) {
      if (info.Length() < 10 || !info[9].IsTypedArray()) {
        Napi::TypeError::New(info.Env(), "forward: argument 9 must be an Int32Array of positions to predict").ThrowAsJavaScriptException();
        return info.Env().Undefined();
      }
      o.n_predict = (int)info[9].As<Napi::TypedArray>().ElementLength();
      o.predict = a.i32(9, o.n_predict);
    }
    if (info.Length() > 10 && !info[10].IsNull() && !info[10].IsUndefined()) o.token_types = a.i32(10, B * T);
    const int64_t width = mlm ? model_->config().vocab_size : model_->config().num_labels;
    float* logits = info.Length() > 8 && info[8].IsNull() ? nullptr : a.f32(8, (mlm ? o.n_predict : B) * width);
    CHECK_ARGS(a);
    if (!(seed >= 0 && seed < 9007199254740992.0)) {
      Napi::RangeError::New(info.Env(), "forward: seed must be a non-negative integer below 2^53").ThrowAsJavaScriptException();
      return info.Env().Undefined();
    }
    o.seed = (uint64_t)seed;
    return guarded(info, [&] {
      model_->forward(ids, mask, (int)B, (int)T, o, logits);
      return info.Env().Undefined();
    });
  }

  // forwardEmbedded(embedded [B*T*dim], mask, B, T, logitsOut): an eval-mode classifier forward that keeps
  // gradients, from the embeddings output instead of token ids.
  Napi::Value ForwardEmbedded(const Napi::CallbackInfo& info) {
    Args a(info, "forwardEmbedded");
    const int64_t B = a.integer(2), T = a.integer(3);
    if (!a.failed() && (B < 1 || T < 1 || B * T * model_->config().dim > (int64_t)1 << 31)) {
      Napi::RangeError::New(info.Env(), "forwardEmbedded: batch and sequence length must be positive").ThrowAsJavaScriptException();
      return info.Env().Undefined();
    }
    engine::ForwardOptions o;
    o.embedded = a.f32(0, B * T * model_->config().dim);
    int32_t* mask = a.i32(1, B * T);
    float* logits = a.f32(4, B * model_->config().num_labels);
    CHECK_ARGS(a);
    return guarded(info, [&] {
      model_->forward(nullptr, mask, (int)B, (int)T, o, logits);
      return info.Env().Undefined();
    });
  }

  // inputGradients(dlogits [B*labels], dEmbedded [B*T*dim], embeddedOut [B*T*dim] | null) of the last forward.
  Napi::Value InputGradients(const Napi::CallbackInfo& info) {
    Args a(info, "inputGradients");
    const auto length = [&](size_t i) -> int64_t {
      return info.Length() > i && info[i].IsTypedArray() ? (int64_t)info[i].As<Napi::TypedArray>().ElementLength() : -1;
    };
    const int64_t C = model_->config().num_labels, D = model_->config().dim;
    const int64_t B = length(0) / C, n = length(1);
    float* dlogits = a.f32(0, B * C);
    float* d_embedded = a.f32(1, n);
    float* embedded = info.Length() > 2 && info[2].IsNull() ? nullptr : a.f32(2, n);
    CHECK_ARGS(a);
    if (B < 1 || n % (B * D)) {
      Napi::RangeError::New(info.Env(), "inputGradients: dlogits and dEmbedded must match the last forward's shape").ThrowAsJavaScriptException();
      return info.Env().Undefined();
    }
    return guarded(info, [&] {
      model_->input_gradients(dlogits, d_embedded, embedded, (int)B, n / (B * D));
      return info.Env().Undefined();
    });
  }

  // loss(labels, gradScale) -> mean cross-entropy
  Napi::Value Loss(const Napi::CallbackInfo& info) {
    Args a(info, "loss");
    if (info.Length() < 1 || !info[0].IsTypedArray()) {
      Napi::TypeError::New(info.Env(), "loss: argument 0 must be an Int32Array").ThrowAsJavaScriptException();
      return info.Env().Undefined();
    }
    const int64_t B = info[0].As<Napi::TypedArray>().ElementLength();
    int32_t* labels = a.i32(0, B);
    const double scale = a.number(1);
    CHECK_ARGS(a);
    return guarded(info, [&] { return Napi::Number::New(info.Env(), model_->loss(labels, (int)B, (float)scale)); });
  }

  // lossTargets(targets [B*labels], gradScale) -> mean BCE with logits (multi-label) or squared error (regression)
  Napi::Value LossTargets(const Napi::CallbackInfo& info) {
    Args a(info, "lossTargets");
    if (info.Length() < 1 || !info[0].IsTypedArray()) {
      Napi::TypeError::New(info.Env(), "lossTargets: argument 0 must be a Float32Array").ThrowAsJavaScriptException();
      return info.Env().Undefined();
    }
    const int64_t n = info[0].As<Napi::TypedArray>().ElementLength();
    float* targets = a.f32(0, n);
    const double scale = a.number(1);
    CHECK_ARGS(a);
    return guarded(info, [&] { return Napi::Number::New(info.Env(), model_->loss_targets(targets, n, (float)scale)); });
  }

  // pooledOutput(out [B*dim]): the head's hidden vector of the last eval-mode forward.
  Napi::Value PooledOutput(const Napi::CallbackInfo& info) {
    Args a(info, "pooledOutput");
    if (info.Length() < 1 || !info[0].IsTypedArray()) {
      Napi::TypeError::New(info.Env(), "pooledOutput: argument 0 must be a Float32Array").ThrowAsJavaScriptException();
      return info.Env().Undefined();
    }
    const int64_t n = info[0].As<Napi::TypedArray>().ElementLength();
    float* out = a.f32(0, n);
    CHECK_ARGS(a);
    return guarded(info, [&] {
      model_->pooled_output(out, n);
      return info.Env().Undefined();
    });
  }

  // takeProfile() -> {kernel: {ms, calls}} since the last call (a model made with profile = true).
  Napi::Value TakeProfile(const Napi::CallbackInfo& info) {
    if (!timing_) {
      Napi::Error::New(info.Env(), "takeProfile: the model was not made with profile = true").ThrowAsJavaScriptException();
      return info.Env().Undefined();
    }
    Napi::Object out = Napi::Object::New(info.Env());
    for (const auto& [name, t] : timing_->totals) {
      Napi::Object o = Napi::Object::New(info.Env());
      o.Set("ms", Napi::Number::New(info.Env(), t.first * 1e3));
      o.Set("calls", Napi::Number::New(info.Env(), (double)t.second));
      out.Set(name, o);
    }
    timing_->reset();
    return out;
  }

  Napi::Value Backward(const Napi::CallbackInfo& info) {
    return guarded(info, [&] { model_->backward(); return info.Env().Undefined(); });
  }
  Napi::Value ZeroGrads(const Napi::CallbackInfo& info) {
    return guarded(info, [&] { model_->zero_grads(); return info.Env().Undefined(); });
  }

  // adamStep(alpha, beta1, beta2, eps, clipNorm (<= 0: none), sparse)
  Napi::Value AdamStep(const Napi::CallbackInfo& info) {
    Args a(info, "adamStep");
    const double alpha = a.number(0), b1 = a.number(1), b2 = a.number(2), eps = a.number(3), clip = a.number(4);
    const bool sparse = a.boolean(5);
    CHECK_ARGS(a);
    return guarded(info, [&] {
      model_->adam_step((float)alpha, (float)b1, (float)b2, (float)eps, clip, sparse);
      return info.Env().Undefined();
    });
  }

  // adamwStep(lr, beta1, beta2, eps, weightDecay, t (1-based), clipNorm (<= 0: none))
  Napi::Value AdamwStep(const Napi::CallbackInfo& info) {
    Args a(info, "adamwStep");
    const double lr = a.number(0), b1 = a.number(1), b2 = a.number(2), eps = a.number(3), wd = a.number(4);
    const int64_t t = a.integer(5);
    const double clip = a.number(6);
    CHECK_ARGS(a);
    return guarded(info, [&] {
      model_->adamw_step((float)lr, (float)b1, (float)b2, (float)eps, (float)wd, t, clip);
      return info.Env().Undefined();
    });
  }

  // hiddenState(i, out [B*T*dim of the last forward])
  Napi::Value HiddenState(const Napi::CallbackInfo& info) {
    Args a(info, "hiddenState");
    const int64_t i = a.integer(0);
    CHECK_ARGS(a);
    if (info.Length() < 2 || !info[1].IsTypedArray()) {
      Napi::TypeError::New(info.Env(), "hiddenState: argument 1 must be a Float32Array").ThrowAsJavaScriptException();
      return info.Env().Undefined();
    }
    float* out = a.f32(1, info[1].As<Napi::TypedArray>().ElementLength());
    CHECK_ARGS(a);
    return guarded(info, [&] { model_->hidden_state((int)i, out); return info.Env().Undefined(); });
  }

  Napi::Value ReleaseWorkspace(const Napi::CallbackInfo& info) {
    model_->release_workspace();
    return info.Env().Undefined();
  }
  Napi::Value WorkspaceBytes(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), (double)model_->workspace_bytes());
  }

  std::unique_ptr<engine::EncoderModel> model_;
  tools::TimingBackend* timing_ = nullptr;  // the model's backend, when profiling (owned by model_)
  Napi::ObjectReference adopted_;  // the weights' array while the engine works in its memory
};

// setThreads(n, thisThread = false): thisThread sets the calling JS thread's count alone (a worker's).
Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  Args a(info, "setThreads");
  const int64_t n = a.integer(0);
  CHECK_ARGS(a);
  if (n < 1) {
    Napi::RangeError::New(info.Env(), "setThreads: need at least 1 thread").ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  const bool this_thread = info.Length() > 1 && info[1].IsBoolean() && info[1].As<Napi::Boolean>().Value();
  engine::set_threads((int)n, this_thread);
  return info.Env().Undefined();
}

// lowerThreadPriority(nice): the calling thread (a worker's) yields the CPU to the process's other threads when
// they contend (Linux: a thread's own nice value). Returns whether it took effect.
Napi::Value LowerThreadPriority(const Napi::CallbackInfo& info) {
  Args a(info, "lowerThreadPriority");
  const int64_t nice = a.integer(0);
  CHECK_ARGS(a);
  if (nice < 0 || nice > 19) {
    Napi::RangeError::New(info.Env(), "lowerThreadPriority: nice must be from 0 to 19").ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  return Napi::Boolean::New(info.Env(), setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), (int)nice) == 0);
}

Napi::Value GetThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), engine::get_threads()); }

Napi::Value ParamLayout(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsObject()) {
    Napi::TypeError::New(info.Env(), "paramLayout: argument 0 must be a config object").ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  return guarded(info, [&] { return layout_to_js(info.Env(), engine::param_layout(read_config(info[0].As<Napi::Object>()))); });
}

// paramArray(n): a Float32Array of n zeros for a model's weights, which the CPU engine works in
// (adoptParams): its memory starts on a 64-byte boundary, as the engine's own buffers do, and its
// whole 2 MiB pages are backed by transparent huge pages from their first touch (cpu/aligned.h).
Napi::Value ParamArray(const Napi::CallbackInfo& info) {
  Args a(info, "paramArray");
  const int64_t n = a.integer(0);
  CHECK_ARGS(a);
  const Napi::Env env = info.Env();
  if (n < 0 || n > (int64_t(1) << 40)) {
    Napi::RangeError::New(env, "paramArray: argument 0 must be a count of values from 0 to 2^40").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::ArrayBuffer buf = Napi::ArrayBuffer::New(env, (size_t)n * sizeof(float) + engine::kHostAlign);
  if (env.IsExceptionPending()) return env.Undefined();
  const uintptr_t at = reinterpret_cast<uintptr_t>(buf.Data());
  const size_t skip = (engine::kHostAlign - at % engine::kHostAlign) % engine::kHostAlign;
  engine::advise_huge_pages(static_cast<char*>(buf.Data()) + skip, (size_t)n * sizeof(float));
  return Napi::Float32Array::New(env, (size_t)n, buf, skip);
}

Napi::Value Backends(const Napi::CallbackInfo& info) {
  auto names = engine::backend_names();
  if (engine::cpu_backend_is_reference()) names.erase(std::remove(names.begin(), names.end(), "cpu"), names.end());
  Napi::Array out = Napi::Array::New(info.Env(), names.size());
  for (size_t i = 0; i < names.size(); i++) out.Set((uint32_t)i, names[i]);
  return out;
}

// GFLOP/s of an n x n x n matrix product, best of reps: "fp32" and "bf16" through the linear
// layers' path (oneDNN), "openblas" through OpenBLAS's sgemm: the peaks the bench cases are
// measured against, and the library the linear layers left. The operands are 64-byte aligned, as
// the engine's buffers are (malloc's 16-byte alignment cost the bf16 product 4-9% on the AMX
// Xeon, writing its result).
Napi::Value GemmGflops(const Napi::CallbackInfo& info) {
  Args a(info, "gemmGflops");
  const int64_t n = a.integer(0), reps = a.integer(1);
  CHECK_ARGS(a);
  const std::string kind = info.Length() > 2 && info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : "";
  if (kind != "fp32" && kind != "bf16" && kind != "openblas") {
    Napi::TypeError::New(info.Env(), "gemmGflops: argument 2 must be fp32, bf16 or openblas").ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  return guarded(info, [&]() -> Napi::Value {
    engine::AlignedVector<float> x(n * n, 0.5f), w(n * n, 0.25f), y(n * n);
    auto product = [&] {
      if (kind == "openblas")
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)n, (int)n, 1.0f, x.data(), (int)n, w.data(),
                    (int)n, 0.0f, y.data(), (int)n);
      else
        engine::linear_forward(x.data(), w.data(), nullptr, y.data(), (int)n, (int)n, (int)n, kind == "bf16");
    };
    product();
    double best = 1e30;
    for (int64_t r = 0; r < reps; r++) {
      const auto t0 = std::chrono::steady_clock::now();
      product();
      best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    return Napi::Number::New(info.Env(), 2.0 * n * n * n / best / 1e9);
  });
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Model", Model::Define(env));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads));
  exports.Set("getThreads", Napi::Function::New(env, GetThreads));
  exports.Set("lowerThreadPriority", Napi::Function::New(env, LowerThreadPriority));
  exports.Set("paramLayout", Napi::Function::New(env, ParamLayout));
  exports.Set("backends", Napi::Function::New(env, Backends));
  exports.Set("paramArray", Napi::Function::New(env, ParamArray));
  exports.Set("gemmGflops", Napi::Function::New(env, GemmGflops));
  return exports;
}

}  // namespace

NODE_API_MODULE(engine, Init)

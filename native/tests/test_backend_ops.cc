// Per-kernel tests of every backend, after ggml's test-backend-ops: each kernel, forward and
// backward, on awkward shapes (one row, T = 1, a fully masked sequence, row strides other than
// the width, odd sizes, the [CLS]-only attention, dropout with a fixed seed), against plain
// double-precision references written here. The references' backward passes are themselves
// checked by central finite differences of their forward passes.
//
// Usage: test_backend_ops [backend...]   (default: every backend of this build; "cuda-tf32" and
// "cuda-bf16" run the CUDA backend with those matrix-product precisions)
// Prints one line per case and ends with "N passed, N failed"; exit status 1 on any failure.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "../backend.h"
#include "../cpu/bf16.h"
#include "../cpu/kernels.h"
#include "../cpu/matmul.h"
#include "../rng.h"
#include "attention_reference.h"

using engine::Backend;
using reference::AttnGrads;
using reference::AttnShape;
using reference::Vec;
using reference::keep_scale;
using reference::only_blocks;
using reference::ref_attention;
using reference::ref_attention_backward;
using reference::rel_err;

namespace {

int g_passed = 0, g_failed = 0;
// Bounds are fp32's; a backend whose matrix products take tf32 or bf16 operands is held to
// this floor instead (METHOD: tf32 lands near 3e-4, bf16 between 1e-3 and 1e-2).
double g_floor = 0;
// The precision of the backend under test: fp32, tf32 or bf16.
std::string g_precision;

void report(const std::string& backend, const std::string& name, double err, double bound) {
  if (backend != "ref") bound = std::max(bound, g_floor);
  const bool ok = err <= bound && std::isfinite(err);
  (ok ? g_passed : g_failed)++;
  std::printf("%-4s %-9s %-58s err %.3g (bound %.3g)\n", ok ? "ok" : "FAIL", backend.c_str(), name.c_str(), err, bound);
}


struct Rng {
  std::mt19937_64 g;
  explicit Rng(uint64_t seed) : g(seed) {}
  Vec normal(size_t n, double scale = 1.0) {
    std::normal_distribution<double> d(0.0, scale);
    Vec v(n);
    for (auto& x : v) x = (float)d(g);  // values representable in float, so both sides see the same input
    return v;
  }
  int uniform_int(int n) { return (int)(g() % (uint64_t)n); }
};

std::vector<float> to_f(const Vec& v) { return std::vector<float>(v.begin(), v.end()); }

// Device copies of host data, freed with the case.
class Dev {
 public:
  explicit Dev(Backend* be) : be_(be) {}
  float* f(const Vec& host) {
    auto h = to_f(host);
    bufs_.emplace_back(be_, h.size() ? h.size() : 1);
    if (!h.empty()) bufs_.back().upload(h.data(), h.size());
    return bufs_.back().get();
  }
  float* zeros(size_t n) { return f(Vec(n, 0.0)); }
  int32_t* i(const std::vector<int32_t>& host) {
    ibufs_.emplace_back(be_, host.size() ? host.size() : 1);
    if (!host.empty()) ibufs_.back().upload(host.data(), host.size());
    return ibufs_.back().get();
  }
  std::vector<float> get(const float* p, size_t n) {
    std::vector<float> h(n);
    be_->synchronize();
    be_->download(h.data(), p, n * sizeof(float));
    return h;
  }

 private:
  Backend* be_;
  std::vector<engine::DeviceBuffer<float>> bufs_;
  std::vector<engine::DeviceBuffer<int32_t>> ibufs_;
};

double dot(const Vec& a, const Vec& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); i++) s += a[i] * b[i];
  return s;
}

// Checks an analytic gradient of L(x) = <f(x), R> against central differences along a random
// direction; returns the relative error of the directional derivative.
double fd_check(const std::function<Vec(const Vec&)>& f, const Vec& x, const Vec& R, const Vec& grad, Rng& rng) {
  Vec u = rng.normal(x.size());
  const double h = 1e-6;
  Vec xp = x, xm = x;
  for (size_t i = 0; i < x.size(); i++) xp[i] += h * u[i], xm[i] -= h * u[i];
  const double numeric = (dot(f(xp), R) - dot(f(xm), R)) / (2 * h);
  const double analytic = dot(grad, u);
  return std::fabs(numeric - analytic) / std::max(1e-6, std::fabs(numeric) + std::fabs(analytic));
}

// ---------- references (double) ----------

Vec ref_linear(const Vec& x, const Vec& W, const Vec* b, int N, int in, int out) {
  Vec y((size_t)N * out);
  for (int i = 0; i < N; i++)
    for (int j = 0; j < out; j++) {
      double s = b ? (*b)[j] : 0.0;
      for (int k = 0; k < in; k++) s += x[(size_t)i * in + k] * W[(size_t)j * in + k];
      y[(size_t)i * out + j] = s;
    }
  return y;
}

struct LinearGrads { Vec dx, dW, db; };
LinearGrads ref_linear_backward(const Vec& dy, const Vec& x, const Vec& W, int N, int in, int out) {
  LinearGrads g{Vec((size_t)N * in), Vec((size_t)out * in), Vec(out)};
  for (int i = 0; i < N; i++)
    for (int j = 0; j < out; j++) {
      const double d = dy[(size_t)i * out + j];
      g.db[j] += d;
      for (int k = 0; k < in; k++) {
        g.dx[(size_t)i * in + k] += d * W[(size_t)j * in + k];
        g.dW[(size_t)j * in + k] += d * x[(size_t)i * in + k];
      }
    }
  return g;
}

Vec ref_layernorm(const Vec& x, const Vec& gamma, const Vec& beta, int N, int D, double eps) {
  Vec y(x.size());
  for (int i = 0; i < N; i++) {
    double mu = 0, var = 0;
    for (int d = 0; d < D; d++) mu += x[(size_t)i * D + d];
    mu /= D;
    for (int d = 0; d < D; d++) var += (x[(size_t)i * D + d] - mu) * (x[(size_t)i * D + d] - mu);
    const double r = 1 / std::sqrt(var / D + eps);
    for (int d = 0; d < D; d++) y[(size_t)i * D + d] = (x[(size_t)i * D + d] - mu) * r * gamma[d] + beta[d];
  }
  return y;
}

struct LnGrads { Vec dx, dgamma, dbeta; };
LnGrads ref_layernorm_backward(const Vec& dy, const Vec& x, const Vec& gamma, int N, int D, double eps) {
  LnGrads g{Vec(x.size()), Vec(D), Vec(D)};
  for (int i = 0; i < N; i++) {
    const double* xi = &x[(size_t)i * D];
    const double* gi = &dy[(size_t)i * D];
    double mu = 0, var = 0;
    for (int d = 0; d < D; d++) mu += xi[d];
    mu /= D;
    for (int d = 0; d < D; d++) var += (xi[d] - mu) * (xi[d] - mu);
    const double r = 1 / std::sqrt(var / D + eps);
    double m1 = 0, m2 = 0;
    for (int d = 0; d < D; d++) {
      const double xhat = (xi[d] - mu) * r;
      m1 += gi[d] * gamma[d];
      m2 += gi[d] * gamma[d] * xhat;
      g.dgamma[d] += gi[d] * xhat;
      g.dbeta[d] += gi[d];
    }
    m1 /= D, m2 /= D;
    for (int d = 0; d < D; d++) g.dx[(size_t)i * D + d] = r * (gi[d] * gamma[d] - m1 - (xi[d] - mu) * r * m2);
  }
  return g;
}

double act(double x, int a) {
  if (a == engine::GELU) return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
  if (a == engine::GELU_TANH) return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
  if (a == engine::TANH) return std::tanh(x);
  return x > 0 ? x : 0;
}
double act_grad(double x, int a) {
  if (a == engine::GELU) return 0.5 * (1 + std::erf(x / std::sqrt(2.0))) + x * std::exp(-0.5 * x * x) / std::sqrt(2 * M_PI);
  if (a == engine::GELU_TANH) {
    const double k = std::sqrt(2 / M_PI), t = std::tanh(k * (x + 0.044715 * x * x * x));
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x);
  }
  if (a == engine::TANH) return 1 - std::tanh(x) * std::tanh(x);
  return x > 0 ? 1 : 0;
}

// ---------- cases ----------

void test_linear(Backend* be, Rng& rng) {
  struct S { int N, in, out; bool bias; };
  // 2,048 rows: where the CPU backend's bf16 products pack a weight on its first read.
  for (S s : {S{1, 1, 1, true}, S{7, 13, 5, true}, S{33, 64, 17, false}, S{5, 768, 768, true}, S{2048, 64, 40, true}}) {
    be->weights_changed();  // new weights, as a runner says after writing parameters
    Dev dev(be);
    const Vec x = rng.normal((size_t)s.N * s.in), W = rng.normal((size_t)s.out * s.in, 0.1), b = rng.normal(s.out);
    const std::string shape = " N=" + std::to_string(s.N) + " in=" + std::to_string(s.in) + " out=" + std::to_string(s.out);
    float* y = dev.zeros((size_t)s.N * s.out);
    be->linear_forward(dev.f(x), dev.f(W), s.bias ? dev.f(b) : nullptr, y, s.N, s.in, s.out);
    report(be->name(), "linear_forward" + shape + (s.bias ? "" : " no bias"),
           rel_err(dev.get(y, (size_t)s.N * s.out), ref_linear(x, W, s.bias ? &b : nullptr, s.N, s.in, s.out)), 1e-5);
    // The product with its activation fused (inference's FFN), every activation. Errors are scaled
    // by the product's largest magnitude: no activation's slope exceeds 1.13, so the product's own
    // error bounds them, where the activations' smaller outputs would magnify it.
    const char* act_names[] = {"gelu", "gelu_tanh", "relu", "tanh"};
    const Vec pre = ref_linear(x, W, s.bias ? &b : nullptr, s.N, s.in, s.out);
    double pre_max = 0;
    for (double v : pre) pre_max = std::max(pre_max, std::fabs(v));
    for (int a : {engine::GELU, engine::GELU_TANH, engine::RELU, engine::TANH}) {
      Vec want = pre;
      for (double& v : want) v = act(v, a);
      float* ya = dev.zeros((size_t)s.N * s.out);
      be->linear_act_forward(dev.f(x), dev.f(W), s.bias ? dev.f(b) : nullptr, ya, s.N, s.in, s.out, a);
      report(be->name(), std::string("linear_act_forward ") + act_names[a] + shape,
             rel_err(dev.get(ya, (size_t)s.N * s.out), want, pre_max), 1e-5);
    }
    // The same weight buffer read three times, then given new values, as an optimizer step writes
    // them, twice: every product reads the current values (the CPU backend reads a weight as it is
    // or as a bf16 copy the first time, and from a packed copy, made again after a change, from the
    // second). Forward and input gradient, which read the weight in its two orientations. Drawn
    // from a generator of their own, so that the cases after these see the draws they always saw.
    float* Wd = dev.f(W);
    Rng step_rng(s.N * 1000 + s.out);
    const Vec dyr = step_rng.normal((size_t)s.N * s.out);
    float* dxr = dev.zeros((size_t)s.N * s.in);
    for (int step = 0; step <= 2; step++) {
      Vec Ws = W;
      if (step > 0) {
        Ws = step_rng.normal(W.size(), 0.1);
        const std::vector<float> h = to_f(Ws);
        be->upload(Wd, h.data(), h.size() * sizeof(float));
        be->weights_changed();
      }
      const Vec want_dx = ref_linear_backward(dyr, x, Ws, s.N, s.in, s.out).dx;
      for (int read = 1; read <= 3; read++) {
        const std::string when = " (weights changed " + std::to_string(step) + "x, read " + std::to_string(read) + ")";
        be->linear_forward(dev.f(x), Wd, nullptr, y, s.N, s.in, s.out);
        report(be->name(), "linear_forward" + when + shape,
               rel_err(dev.get(y, (size_t)s.N * s.out), ref_linear(x, Ws, nullptr, s.N, s.in, s.out)), 1e-5);
        be->linear_backward(dev.f(dyr), dev.f(x), Wd, dxr, 0.0f, nullptr, nullptr, s.N, s.in, s.out);
        report(be->name(), "linear_backward dx" + when + shape, rel_err(dev.get(dxr, want_dx.size()), want_dx), 1e-5);
      }
    }

    // Backward: dx accumulated onto a non-zero buffer (beta 1), dW and db accumulated too.
    const Vec dy = rng.normal((size_t)s.N * s.out), dx0 = rng.normal((size_t)s.N * s.in), dW0 = rng.normal(W.size()),
              db0 = rng.normal(s.out);
    float *dx = dev.f(dx0), *dW = dev.f(dW0), *db = dev.f(db0);
    be->linear_backward(dev.f(dy), dev.f(x), dev.f(W), dx, 1.0f, dW, db, s.N, s.in, s.out);
    LinearGrads g = ref_linear_backward(dy, x, W, s.N, s.in, s.out);
    for (size_t i = 0; i < g.dx.size(); i++) g.dx[i] += dx0[i];
    for (size_t i = 0; i < g.dW.size(); i++) g.dW[i] += dW0[i];
    for (size_t i = 0; i < g.db.size(); i++) g.db[i] += db0[i];
    report(be->name(), "linear_backward dx (beta 1)" + shape, rel_err(dev.get(dx, g.dx.size()), g.dx), 1e-5);
    report(be->name(), "linear_backward dW" + shape, rel_err(dev.get(dW, g.dW.size()), g.dW), 1e-5);
    report(be->name(), "linear_backward db" + shape, rel_err(dev.get(db, g.db.size()), g.db), 1e-5);
    // dx overwritten (beta 0), no dx at all, no db.
    float* dx2 = dev.f(rng.normal((size_t)s.N * s.in));
    be->linear_backward(dev.f(dy), dev.f(x), dev.f(W), dx2, 0.0f, dev.zeros(W.size()), nullptr, s.N, s.in, s.out);
    LinearGrads g2 = ref_linear_backward(dy, x, W, s.N, s.in, s.out);
    report(be->name(), "linear_backward dx (beta 0, no db)" + shape, rel_err(dev.get(dx2, g2.dx.size()), g2.dx), 1e-5);
    float* dW3 = dev.zeros(W.size());
    be->linear_backward(dev.f(dy), dev.f(x), dev.f(W), nullptr, 0.0f, dW3, nullptr, s.N, s.in, s.out);
    report(be->name(), "linear_backward dW (no dx)" + shape, rel_err(dev.get(dW3, W.size()), g2.dW), 1e-5);
    // dx alone (no dW, no db): the input gradients explanations take.
    float* dx4 = dev.zeros((size_t)s.N * s.in);
    be->linear_backward(dev.f(dy), dev.f(x), dev.f(W), dx4, 0.0f, nullptr, nullptr, s.N, s.in, s.out);
    report(be->name(), "linear_backward dx (no dW, no db)" + shape, rel_err(dev.get(dx4, g2.dx.size()), g2.dx), 1e-5);
  }
}

// Inference's FFN as one kernel: act(x W1^T + b1) W2^T + b2.
void test_ffn(Backend* be, Rng& rng) {
  struct S { int N, D, F; };
  const char* names[] = {"gelu", "gelu_tanh", "relu", "tanh"};
  for (S s : {S{1, 4, 8}, S{9, 24, 40}, S{6, 768, 3072}})
    for (int a : {engine::GELU, engine::RELU}) {
      be->weights_changed();
      Dev dev(be);
      const Vec x = rng.normal((size_t)s.N * s.D), W1 = rng.normal((size_t)s.F * s.D, 0.1), b1 = rng.normal(s.F),
                W2 = rng.normal((size_t)s.D * s.F, 0.05), b2 = rng.normal(s.D);
      Vec h = ref_linear(x, W1, &b1, s.N, s.D, s.F);
      for (double& v : h) v = act(v, a);
      const Vec want = ref_linear(h, W2, &b2, s.N, s.F, s.D);
      // Twice with the same weights: the CPU backend reads them as bf16 copies, then packed.
      float *W1d = dev.f(W1), *W2d = dev.f(W2);
      for (int read = 1; read <= 2; read++) {
        float* y = dev.zeros((size_t)s.N * s.D);
        be->ffn_forward(dev.f(x), W1d, dev.f(b1), W2d, dev.f(b2), dev.zeros((size_t)s.N * s.F), y, s.N, s.D, s.F, a);
        report(be->name(), std::string("ffn_forward ") + names[a] + " N=" + std::to_string(s.N) + " D=" +
                               std::to_string(s.D) + " F=" + std::to_string(s.F) + " (read " + std::to_string(read) + ")",
               rel_err(dev.get(y, (size_t)s.N * s.D), want), 1e-5);
      }
    }
}

// Training's FFN: h = x W1^T + b1, y = act(h) W2^T + b2, and its backward, every activation.
// Backward is checked against the reference's at the h the backend gave (a function of x, h and
// the weights): where bf16 moves an h across ReLU's kink, both sides then take the same branch.
void test_ffn_train(Backend* be, Rng& rng) {
  struct S { int N, D, F; };
  const char* names[] = {"gelu", "gelu_tanh", "relu", "tanh"};
  for (S s : {S{1, 4, 8}, S{9, 24, 40}, S{33, 64, 96}})
    for (int a : {engine::GELU, engine::GELU_TANH, engine::RELU, engine::TANH}) {
      be->weights_changed();
      Dev dev(be);
      const std::string shape = std::string(" ") + names[a] + " N=" + std::to_string(s.N) + " D=" +
                                std::to_string(s.D) + " F=" + std::to_string(s.F);
      const Vec x = rng.normal((size_t)s.N * s.D), W1 = rng.normal((size_t)s.F * s.D, 0.3), b1 = rng.normal(s.F),
                W2 = rng.normal((size_t)s.D * s.F, 0.2), b2 = rng.normal(s.D);
      const size_t NF = (size_t)s.N * s.F, ND = (size_t)s.N * s.D;
      float *xd = dev.f(x), *W1d = dev.f(W1), *W2d = dev.f(W2), *h = dev.zeros(NF), *y = dev.zeros(ND);
      be->ffn_train_forward(xd, W1d, dev.f(b1), W2d, dev.f(b2), h, dev.zeros(NF), y, s.N, s.D, s.F, a);
      const Vec want_h = ref_linear(x, W1, &b1, s.N, s.D, s.F);
      // h as forward kept it: fp32, or (the CPU's bf16 mode) as bfloat16 bits in its room's first N x F
      // halves, then the activation's.
      std::vector<float> got_h = dev.get(h, NF);
      if (be->host_memory() && g_precision == "bf16") {
        const std::vector<float> room = got_h;
        const uint16_t* bits = reinterpret_cast<const uint16_t*>(room.data());
        Vec want_a16(NF);
        std::vector<float> got_a16(NF);
        for (size_t i = 0; i < NF; i++) {
          got_h[i] = engine::from_bf16(bits[i]);
          want_a16[i] = act(got_h[i], a);
          got_a16[i] = engine::from_bf16(bits[NF + i]);
        }
        report(be->name(), "ffn_train_forward kept activation" + shape, rel_err(got_a16, want_a16), 1e-5);
      }
      report(be->name(), "ffn_train_forward h" + shape, rel_err(got_h, want_h), 1e-5);
      Vec act_h = want_h;
      for (double& v : act_h) v = act(v, a);
      report(be->name(), "ffn_train_forward y" + shape, rel_err(dev.get(y, ND), ref_linear(act_h, W2, &b2, s.N, s.F, s.D)),
             1e-5);

      // Backward at the backend's h, onto non-zero dx (beta 1) and parameter gradients.
      const Vec hb(got_h.begin(), got_h.end());
      Vec ab = hb;
      for (double& v : ab) v = act(v, a);
      const Vec dy = rng.normal(ND), dx0 = rng.normal(ND), dW10 = rng.normal(W1.size()), db10 = rng.normal(s.F),
                dW20 = rng.normal(W2.size()), db20 = rng.normal(s.D);
      LinearGrads g2 = ref_linear_backward(dy, ab, W2, s.N, s.F, s.D);
      Vec dh = g2.dx;
      for (size_t i = 0; i < NF; i++) dh[i] *= act_grad(hb[i], a);
      LinearGrads g1 = ref_linear_backward(dh, x, W1, s.N, s.D, s.F);
      float *dx = dev.f(dx0), *dW1 = dev.f(dW10), *db1 = dev.f(db10), *dW2 = dev.f(dW20), *db2 = dev.f(db20);
      be->ffn_backward(dev.f(dy), xd, h, dev.zeros(NF), W1d, W2d, dev.zeros(NF), dx, 1.0f, dW1, db1, dW2, db2, s.N, s.D,
                       s.F, a);
      const Vec want_dx = g1.dx;
      for (size_t i = 0; i < ND; i++) g1.dx[i] += dx0[i];
      for (size_t i = 0; i < W1.size(); i++) g1.dW[i] += dW10[i], g2.dW[i] += dW20[i];
      for (int i = 0; i < s.F; i++) g1.db[i] += db10[i];
      for (int i = 0; i < s.D; i++) g2.db[i] += db20[i];
      report(be->name(), "ffn_backward dx (beta 1)" + shape, rel_err(dev.get(dx, ND), g1.dx), 1e-5);
      report(be->name(), "ffn_backward dW1" + shape, rel_err(dev.get(dW1, W1.size()), g1.dW), 1e-5);
      report(be->name(), "ffn_backward db1" + shape, rel_err(dev.get(db1, s.F), g1.db), 1e-5);
      report(be->name(), "ffn_backward dW2" + shape, rel_err(dev.get(dW2, W2.size()), g2.dW), 1e-5);
      report(be->name(), "ffn_backward db2" + shape, rel_err(dev.get(db2, s.D), g2.db), 1e-5);
      // Input gradients only (explanations): dx overwritten, no parameter gradients.
      float* dx2 = dev.f(rng.normal(ND));
      be->ffn_backward(dev.f(dy), xd, h, dev.zeros(NF), W1d, W2d, dev.zeros(NF), dx2, 0.0f, nullptr, nullptr, nullptr,
                       nullptr, s.N, s.D, s.F, a);
      report(be->name(), "ffn_backward dx (beta 0, input gradients only)" + shape, rel_err(dev.get(dx2, ND), want_dx),
             1e-5);
    }
}

// The residual add and the LayerNorm after it: the sum into a buffer of its own, over a, or over b;
// backward then reads the sum as its x, with the mean and rstd kept.
void test_add_layernorm(Backend* be, Rng& rng) {
  struct S { int N, D; };
  const char* where[] = {"own buffer", "in place over a", "in place over b"};
  for (S s : {S{1, 7}, S{5, 33}, S{17, 768}})
    for (int place = 0; place < 3; place++) {
      Dev dev(be);
      const std::string name = std::string(" (sum ") + where[place] + ") N=" + std::to_string(s.N) + " D=" + std::to_string(s.D);
      Vec a = rng.normal((size_t)s.N * s.D, 2.0);
      for (auto& v : a) v = (float)(v + 3.0);
      const Vec b = rng.normal(a.size()), gamma = rng.normal(s.D), beta = rng.normal(s.D);
      Vec sum(a.size());
      for (size_t i = 0; i < a.size(); i++) sum[i] = (double)(float)a[i] + (double)(float)b[i];
      const double eps = 1e-12;
      float *ad = dev.f(a), *bd = dev.f(b), *out = dev.zeros(a.size()), *mean = dev.zeros(s.N), *rstd = dev.zeros(s.N);
      float* sd = place == 0 ? dev.zeros(a.size()) : place == 1 ? ad : bd;
      be->add_layernorm_forward(ad, bd, sd, dev.f(gamma), dev.f(beta), out, mean, rstd, s.N, s.D, (float)eps);
      report(be->name(), "add_layernorm_forward sum" + name, rel_err(dev.get(sd, a.size()), sum), 1e-6);
      report(be->name(), "add_layernorm_forward out" + name,
             rel_err(dev.get(out, a.size()), ref_layernorm(sum, gamma, beta, s.N, s.D, eps)), 1e-5);
      const Vec dy = rng.normal(a.size());
      float* dx = dev.zeros(a.size());
      be->layernorm_backward(dev.f(dy), sd, dev.f(gamma), mean, rstd, dx, nullptr, nullptr, s.N, s.D);
      report(be->name(), "layernorm_backward dx after add_layernorm_forward" + name,
             rel_err(dev.get(dx, a.size()), ref_layernorm_backward(dy, sum, gamma, s.N, s.D, eps).dx), 1e-5);
    }
}

void test_layernorm(Backend* be, Rng& rng) {
  struct S { int N, D; };
  for (S s : {S{1, 7}, S{5, 33}, S{17, 768}}) {
    Dev dev(be);
    const std::string shape = " N=" + std::to_string(s.N) + " D=" + std::to_string(s.D);
    Vec x = rng.normal((size_t)s.N * s.D, 2.0);
    for (auto& v : x) v = (float)(v + 3.0);  // a mean far from 0
    const Vec gamma = rng.normal(s.D), beta = rng.normal(s.D);
    const double eps = 1e-12;
    float *out = dev.zeros(x.size()), *mean = dev.zeros(s.N), *rstd = dev.zeros(s.N);
    float* dxv = dev.f(x);
    be->layernorm_forward(dxv, dev.f(gamma), dev.f(beta), out, mean, rstd, s.N, s.D, (float)eps);
    report(be->name(), "layernorm_forward" + shape, rel_err(dev.get(out, x.size()), ref_layernorm(x, gamma, beta, s.N, s.D, eps)), 1e-5);
    const Vec dy = rng.normal(x.size()), dg0 = rng.normal(s.D), db0 = rng.normal(s.D);
    float *dx = dev.zeros(x.size()), *dg = dev.f(dg0), *db = dev.f(db0);
    be->layernorm_backward(dev.f(dy), dxv, dev.f(gamma), mean, rstd, dx, dg, db, s.N, s.D);
    LnGrads g = ref_layernorm_backward(dy, x, gamma, s.N, s.D, eps);
    for (int d = 0; d < s.D; d++) g.dgamma[d] += dg0[d], g.dbeta[d] += db0[d];
    report(be->name(), "layernorm_backward dx" + shape, rel_err(dev.get(dx, x.size()), g.dx), 1e-5);
    report(be->name(), "layernorm_backward dgamma" + shape, rel_err(dev.get(dg, s.D), g.dgamma), 1e-5);
    report(be->name(), "layernorm_backward dbeta" + shape, rel_err(dev.get(db, s.D), g.dbeta), 1e-5);
    float* dx2 = dev.zeros(x.size());
    be->layernorm_backward(dev.f(dy), dxv, dev.f(gamma), mean, rstd, dx2, nullptr, nullptr, s.N, s.D);
    report(be->name(), "layernorm_backward dx (no dgamma, dbeta)" + shape, rel_err(dev.get(dx2, x.size()), g.dx), 1e-5);
  }
}

void test_attention(Backend* be, Rng& rng) {
  struct C { const char* what; AttnShape s; std::vector<int> lens; };
  const std::vector<C> cases = {
      {"self, fused qkv strides", {2, 5, 5, 12, 3, 36, 36, 0.0f}, {5, 3}},
      {"T=1", {3, 1, 1, 8, 2, 8, 8, 0.0f}, {1, 1, 1}},
      {"fully masked sequence", {2, 6, 6, 8, 2, 24, 24, 0.0f}, {6, 0}},
      {"[CLS] only (Tq=1), kv stride 2D", {2, 1, 7, 12, 3, 12, 24, 0.0f}, {7, 4}},
      {"odd sizes, dense strides", {1, 13, 13, 10, 5, 10, 10, 0.0f}, {11}},
      {"dropout 0.1", {2, 9, 9, 16, 4, 48, 48, 0.1f}, {9, 6}},
      {"[CLS] only with dropout 0.3", {3, 1, 8, 16, 2, 16, 32, 0.3f}, {8, 5, 1}},
      // Over 1024 keys: a GPU lane's 33rd key of a row and beyond (draws no longer kept as bits).
      {"1030 keys, dropout 0.2", {2, 2, 1030, 8, 2, 8, 8, 0.2f}, {1030, 700}},
      // Heads of 64: CUDA's bf16 mode runs its fused kernels (native/cuda/attention_bf16_*.cuh): tiles of
      // 64 queries and keys with partial last tiles, a fully masked sequence, the [CLS]-only form.
      {"heads of 64, 130 queries, dropout 0.1", {2, 130, 130, 128, 2, 384, 384, 0.1f}, {130, 77}},
      {"heads of 64, fully masked sequence", {2, 96, 96, 64, 1, 192, 192, 0.0f}, {96, 0}},
      {"heads of 64, [CLS] only, 200 keys, dropout 0.2", {2, 1, 200, 128, 2, 128, 256, 0.2f}, {200, 150}},
      // The CPU backend takes a head's queries in blocks of at most 2^17 scores: 327 of the 400 rows
      // here, 218 of the 600 (dv and dk add up two and three blocks).
      {"two query blocks, dropout 0.1", {3, 400, 400, 32, 4, 96, 96, 0.1f}, {400, 300, 400}},
      {"three query blocks, dropout 0.1", {2, 600, 600, 40, 5, 120, 120, 0.1f}, {600, 450}},
  };
  const uint64_t seed = 12345;
  for (const C& c : cases) {
    const AttnShape& s = c.s;
    Dev dev(be);
    const std::string name = std::string(" (") + c.what + ") B=" + std::to_string(s.B) + " Tq=" + std::to_string(s.Tq) +
                             " T=" + std::to_string(s.T) + " D=" + std::to_string(s.D) + " H=" + std::to_string(s.H);
    std::vector<int32_t> mask((size_t)s.B * s.T);
    for (int b = 0; b < s.B; b++)
      for (int t = 0; t < s.T; t++) mask[(size_t)b * s.T + t] = t < c.lens[b];
    const Vec q = rng.normal((size_t)s.B * s.Tq * s.ldq), k = rng.normal((size_t)s.B * s.T * s.ldkv),
              v = rng.normal((size_t)s.B * s.T * s.ldkv);
    float *dq_in = dev.f(q), *dk_in = dev.f(k), *dv_in = dev.f(v);
    int32_t* dmask = dev.i(mask);
    const size_t nctx = (size_t)s.B * s.Tq * s.D, nprobs = (size_t)s.B * s.H * s.Tq * s.T;
    // probs has its B*H*Tq*T floats and a guard after them that forward leaves as it is.
    constexpr size_t kGuard = 64;
    constexpr double kGuardValue = 1234.5;
    Vec room(nprobs + kGuard, 0.0);
    std::fill(room.begin() + (long)nprobs, room.end(), kGuardValue);
    float *ctx = dev.zeros(nctx), *probs = dev.f(room);
    be->attention_forward(dq_in, s.ldq, dk_in, dv_in, s.ldkv, dmask, probs, ctx, s.B, s.Tq, s.T, s.D, s.H, s.p, seed);
    const std::vector<float> after = dev.get(probs, nprobs + kGuard);
    report(be->name(), "attention_forward keeps to its room in probs" + name,
           (double)std::count_if(after.begin() + (long)nprobs, after.end(), [](float x) { return x != kGuardValue; }), 0);
    Vec want_probs;
    const Vec want = ref_attention(s, q, k, v, mask, seed, &want_probs);
    report(be->name(), "attention_forward" + name, rel_err(dev.get(ctx, nctx), want), 1e-5);
    if (be->keeps_probabilities()) {  // else backward's results below check what it kept
      report(be->name(), "attention_forward probs" + name, rel_err(dev.get(probs, nprobs), want_probs), 1e-5);
    } else if (be->host_memory() && (g_precision != "bf16" || s.T < 2)) {  // CPU fp32, and bf16 rows of one key:
      // the probabilities, the dropout mask in their signs
      std::vector<float> kept = dev.get(probs, nprobs);
      for (float& x : kept) x = std::fabs(x);
      report(be->name(), "attention_forward |probs|" + name, rel_err(kept, want_probs), 1e-5);
    } else if (be->host_memory()) {  // CPU bf16: each score row's largest value and inverse sum of exponentials
      const int64_t rows = (int64_t)s.B * s.H * s.Tq, dh = s.D / s.H;
      const std::vector<float> stats = dev.get(probs, (size_t)rows * 2);
      std::vector<float> got(nprobs);  // the probabilities they give with the scores in double
      for (int64_t row = 0; row < rows; row++) {
        const int64_t b = row / ((int64_t)s.H * s.Tq), h = row / s.Tq % s.H, r = row % s.Tq;
        for (int j = 0; j < s.T; j++) {
          double score = -FLT_MAX;
          if (mask[(size_t)b * s.T + j]) {
            score = 0;
            for (int64_t c = 0; c < dh; c++)
              score += q[(size_t)((b * s.Tq + r) * s.ldq + h * dh + c)] * k[(size_t)((b * s.T + j) * s.ldkv + h * dh + c)];
            score /= std::sqrt((double)dh);
          }
          got[(size_t)(row * s.T + j)] = (float)(std::exp(score - stats[2 * row]) * stats[2 * row + 1]);
        }
      }
      report(be->name(), "attention_forward row statistics" + name, rel_err(got, want_probs), 1e-5);
    }
    // Inference: no probabilities kept, the same context.
    float* ctx2 = dev.zeros(nctx);
    be->attention_forward(dq_in, s.ldq, dk_in, dv_in, s.ldkv, dmask, nullptr, ctx2, s.B, s.Tq, s.T, s.D, s.H, s.p, seed);
    report(be->name(), "attention_forward no probs" + name, rel_err(dev.get(ctx2, nctx), want), 1e-5);

    const Vec dctx = rng.normal(nctx);
    float *dq = dev.zeros(q.size()), *dk = dev.zeros(k.size()), *dv = dev.zeros(v.size());
    be->attention_backward(dev.f(dctx), dq_in, s.ldq, dk_in, dv_in, s.ldkv, dmask, probs, dq, dk, dv, s.B, s.Tq, s.T,
                           s.D, s.H, s.p, seed);
    const AttnGrads g = ref_attention_backward(s, dctx, q, k, v, mask, seed);
    // The kernel writes only the D-wide blocks of the strided gradient buffers.
    report(be->name(), "attention_backward dq" + name,
           rel_err(only_blocks(dev.get(dq, q.size()), s.B * s.Tq, s.ldq, s.D), only_blocks(g.dq, s.B * s.Tq, s.ldq, s.D)), 2e-5);
    report(be->name(), "attention_backward dk" + name,
           rel_err(only_blocks(dev.get(dk, k.size()), s.B * s.T, s.ldkv, s.D), only_blocks(g.dk, s.B * s.T, s.ldkv, s.D)), 2e-5);
    report(be->name(), "attention_backward dv" + name,
           rel_err(only_blocks(dev.get(dv, v.size()), s.B * s.T, s.ldkv, s.D), only_blocks(g.dv, s.B * s.T, s.ldkv, s.D)), 2e-5);
  }
}

// A full layer's q/k/v projection, self-attention and output projection, forward and backward,
// through the calls that pass q, k, v, the attention's output and the gradient of q, k, v in the
// backend's own form (the CPU's bf16: bfloat16): qkv_forward, attention_forward_qkv,
// context_forward, context_backward, attention_backward_qkv, qkv_backward. Checked by what comes out
// (the output projection's y and gradients, then the q/k/v projection's) against the references.
void test_attention_qkv(Backend* be, Rng& rng) {
  struct C {
    const char* what;
    int B, T, D, H;
    float p;
  };
  const C cases[] = {
      {"dropout 0.1", 2, 9, 16, 4, 0.1f},
      {"heads of 64, dropout 0.1", 2, 130, 128, 2, 0.1f},
      // dv and dk sum over two blocks of query rows on the CPU (327 and 73 of a head's 400)
      {"two query blocks, dropout 0.1", 2, 400, 32, 4, 0.1f},
      // One key a sequence (the second's masked): the CPU's bf16 form keeps the probabilities.
      {"one key, dropout 0.1", 2, 1, 16, 4, 0.1f},
  };
  const uint64_t seed = 777;
  for (const C& c : cases) {
    const int N = c.B * c.T, D = c.D, D3 = 3 * c.D;
    const AttnShape s{c.B, c.T, c.T, D, c.H, D3, D3, c.p};
    const std::string name = std::string(" (") + c.what + ") B=" + std::to_string(c.B) + " T=" + std::to_string(c.T) +
                             " D=" + std::to_string(D) + " H=" + std::to_string(c.H);
    Dev dev(be);
    std::vector<int32_t> mask((size_t)N, 1);
    for (int t = std::max(c.T - 3, 0); t < c.T; t++) mask[(size_t)c.T + t] = 0;  // the second sequence's last 3 keys masked
    const double w_scale = 1 / std::sqrt((double)D);
    const Vec x = rng.normal((size_t)N * D), W = rng.normal((size_t)D3 * D, w_scale), bias = rng.normal(D3),
              Wo = rng.normal((size_t)D * D, w_scale), bo = rng.normal(D), dy = rng.normal((size_t)N * D),
              dx0 = rng.normal((size_t)N * D);
    const Vec qkv = ref_linear(x, W, &bias, N, D, D3);
    const Vec k(qkv.begin() + D, qkv.end()), v(qkv.begin() + 2 * D, qkv.end());
    const Vec ctx_want = ref_attention(s, qkv, k, v, mask, seed);
    const LinearGrads out = ref_linear_backward(dy, ctx_want, Wo, N, D, D);
    int32_t* mask_d = dev.i(mask);
    float *x_d = dev.f(x), *W_d = dev.f(W), *Wo_d = dev.f(Wo), *qkv_d = dev.zeros((size_t)N * D3);
    float *probs = dev.zeros((size_t)c.B * c.H * c.T * c.T), *ctx = dev.zeros((size_t)N * D), *y = dev.zeros((size_t)N * D);
    be->qkv_forward(x_d, W_d, dev.f(bias), qkv_d, N, D);
    be->attention_forward_qkv(qkv_d, mask_d, probs, ctx, c.B, c.T, D, c.H, c.p, seed);
    be->context_forward(ctx, Wo_d, dev.f(bo), y, N, D);
    report(be->name(), "qkv_forward + attention_forward_qkv + context_forward" + name,
           rel_err(dev.get(y, (size_t)N * D), ref_linear(ctx_want, Wo, &bo, N, D, D)), 2e-5);
    float *dctx = dev.zeros((size_t)N * D), *dWo = dev.zeros(Wo.size()), *dbo = dev.zeros(D);
    be->context_backward(dev.f(dy), ctx, Wo_d, dctx, dWo, dbo, N, D);
    report(be->name(), "context_backward dctx" + name, rel_err(dev.get(dctx, (size_t)N * D), out.dx), 2e-5);
    report(be->name(), "context_backward dW" + name, rel_err(dev.get(dWo, Wo.size()), out.dW), 2e-5);
    report(be->name(), "context_backward db" + name, rel_err(dev.get(dbo, D), out.db), 2e-5);
    float *d_qkv = dev.zeros((size_t)N * D3), *dx = dev.f(dx0), *dW = dev.zeros(W.size()), *db = dev.zeros(D3);
    be->attention_backward_qkv(dctx, qkv_d, mask_d, probs, d_qkv, c.B, c.T, D, c.H, c.p, seed);
    be->qkv_backward(d_qkv, x_d, W_d, dx, 1.0f, dW, db, N, D);
    // The references: q, k and v each seen from its first column, the gradients put back side by side.
    const AttnGrads g = ref_attention_backward(s, out.dx, qkv, k, v, mask, seed);
    Vec dqkv((size_t)N * D3);
    for (int r = 0; r < N; r++)
      for (int col = 0; col < D; col++) {
        dqkv[(size_t)r * D3 + col] = g.dq[(size_t)r * D3 + col];
        dqkv[(size_t)r * D3 + D + col] = g.dk[(size_t)r * D3 + col];
        dqkv[(size_t)r * D3 + 2 * D + col] = g.dv[(size_t)r * D3 + col];
      }
    LinearGrads want = ref_linear_backward(dqkv, x, W, N, D, D3);
    for (size_t i = 0; i < want.dx.size(); i++) want.dx[i] += dx0[i];
    report(be->name(), "attention_backward_qkv + qkv_backward dx (beta 1)" + name, rel_err(dev.get(dx, want.dx.size()), want.dx), 2e-5);
    report(be->name(), "attention_backward_qkv + qkv_backward dW" + name, rel_err(dev.get(dW, W.size()), want.dW), 2e-5);
    report(be->name(), "attention_backward_qkv + qkv_backward db" + name, rel_err(dev.get(db, D3), want.db), 2e-5);
  }
}

void test_elementwise(Backend* be, Rng& rng) {
  const char* names[] = {"gelu", "gelu_tanh", "relu", "tanh"};
  for (int a : {engine::GELU, engine::GELU_TANH, engine::RELU, engine::TANH})
    for (int n : {1, 1000, 4097}) {
      Dev dev(be);
      const Vec x = rng.normal(n, 3.0), dy = rng.normal(n);
      const std::string name = std::string(" ") + names[a] + " n=" + std::to_string(n);
      Vec y(n), dx(n);
      for (int i = 0; i < n; i++) y[i] = act(x[i], a), dx[i] = dy[i] * act_grad(x[i], a);
      // Values under 1 are compared absolutely: the CPU's vectorized erf is within 5e-7 of the true one.
      float *dxp = dev.f(x), *out = dev.zeros(n);
      be->activation_forward(dxp, out, n, a);
      report(be->name(), "activation_forward" + name, rel_err(dev.get(out, n), y, 1.0), 1e-5);
      be->activation_forward(dxp, dxp, n, a);  // in place
      report(be->name(), "activation_forward in place" + name, rel_err(dev.get(dxp, n), y, 1.0), 1e-5);
      float *g = dev.f(dy), *xin = dev.f(x);
      be->activation_backward(g, xin, g, n, a);  // in place, as the model calls it
      report(be->name(), "activation_backward in place" + name, rel_err(dev.get(g, n), dx, 1.0), 1e-5);
    }

  // dropout: rows of a wider tensor (row_stride > cols), forward and backward draw the same mask; rows
  // starting on and off a draw's four lanes, and rows longer than the CPU's chunk of 2048 numbers
  for (const auto& [rows, cols, stride, p] : std::vector<std::tuple<int, int, int, float>>{
           {5, 24, 72, 0.25f}, {4, 23, 37, 0.1f}, {2, 5001, 5003, 0.5f}}) {
    Dev dev(be);
    const uint64_t seed = 777;
    const Vec x = rng.normal(rows * cols);
    Vec want(x.size());
    for (int r = 0; r < rows; r++)
      for (int c = 0; c < cols; c++)
        want[r * cols + c] = (float)x[r * cols + c] * (float)keep_scale(seed, (uint64_t)r * stride + c, p);
    const std::string shape = " rows=" + std::to_string(rows) + " cols=" + std::to_string(cols) +
                              " stride=" + std::to_string(stride) + " p=" + std::to_string(p).substr(0, 4);
    float *xin = dev.f(x), *y = dev.zeros(x.size());
    be->dropout_forward(xin, y, rows, cols, stride, p, seed);
    report(be->name(), "dropout_forward" + shape, rel_err(dev.get(y, x.size()), want), 1e-6);
    be->dropout_backward(xin, xin, rows, cols, stride, p, seed);
    report(be->name(), "dropout_backward in place (same mask)" + shape, rel_err(dev.get(xin, x.size()), want), 1e-6);
  }
  {  // add, scale, sum of squares, row copies
    Dev dev(be);
    const int n = 1031;
    const Vec a = rng.normal(n), b = rng.normal(n);
    Vec sum(n), scaled(n);
    double ss = 0;
    for (int i = 0; i < n; i++) sum[i] = a[i] + b[i], scaled[i] = a[i] * 0.37, ss += a[i] * a[i];
    float *pa = dev.f(a), *pb = dev.f(b);
    be->add(pa, pb, pb, n);
    report(be->name(), "add n=1031 (out aliases b)", rel_err(dev.get(pb, n), sum), 1e-6);
    report(be->name(), "sum_squares n=1031", std::fabs(be->sum_squares(pa, n) - ss) / ss, 1e-6);
    be->scale(pa, 0.37f, n);
    report(be->name(), "scale n=1031", rel_err(dev.get(pa, n), scaled), 1e-6);
    const int B = 3, T = 5, D = 7;
    const Vec x = rng.normal(B * T * D);
    Vec gathered(B * D), scattered(B * T * D, 0.0);
    for (int r = 0; r < B; r++)
      for (int d = 0; d < D; d++) gathered[r * D + d] = x[r * T * D + d], scattered[r * T * D + d] = x[r * T * D + d];
    float* g = dev.zeros(B * D);
    be->copy_rows(dev.f(x), T * D, g, D, B, D);
    report(be->name(), "copy_rows gather B=3 T=5 D=7", rel_err(dev.get(g, B * D), gathered), 0);
    float* sc = dev.zeros(B * T * D);
    be->copy_rows(g, D, sc, T * D, B, D);
    report(be->name(), "copy_rows scatter B=3 T=5 D=7", rel_err(dev.get(sc, B * T * D), scattered), 0);
  }
  {  // fill_zero of a range inside a buffer, small and larger than the caches (the gradients' clear),
     // starting off a 16-byte boundary: the range is zero, the floats beside it untouched
    for (size_t n : {(size_t)1031, ((size_t)64 << 20) / sizeof(float) + 37}) {
      engine::DeviceBuffer<float> buf(be, n + 2);
      const std::vector<float> ones(n + 2, 1.0f);
      buf.upload(ones.data(), n + 2);
      be->fill_zero(buf.get() + 1, n * sizeof(float));
      std::vector<float> h(n + 2);
      be->synchronize();
      be->download(h.data(), buf.get(), (n + 2) * sizeof(float));
      size_t wrong = (h[0] != 1.0f) + (h[n + 1] != 1.0f);
      for (size_t i = 1; i <= n; i++) wrong += h[i] != 0.0f;
      report(be->name(), "fill_zero " + std::to_string(n) + " floats from offset 4 bytes", (double)wrong, 0);
    }
  }
  {  // rows by index list (the masked LM's predicted positions): out of order, first and last rows
    Dev dev(be);
    const int rows = 9, D = 13;
    const std::vector<int32_t> list = {8, 0, 5, 6};
    const Vec x = rng.normal(rows * D), y = rng.normal(list.size() * D), base = rng.normal(rows * D);
    Vec gathered(list.size() * D), scattered = base;
    for (size_t i = 0; i < list.size(); i++)
      for (int d = 0; d < D; d++) gathered[i * D + d] = x[list[i] * D + d], scattered[list[i] * D + d] = y[i * D + d];
    int32_t* pl = dev.i(list);
    float* g = dev.zeros(list.size() * D);
    be->gather_rows(dev.f(x), pl, (int64_t)list.size(), D, g);
    report(be->name(), "gather_rows {8,0,5,6} of 9, D=13", rel_err(dev.get(g, list.size() * D), gathered), 0);
    float* sc = dev.f(base);
    be->scatter_rows(dev.f(y), pl, (int64_t)list.size(), D, sc);
    report(be->name(), "scatter_rows {8,0,5,6} of 9 (others untouched)", rel_err(dev.get(sc, rows * D), scattered), 0);
  }
}

void test_embedding(Backend* be, Rng& rng) {
  const int V = 11, P = 9, B = 3, T = 6, D = 10;
  for (bool pos_grad : {true, false}) {
    Dev dev(be);
    std::vector<int32_t> ids(B * T);
    for (auto& id : ids) id = rng.uniform_int(4);  // many repeats: the accumulation order matters
    ids[0] = V - 1;
    const Vec word = rng.normal(V * D), pos = rng.normal(P * D), dout = rng.normal(B * T * D);
    Vec want(B * T * D), dword = rng.normal(V * D), dpos(P * D, 0.0);
    const Vec dword0 = dword;
    for (int r = 0; r < B * T; r++)
      for (int d = 0; d < D; d++) {
        want[r * D + d] = (float)word[ids[r] * D + d] + (float)pos[(r % T) * D + d];
        dword[ids[r] * D + d] += dout[r * D + d];
        if (pos_grad) dpos[(r % T) * D + d] += dout[r * D + d];
      }
    int32_t* pids = dev.i(ids);
    float* out = dev.zeros(B * T * D);
    be->embedding_forward(pids, dev.f(word), dev.f(pos), out, B, T, D);
    if (pos_grad) report(be->name(), "embedding_forward V=11 B=3 T=6 D=10", rel_err(dev.get(out, B * T * D), want), 1e-6);
    float *dw = dev.f(dword0), *dp = dev.zeros(P * D);
    be->embedding_backward(pids, dev.f(dout), dw, pos_grad ? dp : nullptr, B, T, D);
    const std::string tag = pos_grad ? "" : " (fixed positions)";
    report(be->name(), "embedding_backward dword, repeated ids" + tag, rel_err(dev.get(dw, V * D), dword), 1e-6);
    report(be->name(), "embedding_backward dpos" + tag, rel_err(dev.get(dp, P * D), dpos), 1e-6);
  }
}

void test_cross_entropy(Backend* be, Rng& rng) {
  struct S { int B, C; float scale; };
  // 30,001 columns: a masked-LM row (a vocabulary) as wide as the real one.
  for (S s : {S{1, 1, 1.0f}, S{4, 20, 1.0f}, S{7, 3, 0.25f}, S{5, 30001, 0.5f}}) {
    Dev dev(be);
    const Vec z = rng.normal(s.B * s.C, 4.0);
    std::vector<int32_t> labels(s.B);
    for (auto& l : labels) l = rng.uniform_int(s.C);
    Vec loss(s.B), grad(s.B * s.C);
    for (int b = 0; b < s.B; b++) {
      double mx = -INFINITY, sum = 0;
      for (int c = 0; c < s.C; c++) mx = std::max(mx, z[b * s.C + c]);
      for (int c = 0; c < s.C; c++) sum += std::exp(z[b * s.C + c] - mx);
      const double lse = mx + std::log(sum);
      loss[b] = lse - z[b * s.C + labels[b]];
      for (int c = 0; c < s.C; c++)
        grad[b * s.C + c] = (std::exp(z[b * s.C + c] - lse) - (c == labels[b])) / s.B * s.scale;
    }
    const std::string name = " B=" + std::to_string(s.B) + " C=" + std::to_string(s.C) + " scale=" + std::to_string(s.scale);
    float *losses = dev.zeros(s.B), *dl = dev.zeros(s.B * s.C);
    be->cross_entropy(dev.f(z), dev.i(labels), losses, dl, s.B, s.C, s.scale);
    report(be->name(), "cross_entropy losses" + name, rel_err(dev.get(losses, s.B), loss), 1e-6);
    report(be->name(), "cross_entropy dlogits" + name, rel_err(dev.get(dl, s.B * s.C), grad), 1e-6);
  }
}

void test_adam(Backend* be, Rng& rng) {
  const int rows = 9, len = 13, n = rows * len;
  const float alpha = 1e-3f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
  const Vec p = rng.normal(n), g = rng.normal(n), m = rng.normal(n, 0.1);
  Vec v = rng.normal(n, 0.1);
  for (auto& x : v) x = std::fabs(x);
  auto update = [&](int i, Vec& P, Vec& M, Vec& V) {
    // In float, as Keras does it; the reference mirrors the arithmetic order.
    float mi = (float)M[i], vi = (float)V[i], gi = (float)g[i];
    mi += (gi - mi) * (1.0f - b1);
    vi += (gi * gi - vi) * (1.0f - b2);
    M[i] = mi, V[i] = vi;
    P[i] = (float)P[i] - alpha * mi / (std::sqrt(vi) + eps);
  };
  {
    Dev dev(be);
    Vec P = p, M = m, V = v;
    for (int i = 0; i < n; i++) update(i, P, M, V);
    float *pp = dev.f(p), *pm = dev.f(m), *pv = dev.f(v);
    be->adam_update(pp, dev.f(g), pm, pv, n, alpha, b1, b2, eps);
    report(be->name(), "adam_update n=117 params", rel_err(dev.get(pp, n), P), 1e-6);
    report(be->name(), "adam_update n=117 m", rel_err(dev.get(pm, n), M), 1e-6);
    report(be->name(), "adam_update n=117 v", rel_err(dev.get(pv, n), V), 1e-6);
  }
  {
    Dev dev(be);
    const std::vector<int32_t> list = {7, 0, 3};
    Vec P = p, M = m, V = v, Z = g;
    for (int r : list)
      for (int c = 0; c < len; c++) update(r * len + c, P, M, V), Z[r * len + c] = 0;
    float *pp = dev.f(p), *pm = dev.f(m), *pv = dev.f(v), *pg = dev.f(g);
    int32_t* pl = dev.i(list);
    be->adam_update_rows(pp, pg, pm, pv, pl, (int64_t)list.size(), len, alpha, b1, b2, eps);
    report(be->name(), "adam_update_rows rows {7,0,3} of 9 params", rel_err(dev.get(pp, n), P), 1e-6);
    report(be->name(), "adam_update_rows moments (others untouched)", rel_err(dev.get(pv, n), V), 1e-6);
    be->zero_rows(pg, pl, (int64_t)list.size(), len);
    report(be->name(), "zero_rows rows {7,0,3} of 9", rel_err(dev.get(pg, n), Z), 0);
  }
}

// torch.optim.AdamW's update (torch/optim/adamw.py, single-tensor path) in double, t = 3.
void test_adamw(Backend* be, Rng& rng) {
  const int n = 1037;
  const float lr = 2e-3f, wd = 0.01f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
  const int t = 3;
  const double bc1 = 1 - std::pow((double)b1, t), bc2 = 1 - std::pow((double)b2, t);
  const Vec p = rng.normal(n), g = rng.normal(n), m = rng.normal(n, 0.1);
  Vec v = rng.normal(n, 0.1);
  for (auto& x : v) x = x * x;
  Vec P(n), M(n), V(n);
  for (int i = 0; i < n; i++) {
    M[i] = m[i] + (g[i] - m[i]) * (1 - b1);
    V[i] = v[i] * b2 + (1 - b2) * g[i] * g[i];
    P[i] = p[i] * (1 - (double)lr * wd) - lr / bc1 * M[i] / (std::sqrt(V[i]) / std::sqrt(bc2) + eps);
  }
  Dev dev(be);
  float *pp = dev.f(p), *pm = dev.f(m), *pv = dev.f(v);
  be->adamw_update(pp, dev.f(g), pm, pv, n, lr, wd, b1, b2, eps, (float)bc1, (float)std::sqrt(bc2));
  report(be->name(), "adamw_update n=1037 t=3 params", rel_err(dev.get(pp, n), P), 1e-6);
  report(be->name(), "adamw_update n=1037 m", rel_err(dev.get(pm, n), M), 1e-6);
  report(be->name(), "adamw_update n=1037 v", rel_err(dev.get(pv, n), V), 1e-6);
}

// The dropout generator (../rng.h), which every backend shares: its stream against splitmix64's
// published outputs, its decisions against the reference's own reading of the definition, the
// probability it applies, and how its draws fall.
// An error inside a CPU kernel's parallel region reaches the caller as an exception (one thrown out
// of an OpenMP region would end the process): where this build has no bf16 products, the
// attention's blocks throw on every thread.
void test_parallel_errors() {
  const std::string why = engine::bf16_unsupported_reason();
  if (why.empty()) return;  // bf16 products run here: nothing throws
  const int B = 2, T = 4, D = 8, H = 2;
  std::vector<float> qkv((size_t)B * T * 3 * D, 0.5f), probs((size_t)B * H * T * T), ctx((size_t)B * T * D);
  const std::vector<int32_t> mask((size_t)B * T, 1);
  std::string got = "(none)";
  try {
    engine::attention_forward(qkv.data(), 3 * D, qkv.data() + D, qkv.data() + 2 * D, 3 * D, mask.data(), probs.data(),
                              ctx.data(), B, T, T, D, H, 0.0f, 1, true);
  } catch (const std::exception& e) {
    got = e.what();
  }
  report("cpu", "attention_forward's error from its threads: " + got, got == why ? 0 : 1, 0);
}

// A counter of /proc/vmstat (0 where absent).
long vmstat(const std::string& name) {
  std::ifstream f("/proc/vmstat");
  std::string key;
  long value = 0;
  while (f >> key >> value)
    if (key == name) return value;
  return 0;
}

// The AnonHugePages of the mapping of /proc/self/smaps that holds address p, in KiB.
long huge_kib_at(const void* p) {
  std::ifstream f("/proc/self/smaps");
  std::string line;
  bool inside = false;
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  while (std::getline(f, line)) {
    unsigned long lo = 0, hi = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx ", &lo, &hi) == 2 && line.find(':') > line.find('-')) inside = lo <= a && a < hi;
    else if (inside && line.rfind("AnonHugePages:", 0) == 0) return std::stol(line.substr(14));
  }
  return 0;
}

// The CPU backend's large buffers start on 2 MiB boundaries and, where the kernel has transparent
// huge pages (not "[never]"), are backed by them once touched; alloc_zeroed's read as zeros.
void test_huge_pages(Backend* be) {
  if (!be->host_memory()) return;
  const size_t bytes = size_t(16) << 20;
  char* p = static_cast<char*>(be->alloc(bytes));
  report(be->name(), "alloc of 16 MiB on a 2 MiB boundary", reinterpret_cast<uintptr_t>(p) % (2u << 20) ? 1 : 0, 0);
  std::ifstream mode("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string modes((std::istreambuf_iterator<char>(mode)), std::istreambuf_iterator<char>());
  for (int zeroed = 0; zeroed < 2; zeroed++) {
    char* q = zeroed ? static_cast<char*>(be->alloc_zeroed(bytes)) : p;
    if (zeroed) report(be->name(), "alloc_zeroed of 16 MiB reads as zeros", std::count(q, q + bytes, 0) == (long)bytes ? 0 : 1, 0);
    const long fallbacks = vmstat("thp_fault_fallback");
    std::memset(q, 1, bytes);
    const long huge = huge_kib_at(q + bytes / 2);
    const std::string what = std::string(zeroed ? "alloc_zeroed" : "alloc") + " of 16 MiB in huge pages once touched";
    if (modes.empty() || modes.find("[never]") != std::string::npos)
      std::printf("skip %-9s %s: transparent huge pages are off here\n", be->name().c_str(), what.c_str());
    else if (huge < (long)(bytes >> 10) && vmstat("thp_fault_fallback") > fallbacks)
      std::printf("skip %-9s %s: the kernel ran out of free huge pages (thp_fault_fallback)\n", be->name().c_str(), what.c_str());
    else
      report(be->name(), what + " (AnonHugePages " + std::to_string(huge) + " KiB)", huge >= (long)(bytes >> 10) ? 0 : 1, 0);
    if (zeroed) be->release(q);
  }
  be->release(p);
}

void test_generator() {
  {  // splitmix64 from state 0 (Vigna's splitmix64.c): seed 0's key is mix64(0) = 0
    const uint64_t published[4] = {0xe220a8397b1dcdafULL, 0x6e789e6aa1b965f4ULL, 0x06c45d188009454fULL,
                                   0xf88bb8a8724c81ecULL};
    const engine::Dropout d = engine::make_dropout(0, 0.5f);
    double wrong = 0;
    for (int g = 0; g < 4; g++) wrong += engine::dropout_draw(d, g) != published[g];
    report("ref", "dropout draws 0-3 of seed 0 are splitmix64's published outputs", wrong, 0);
    // Hand-read: draw 0 = e220 a839 7b1d cdaf, draw 1 = 6e78 9e6a a1b9 65f4 (lanes 3..0); at p = 1/2
    // a lane below 0x8000 drops: elements 1 (7b1d), 4 (65f4) and 7 (6e78).
    const bool hand[8] = {false, true, false, false, true, false, false, true};
    wrong = 0;
    for (int i = 0; i < 8; i++) wrong += engine::dropped(d, i) != hand[i] || (keep_scale(0, i, 0.5f) == 0) != hand[i];
    report("ref", "dropout mask of seed 0 at p=0.5, elements 0-7, as read by hand", wrong, 0);
  }
  double wrong = 0, worst_p = 0, worst_scale = 0;
  for (float p : {0.0f, 1e-6f, 0.05f, 0.1f, 0.15f, 0.2f, 0.25f, 1.0f / 3, 0.5f, 0.9f}) {
    const engine::Dropout d = engine::make_dropout(42, p);
    worst_p = std::max(worst_p, std::fabs(engine::effective_p(d) - p));
    worst_scale = std::max(worst_scale, std::fabs(d.inv_keep * (1 - engine::effective_p(d)) - 1));
    for (uint64_t i = 0; i < 100000; i++) wrong += engine::dropout_scale(d, i) != (float)keep_scale(42, i, p);
  }
  report("ref", "dropout decisions and scales = the reference's, 10 p's x 1e5 elements", wrong, 0);
  report("ref", "dropout: |effective p - p| at 16-bit thresholds", worst_p, 2e-5);
  report("ref", "dropout: scale x (1 - effective p) - 1", worst_scale, 1e-7);
  // Over 2^22 elements: the share dropped, and pairs of neighbours within a draw (i % 4 < 3) and
  // across two (i % 4 = 3) dropped together at p^2, each within 5 standard deviations.
  for (float p : {0.1f, 0.5f}) {
    const engine::Dropout d = engine::make_dropout(2026, p);
    const double pe = engine::effective_p(d);
    const uint64_t n = 1 << 22;
    double dropped = 0, within = 0, across = 0;
    bool last = false;
    for (uint64_t i = 0; i < n; i++) {
      const bool x = engine::dropped(d, i);
      dropped += x;
      if (i > 0 && last && x) ((i - 1) % 4 == 3 ? across : within) += 1;
      last = x;
    }
    auto sigmas = [](double count, double trials, double q) { return std::fabs(count / trials - q) / std::sqrt(q * (1 - q) / trials); };
    const std::string at = " (p=" + std::to_string(p).substr(0, 3) + ", 2^22 elements)";
    report("ref", "dropout: share dropped, in standard deviations" + at, sigmas(dropped, n, pe), 5);
    report("ref", "dropout: neighbours of one draw dropped together, in s.d." + at, sigmas(within, n / 4 * 3, pe * pe), 5);
    report("ref", "dropout: neighbours across draws dropped together, in s.d." + at, sigmas(across, n / 4 - 1, pe * pe), 5);
  }
}

// The references' backward passes against central differences of their forward passes.
void test_references(Rng& rng) {
  {
    const int N = 3, in = 5, out = 4;
    const Vec x = rng.normal(N * in), W = rng.normal(out * in), b = rng.normal(out), R = rng.normal(N * out);
    const LinearGrads g = ref_linear_backward(R, x, W, N, in, out);
    report("ref", "linear_backward dx vs finite differences",
           fd_check([&](const Vec& xx) { return ref_linear(xx, W, &b, N, in, out); }, x, R, g.dx, rng), 1e-6);
    report("ref", "linear_backward dW vs finite differences",
           fd_check([&](const Vec& ww) { return ref_linear(x, ww, &b, N, in, out); }, W, R, g.dW, rng), 1e-6);
    report("ref", "linear_backward db vs finite differences",
           fd_check([&](const Vec& bb) { return ref_linear(x, W, &bb, N, in, out); }, b, R, g.db, rng), 1e-6);
  }
  {
    const int N = 3, D = 6;
    const Vec x = rng.normal(N * D), gm = rng.normal(D), bt = rng.normal(D), R = rng.normal(N * D);
    const LnGrads g = ref_layernorm_backward(R, x, gm, N, D, 1e-12);
    report("ref", "layernorm_backward dx vs finite differences",
           fd_check([&](const Vec& xx) { return ref_layernorm(xx, gm, bt, N, D, 1e-12); }, x, R, g.dx, rng), 1e-6);
    report("ref", "layernorm_backward dgamma vs finite differences",
           fd_check([&](const Vec& gg) { return ref_layernorm(x, gg, bt, N, D, 1e-12); }, gm, R, g.dgamma, rng), 1e-6);
  }
  for (float p : {0.0f, 0.2f}) {
    const AttnShape s{2, 4, 4, 8, 2, 24, 24, p};
    const std::vector<int32_t> mask = {1, 1, 1, 0, 1, 1, 0, 0};
    const Vec q = rng.normal(2 * 4 * 24), k = rng.normal(2 * 4 * 24), v = rng.normal(2 * 4 * 24), R = rng.normal(2 * 4 * 8);
    const AttnGrads g = ref_attention_backward(s, R, q, k, v, mask, 5);
    const std::string tag = p > 0 ? " (dropout)" : "";
    report("ref", "attention_backward dq vs finite differences" + tag,
           fd_check([&](const Vec& qq) { return ref_attention(s, qq, k, v, mask, 5); }, q, R, g.dq, rng), 1e-6);
    report("ref", "attention_backward dk vs finite differences" + tag,
           fd_check([&](const Vec& kk) { return ref_attention(s, q, kk, v, mask, 5); }, k, R, g.dk, rng), 1e-6);
    report("ref", "attention_backward dv vs finite differences" + tag,
           fd_check([&](const Vec& vv) { return ref_attention(s, q, k, vv, mask, 5); }, v, R, g.dv, rng), 1e-6);
  }
  {  // cross-entropy: d(mean loss)/dz = (softmax - onehot) / B
    const int B = 3, C = 5;
    const Vec z = rng.normal(B * C, 2.0);
    const std::vector<int> labels = {4, 0, 2};
    auto loss = [&](const Vec& zz) {
      double total = 0;
      for (int b = 0; b < B; b++) {
        double mx = -INFINITY, sum = 0;
        for (int c = 0; c < C; c++) mx = std::max(mx, zz[b * C + c]);
        for (int c = 0; c < C; c++) sum += std::exp(zz[b * C + c] - mx);
        total += mx + std::log(sum) - zz[b * C + labels[b]];
      }
      return Vec{total / B};
    };
    Vec g(B * C);
    for (int b = 0; b < B; b++) {
      double mx = -INFINITY, sum = 0;
      for (int c = 0; c < C; c++) mx = std::max(mx, z[b * C + c]);
      for (int c = 0; c < C; c++) sum += std::exp(z[b * C + c] - mx);
      for (int c = 0; c < C; c++) g[b * C + c] = (std::exp(z[b * C + c] - mx) / sum - (c == labels[b])) / B;
    }
    report("ref", "cross_entropy dlogits vs finite differences", fd_check(loss, z, Vec{1.0}, g, rng), 1e-6);
  }
  const char* fd_names[] = {"gelu", "gelu_tanh", "relu", "tanh"};
  for (int a : {engine::GELU, engine::GELU_TANH, engine::TANH}) {
    const Vec x = rng.normal(50, 2.0), R = rng.normal(50);
    Vec g(50);
    for (int i = 0; i < 50; i++) g[i] = R[i] * act_grad(x[i], a);
    auto f = [&](const Vec& xx) {
      Vec y(xx.size());
      for (size_t i = 0; i < xx.size(); i++) y[i] = act(xx[i], a);
      return y;
    };
    report("ref", std::string("activation_backward ") + fd_names[a] + " vs finite differences",
           fd_check(f, x, R, g, rng), 1e-6);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> names;
  for (int i = 1; i < argc; i++) names.push_back(argv[i]);
  if (names.empty()) names = engine::backend_names();
  Rng rng(20260101);
  test_generator();
  test_references(rng);
  test_parallel_errors();
  for (const std::string& name : names) {
    std::unique_ptr<Backend> be;
    const size_t dash = name.find('-');
    const std::string device = name.substr(0, dash), precision = dash == std::string::npos ? "fp32" : name.substr(dash + 1);
    g_floor = precision == "bf16" ? 2e-2 : precision == "tf32" ? 2e-3 : 0;
    g_precision = precision;
    try {
      be = engine::make_backend(device, precision);
    } catch (const std::exception& e) {
      std::printf("FAIL %s: %s\n", name.c_str(), e.what());
      g_failed++;
      continue;
    }
    test_linear(be.get(), rng);
    test_layernorm(be.get(), rng);
    Rng add_ln_rng(20261206);
    test_add_layernorm(be.get(), add_ln_rng);
    Rng ffn_rng(20261204);  // its own draws: the cases after it see the draws they always saw
    test_ffn(be.get(), ffn_rng);
    Rng ffn_train_rng(20261205);
    test_ffn_train(be.get(), ffn_train_rng);
    test_attention(be.get(), rng);
    Rng attention_qkv_rng(20261207);
    test_attention_qkv(be.get(), attention_qkv_rng);
    test_elementwise(be.get(), rng);
    test_embedding(be.get(), rng);
    test_cross_entropy(be.get(), rng);
    test_adam(be.get(), rng);
    test_adamw(be.get(), rng);
    test_huge_pages(be.get());
  }
  std::printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed ? 1 : 0;
}

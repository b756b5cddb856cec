#include "workspace.h"

namespace engine {

namespace {

// Lays buffers out in an arena: a first pass with base == nullptr counts, a second assigns.
class Carver {
 public:
  explicit Carver(float* base) : base_(base) {}
  float* take(int64_t n) {
    float* p = base_ ? base_ + used_ : nullptr;
    used_ += (n + 15) / 16 * 16;  // 64-byte aligned pieces
    return p;
  }
  int64_t used() const { return used_; }

 private:
  float* base_;
  int64_t used_ = 0;
};

}  // namespace

int64_t plan_workspace(EncoderModel::Workspace& w, const ModelConfig& c, float* base, int B, int T, int P, bool grad,
                       bool all_hidden) {
  const int64_t D = c.dim, F = c.hidden_dim, H = c.n_heads, N = (int64_t)B * T;
  const bool mlm = c.head == MASKED_LM;
  // Rows and width of the logits.
  const int64_t R = mlm ? P : B, C = mlm ? c.vocab_size : c.num_labels;
  Carver cv(base);
  w.emb_sum = cv.take(N * D);
  w.emb_mean = cv.take(N);
  w.emb_rstd = cv.take(N);
  w.emb_out = cv.take(N * D);
  w.cls_in = cv.take(B * D);
  w.cls = cv.take(B * D);
  w.pre_h = cv.take(B * D);
  w.pre_a = cv.take(B * D);
  w.logits = cv.take(R * C);
  w.losses = cv.take(R);
  const int64_t Pm = mlm ? P : 0;
  w.mlm_x = cv.take(Pm * D);
  w.mlm_t = cv.take(Pm * D);
  w.mlm_g = cv.take(Pm * D);
  w.mlm_mean = cv.take(Pm);
  w.mlm_rstd = cv.take(Pm);
  w.mlm_y = cv.take(Pm * D);
  w.layers.assign(c.n_layers, LayerActs{});
  auto layer = [&](LayerActs& L) {
    L.qkv = cv.take(3 * N * D);
    L.probs = grad ? cv.take(B * H * T * T) : nullptr;  // inference keeps no attention weights
    L.ctx = cv.take(N * D);
    L.sa_sum = cv.take(N * D);
    L.sa_mean = cv.take(N);
    L.sa_rstd = cv.take(N);
    L.sa_out = cv.take(N * D);
    L.h1 = cv.take(N * F);
    L.ffn_sum = cv.take(N * D);
    L.out_mean = cv.take(N);
    L.out_rstd = cv.take(N);
    L.out = cv.take(N * D);
  };
  if (grad) {
    for (auto& L : w.layers) layer(L);
    w.act = cv.take(N * F);  // the FFN activation's room, shared by the layers (ffn_train_forward)
    w.d_logits = cv.take(R * C);
    w.d_mlm_y = cv.take(Pm * D);
    w.d_mlm_g = cv.take(Pm * D);
    w.d_mlm_x = cv.take(Pm * D);
    w.d_pre = cv.take(B * D);
    w.d_cls = cv.take(B * D);
    w.d_cls_in = cv.take(B * D);
    w.d_res = cv.take(B * D);
    w.dA = cv.take(N * D);
    w.dB = cv.take(N * D);
    w.dH2 = cv.take(N * D);
    w.dA1 = cv.take(N * F);
    w.d_ctx = cv.take(N * D);
    w.d_qkv = cv.take(3 * N * D);
  } else if (c.n_layers > 0) {
    // Inference: every layer shares one set of buffers; outputs alternate between two (or are
    // kept per layer when all hidden states are asked for), and the activation is in place.
    LayerActs shared{};
    layer(shared);
    float* second_out = cv.take(N * D);
    for (int l = 0; l < c.n_layers; l++) {
      w.layers[l] = shared;
      if (all_hidden) w.layers[l].out = l == 0 ? shared.out : cv.take(N * D);
      else w.layers[l].out = l % 2 ? second_out : shared.out;
    }
    w.act = nullptr;
    w.d_logits = w.d_pre = w.d_cls = w.d_cls_in = w.d_res = w.dA = w.dB = w.dH2 = w.dA1 = w.d_ctx = w.d_qkv = nullptr;
    w.d_mlm_y = w.d_mlm_g = w.d_mlm_x = nullptr;
  }
  return cv.used();
}

}  // namespace engine

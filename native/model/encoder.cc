// EncoderModel's runner (DistilBERT and BERT): parameters, forward (embeddings, layers, heads), loss
// and backward on a backend. workspace.cc plans the activation buffers; optimizers.cc holds the updates.
#include "encoder.h"
#include "workspace.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <unordered_map>

namespace engine {

namespace {

// Dropout sites of one forward pass; each gets its own counter-based random stream: site 0 the
// embeddings, 1 the head, 2 + 2l and 3 + 2l layer l's attention probabilities and FFN output, and in
// BERT 2 + 2L + l layer l's attention output. A pass numbers its sites in a block of 64.
constexpr int kSitesPerLayer = 2;
uint64_t site_seed(uint64_t seed, int site) { return seed * 64 + (uint64_t)site; }
int dropout_sites(const ModelConfig& c) { return 2 + c.n_layers * (kSitesPerLayer + (c.arch == BERT ? 1 : 0)); }

// An inference workspace larger than this is freed after the forward that needed it, so that a
// server that once saw one long batch does not keep its memory.
constexpr size_t kKeepInferenceBytes = 64u << 20;

}  // namespace

EncoderModel::EncoderModel(std::unique_ptr<Backend> backend, const ModelConfig& config)
    : be_(std::move(backend)), c_(config), layout_(param_layout(config)), ws_(std::make_unique<Workspace>()) {
  if (dropout_sites(c_) > 64) throw std::invalid_argument("too many layers for the dropout site numbering (64 sites a pass)");
  if (c_.n_heads < 1 || c_.dim % c_.n_heads) throw std::invalid_argument("dim must be a multiple of n_heads");
  if (c_.arch == BERT && c_.head == MASKED_LM) throw std::invalid_argument("BERT runs with the classifier head only");
  if (c_.arch == BERT && c_.type_vocab_size < 1) throw std::invalid_argument("BERT needs type_vocab_size >= 1");
  if (c_.head == MASKED_LM && c_.problem != SINGLE_LABEL) throw std::invalid_argument("the masked LM's loss is cross-entropy");
  if (c_.problem == REGRESSION && c_.num_labels != 1)
    throw std::invalid_argument("regression has one output, not " + std::to_string(c_.num_labels));
  n_params_ = layout_.back().offset + layout_.back().size;
  const ParamNames names = param_names(c_, 0);
  word_offset_ = offset(names.word);
  pos_offset_ = offset(names.position);
  if (c_.arch == BERT) type_offset_ = offset(names.token_type);
  emb_ln_offset_ = offset(names.embeddings_norm + ".weight");
  head_offset_ = offset(c_.head == MASKED_LM ? "vocab_transform.weight" : names.head_dense + ".weight");
  // HF Trainer's groups: no weight decay on biases and LayerNorm weights.
  for (const auto& sp : layout_) {
    const std::string& n = sp.name;
    const bool no_decay = n.find("bias") != std::string::npos || n.find("LayerNorm") != std::string::npos ||
                          n.find("layer_norm") != std::string::npos;
    if (no_decay) continue;
    if (!decayed_.empty() && decayed_.back().second == sp.offset) decayed_.back().second = sp.offset + sp.size;
    else decayed_.push_back({sp.offset, sp.offset + sp.size});
  }
  for (int l = 0; l < c_.n_layers; l++) {
    const ParamNames n = param_names(c_, l);
    auto w = [&](const std::string& p) { return offset(p + ".weight"); };
    auto b = [&](const std::string& p) { return offset(p + ".bias"); };
    ws_->lp.push_back({w(n.q), w(n.k), b(n.q), b(n.k), w(n.attention_out), b(n.attention_out), w(n.attention_norm),
                       b(n.attention_norm), w(n.ffn_in), b(n.ffn_in), w(n.ffn_out), b(n.ffn_out), w(n.output_norm),
                       b(n.output_norm)});
  }
  // Gradients and moments are allocated by the first step that needs them: inference never does.
  params_ = DeviceBuffer<float>(be_.get(), n_params_, DeviceBuffer<float>::Zeroed{});
  touched_mark_.assign(c_.vocab_size, 0);
  seen_mark_.assign(c_.vocab_size, 0);
  if (c_.head == MASKED_LM) {
    every_row_.resize(c_.vocab_size);
    for (int32_t r = 0; r < c_.vocab_size; r++) every_row_[r] = r;
  }
}

EncoderModel::~EncoderModel() = default;

int64_t EncoderModel::offset(const std::string& name) const {
  for (const auto& s : layout_)
    if (s.name == name) return s.offset;
  throw std::logic_error("no parameter " + name);
}

void EncoderModel::need_grads() {
  if (!grads_.get()) grads_ = DeviceBuffer<float>(be_.get(), n_params_, DeviceBuffer<float>::Zeroed{});
}

void EncoderModel::need_moments() {
  if (m_.get()) return;
  m_ = DeviceBuffer<float>(be_.get(), n_params_, DeviceBuffer<float>::Zeroed{});
  v_ = DeviceBuffer<float>(be_.get(), n_params_, DeviceBuffer<float>::Zeroed{});
}

void EncoderModel::set_params(const float* host) {
  params_.upload(host, n_params_);
  be_->weights_changed();
}

bool EncoderModel::adopt_params(float* host) {
  if (!be_->host_memory() || reinterpret_cast<uintptr_t>(host) % kHostAlign != 0) {
    set_params(host);
    return false;
  }
  params_ = DeviceBuffer<float>::borrow(be_.get(), host, n_params_);
  be_->weights_changed();
  return true;
}
void EncoderModel::get_params(float* host) const { params_.download(host, n_params_); }

// Buffers not yet allocated read as zeros.
void EncoderModel::get_grads(float* host) const {
  if (grads_.get()) grads_.download(host, n_params_);
  else std::fill(host, host + n_params_, 0.0f);
}

void EncoderModel::get_moments(float* m, float* v) const {
  if (!m_.get()) {
    std::fill(m, m + n_params_, 0.0f);
    std::fill(v, v + n_params_, 0.0f);
    return;
  }
  m_.download(m, n_params_);
  v_.download(v, n_params_);
}

void EncoderModel::set_moments(const float* m, const float* v) {
  need_moments();
  m_.upload(m, n_params_);
  v_.upload(v, n_params_);
  const int64_t D = c_.dim;
  for (int32_t r = 0; r < c_.vocab_size; r++) {
    if (seen_mark_[r]) continue;
    for (int64_t i = word_offset_ + r * D; i < word_offset_ + (r + 1) * D; i++) {
      if (m[i] != 0 || v[i] != 0) {
        seen_mark_[r] = 1;
        seen_.push_back(r);
        break;
      }
    }
  }
}

void EncoderModel::upload_ints(DeviceBuffer<int32_t>& buf, const int32_t* src, size_t n) {
  if (buf.size() < n) buf = DeviceBuffer<int32_t>(be_.get(), n);
  buf.upload(src, n);
}

int EncoderModel::query_len(int l, const Run& r) const {
  // The classifier's last layer feeds the head through [CLS] alone: its keys and values need every
  // position, but its queries, attention output and FFN are needed at [CLS] only (same logits and
  // gradients). The masked LM predicts at any position.
  return l == c_.n_layers - 1 && !r.opts.all_hidden && c_.head == SEQUENCE_CLASSIFIER ? 1 : r.T;
}

void EncoderModel::forward(const int32_t* ids, const int32_t* mask, int B, int T, const ForwardOptions& opts,
                              float* logits) {
  if (B < 1 || T < 1) throw std::invalid_argument("a batch needs at least one sequence of at least one token");
  if (T > c_.max_positions)
    throw std::invalid_argument("sequence length " + std::to_string(T) + " exceeds max_position_embeddings " +
                                std::to_string(c_.max_positions));
  const int64_t N = (int64_t)B * T;
  const bool mlm = c_.head == MASKED_LM;
  if (opts.embedded && mlm) throw std::invalid_argument("the masked LM reads token ids, not embeddings");
  if (!opts.embedded && !ids) throw std::invalid_argument("a forward pass needs token ids or embeddings");
  for (int64_t i = 0; i < N && !opts.embedded; i++)
    if (ids[i] < 0 || ids[i] >= c_.vocab_size)
      throw std::invalid_argument("input id " + std::to_string(ids[i]) + " at position " + std::to_string(i) +
                                  " is outside the vocabulary (0.." + std::to_string(c_.vocab_size - 1) + ")");
  if (opts.token_types && c_.arch != BERT) throw std::invalid_argument("token types are BERT's (this model has none)");
  for (int64_t i = 0; i < N && opts.token_types; i++)
    if (opts.token_types[i] < 0 || opts.token_types[i] >= c_.type_vocab_size)
      throw std::invalid_argument("token type " + std::to_string(opts.token_types[i]) + " at position " + std::to_string(i) +
                                  " is outside 0.." + std::to_string(c_.type_vocab_size - 1));
  if (mlm) {
    if (opts.n_predict < 1 || !opts.predict) throw std::invalid_argument("the masked LM needs at least one position to predict");
    for (int i = 0; i < opts.n_predict; i++)
      if (opts.predict[i] < 0 || opts.predict[i] >= N || (i > 0 && opts.predict[i] <= opts.predict[i - 1]))
        throw std::invalid_argument("predicted positions must increase within 0.." + std::to_string(N - 1) +
                                    " (entry " + std::to_string(i) + " is " + std::to_string(opts.predict[i]) + ")");
  }
  run_ = Run{B, T, opts, false, {}};
  pooled_ = false;
  run_.opts.predict = nullptr;  // the caller's arrays are not kept; predict_ and the workspace hold copies
  run_.opts.embedded = nullptr;
  run_.opts.token_types = nullptr;
  if (!mlm) run_.opts.n_predict = 0;
  if (opts.grad && ids) run_.ids.assign(ids, ids + N);

  // Plan the workspace for this shape: training grows its arena and keeps it; inference gets a fresh one when too small.
  Workspace& w = *ws_;
  DeviceBuffer<float>& arena = opts.grad ? train_arena_ : infer_arena_;
  const int n_pred = run_.opts.n_predict;
  const int64_t need = plan_workspace(w, c_, nullptr, B, T, n_pred, opts.grad, opts.all_hidden);
  if ((int64_t)arena.size() < need) {
    arena.reset();
    arena = DeviceBuffer<float>(be_.get(), need);
  }
  plan_workspace(w, c_, arena.get(), B, T, n_pred, opts.grad, opts.all_hidden);
  if (ids) upload_ints(ids_, ids, N);
  if (c_.arch == BERT) {  // absent token types are all 0, as transformers' default
    if (opts.token_types) upload_ints(types_, opts.token_types, N);
    else upload_ints(types_, std::vector<int32_t>(N, 0).data(), N);
  }
  upload_ints(mask_, mask, N);
  if (mlm) upload_ints(predict_, opts.predict, n_pred);

  const int D = c_.dim;
  Backend& e = *be_;
  if (opts.embedded) {
    e.upload(w.emb_out, opts.embedded, sizeof(float) * N * D);
  } else {
    e.embedding_forward(ids_.get(), P(word_offset_), P(pos_offset_), w.emb_sum, B, T, D);
    if (c_.arch == BERT) {  // + the token-type rows, gathered into emb_out before the LayerNorm overwrites it
      e.gather_rows(P(type_offset_), types_.get(), N, D, w.emb_out);
      e.add(w.emb_sum, w.emb_out, w.emb_sum, N * D);
    }
    e.layernorm_forward(w.emb_sum, P(emb_ln_offset_), P(emb_ln_offset_ + D), w.emb_out, w.emb_mean, w.emb_rstd, (int)N,
                        D, c_.layer_norm_eps);
  }
  if (opts.train && c_.dropout > 0) e.dropout_forward(w.emb_out, w.emb_out, N, D, D, c_.dropout, site_seed(opts.seed, 0));

  const float* x = w.emb_out;
  for (int l = 0; l < c_.n_layers; l++) x = layer_forward(l, x);
  if (mlm) masked_lm_forward(x);
  else classifier_forward(x);
  if (logits) e.download(logits, w.logits, sizeof(float) * logit_rows() * (mlm ? c_.vocab_size : c_.num_labels));
  if (!opts.grad && infer_arena_.size() * sizeof(float) > kKeepInferenceBytes && !opts.all_hidden) infer_arena_.reset();
}

int EncoderModel::logit_rows() const { return c_.head == MASKED_LM ? run_.opts.n_predict : run_.B; }

// Classification head on the [CLS] (first) position of each sequence.
void EncoderModel::classifier_forward(const float* x) {
  Workspace& w = *ws_;
  Backend& e = *be_;
  const int B = run_.B, T = run_.T, D = c_.dim, C = c_.num_labels;
  const bool full_last = c_.n_layers == 0 || query_len(c_.n_layers - 1, run_) == T;
  if (full_last) e.copy_rows(x, (int64_t)T * D, w.cls, D, B, D);
  w.cls_rows = full_last ? w.cls : x;
  const int64_t h = head_offset_;
  e.linear_forward(w.cls_rows, P(h), P(h + (int64_t)D * D), w.pre_h, B, D, D);
  e.activation_forward(w.pre_h, w.pre_a, (int64_t)B * D, head_activation());
  if (!run_.opts.train) pooled_ = true;
  if (run_.opts.train && c_.seq_classif_dropout > 0)
    e.dropout_forward(w.pre_a, w.pre_a, B, D, D, c_.seq_classif_dropout, site_seed(run_.opts.seed, 1));
  const int64_t cls_w = h + (int64_t)D * D + D;
  e.linear_forward(w.pre_a, P(cls_w), P(cls_w + (int64_t)C * D), w.logits, B, D, C);
}

// HF's DistilBertForMaskedLM head on the predicted rows:
// vocab_projector(vocab_layer_norm(act(vocab_transform(h)))), the projector's weight being the word embeddings.
void EncoderModel::masked_lm_forward(const float* x) {
  Workspace& w = *ws_;
  Backend& e = *be_;
  const int R = run_.opts.n_predict, D = c_.dim, V = c_.vocab_size;
  const int64_t h = head_offset_, ln = h + (int64_t)D * D + D, proj_b = ln + 2 * D;
  e.gather_rows(x, predict_.get(), R, D, w.mlm_x);
  e.linear_forward(w.mlm_x, P(h), P(h + (int64_t)D * D), w.mlm_t, R, D, D);
  e.activation_forward(w.mlm_t, w.mlm_g, (int64_t)R * D, c_.activation);
  e.layernorm_forward(w.mlm_g, P(ln), P(ln + D), w.mlm_y, w.mlm_mean, w.mlm_rstd, R, D, c_.layer_norm_eps);
  e.linear_forward(w.mlm_y, P(word_offset_), P(proj_b), w.logits, R, D, V);
}

// Shapes, buffers, parameters and dropout streams of layer l in the current run: what its
// forward and backward share.
struct EncoderModel::LayerStep {
  const LayerActs& L;
  const LayerParams& lp;
  int B, T, Tq, D, F, H, N, Nq;
  float p_drop, p_attn;
  uint64_t attn_seed, ffn_seed, attn_out_seed;
  bool attn_out_drop;  // BERT: dropout on the attention output before its residual add
};

EncoderModel::LayerStep EncoderModel::layer_step(int l) const {
  const ForwardOptions& o = run_.opts;
  const int Tq = query_len(l, run_);
  return {ws_->layers[l], ws_->lp[l], run_.B, run_.T, Tq, c_.dim, c_.hidden_dim, c_.n_heads, run_.B * run_.T,
          run_.B * Tq, o.train ? c_.dropout : 0, o.train ? c_.attention_dropout : 0,
          site_seed(o.seed, 2 + l * kSitesPerLayer), site_seed(o.seed, 3 + l * kSitesPerLayer),
          site_seed(o.seed, 2 + c_.n_layers * kSitesPerLayer + l), c_.arch == BERT && o.train && c_.dropout > 0};
}

const float* EncoderModel::layer_forward(int l, const float* x) {
  Workspace& w = *ws_;
  const LayerStep st = layer_step(l);
  const LayerActs& L = st.L;
  const LayerParams& lp = st.lp;
  const int B = st.B, T = st.T, Tq = st.Tq, D = st.D, F = st.F, H = st.H, N = st.N, Nq = st.Nq;
  Backend& e = *be_;
  // The rows of x whose outputs are computed: all, or each sequence's [CLS] row.
  const float* xq = x;
  if (Tq < T) {
    e.copy_rows(x, (int64_t)T * D, w.cls_in, D, B, D);
    xq = w.cls_in;
  }
  // Sums are formed in place: the attention and FFN outputs themselves are not kept.
  if (Tq == T) {  // one [3D, D] product for q, k and v
    e.qkv_forward(x, P(lp.q_w), P(lp.q_b), L.qkv, N, D);
    e.attention_forward_qkv(L.qkv, mask_.get(), L.probs, L.ctx, B, T, D, H, st.p_attn, st.attn_seed);
    e.context_forward(L.ctx, P(lp.out_w), P(lp.out_b), L.sa_sum, N, D);
  } else {  // k and v of every token ([2D, D]), q of the [CLS] rows
    float* qbuf = L.qkv + 2 * (int64_t)N * D;
    e.linear_forward(xq, P(lp.q_w), P(lp.q_b), qbuf, Nq, D, D);
    e.linear_forward(x, P(lp.k_w), P(lp.k_b), L.qkv, N, D, 2 * D);
    e.attention_forward(qbuf, D, L.qkv, L.qkv + D, 2 * D, mask_.get(), L.probs, L.ctx, B, Tq, T, D, H, st.p_attn,
                        st.attn_seed);
    e.linear_forward(L.ctx, P(lp.out_w), P(lp.out_b), L.sa_sum, Nq, D, D);
  }
  if (st.attn_out_drop) e.dropout_forward(L.sa_sum, L.sa_sum, Nq, D, (int64_t)(T / Tq) * D, st.p_drop, st.attn_out_seed);
  e.add_layernorm_forward(L.sa_sum, xq, L.sa_sum, P(lp.sa_w), P(lp.sa_b), L.sa_out, L.sa_mean, L.sa_rstd, Nq, D,
                          c_.layer_norm_eps);
  // Backward needs the pre-activation h1 (w.act is then the activation's own buffer); inference
  // does not, and takes the FFN as one kernel (the activation fused into the first product).
  if (w.act) {
    e.ffn_train_forward(L.sa_out, P(lp.lin1_w), P(lp.lin1_b), P(lp.lin2_w), P(lp.lin2_b), L.h1, w.act, L.ffn_sum, Nq, D,
                        F, c_.activation);
  } else {
    e.ffn_forward(L.sa_out, P(lp.lin1_w), P(lp.lin1_b), P(lp.lin2_w), P(lp.lin2_b), L.h1, L.ffn_sum, Nq, D, F,
                  c_.activation);
  }
  // Row r of the [CLS]-only block is position r*T of the full tensor: the same dropout draws.
  if (st.p_drop > 0) e.dropout_forward(L.ffn_sum, L.ffn_sum, Nq, D, (int64_t)(T / Tq) * D, st.p_drop, st.ffn_seed);
  e.add_layernorm_forward(L.ffn_sum, L.sa_out, L.ffn_sum, P(lp.out_ln_w), P(lp.out_ln_b), L.out, L.out_mean,
                          L.out_rstd, Nq, D, c_.layer_norm_eps);
  return L.out;
}

double EncoderModel::loss(const int32_t* labels, int n, float grad_scale) {
  if (run_.B == 0 || !run_.opts.grad) throw std::logic_error("loss() needs a forward pass that keeps gradients first");
  if (c_.problem != SINGLE_LABEL) throw std::logic_error("this model's loss takes float targets (loss_targets)");
  const int R = logit_rows(), C = c_.head == MASKED_LM ? c_.vocab_size : c_.num_labels;
  if (n != R) throw std::invalid_argument("need " + std::to_string(R) + " labels, got " + std::to_string(n));
  for (int b = 0; b < n; b++)
    if (labels[b] < 0 || labels[b] >= C)
      throw std::invalid_argument("label " + std::to_string(labels[b]) + " is outside 0.." + std::to_string(C - 1));
  upload_ints(labels_, labels, n);
  Workspace& w = *ws_;
  be_->cross_entropy(w.logits, labels_.get(), w.losses, w.d_logits, n, C, grad_scale);
  std::vector<float> losses(n);
  be_->download(losses.data(), w.losses, sizeof(float) * n);
  double total = 0;
  for (float x : losses) total += x;
  run_.has_loss = true;
  return total / n;
}

// BCE with logits or MSE over the last forward's [B, C] logits, in double on the host (B x C values):
// the loss as torch computes it (mean over every element) and its gradient, scaled, into d_logits.
double EncoderModel::loss_targets(const float* targets, int64_t n, float grad_scale) {
  if (run_.B == 0 || !run_.opts.grad) throw std::logic_error("loss_targets() needs a forward pass that keeps gradients first");
  if (c_.problem == SINGLE_LABEL) throw std::logic_error("this model's loss takes class ids (loss)");
  const int64_t count = (int64_t)run_.B * c_.num_labels;
  if (n != count) throw std::invalid_argument("need " + std::to_string(count) + " targets, got " + std::to_string(n));
  for (int64_t i = 0; i < n; i++) {
    if (!std::isfinite(targets[i])) throw std::invalid_argument("target " + std::to_string(i) + " is not finite");
    if (c_.problem == MULTI_LABEL && (targets[i] < 0 || targets[i] > 1))
      throw std::invalid_argument("multi-label target " + std::to_string(i) + " is outside [0, 1]");
  }
  Workspace& w = *ws_;
  std::vector<float> z(n), dz(n);
  be_->download(z.data(), w.logits, sizeof(float) * n);
  double total = 0;
  for (int64_t i = 0; i < n; i++) {
    const double x = z[i], y = targets[i];
    if (c_.problem == MULTI_LABEL) {  // max(x, 0) - x y + log(1 + e^-|x|), d/dx = sigmoid(x) - y
      total += std::max(x, 0.0) - x * y + std::log1p(std::exp(-std::fabs(x)));
      dz[i] = (float)((1 / (1 + std::exp(-x)) - y) / n * grad_scale);
    } else {
      total += (x - y) * (x - y);
      dz[i] = (float)(2 * (x - y) / n * grad_scale);
    }
  }
  be_->upload(w.d_logits, dz.data(), sizeof(float) * n);
  run_.has_loss = true;
  return total / n;
}

void EncoderModel::pooled_output(float* host, int64_t n) const {
  if (!pooled_ || c_.head != SEQUENCE_CLASSIFIER) throw std::logic_error("the pooled output needs an eval-mode classifier forward first");
  if (n != (int64_t)run_.B * c_.dim)
    throw std::invalid_argument("the pooled output is " + std::to_string(run_.B) + " x " + std::to_string(c_.dim) + " values, not " + std::to_string(n));
  be_->download(host, ws_->pre_a, sizeof(float) * run_.B * c_.dim);
}

float* EncoderModel::backward_to_embeddings() {
  // dX: the gradient of the current layer's output.
  float* dX = c_.head == MASKED_LM ? masked_lm_backward() : classifier_backward();
  for (int l = c_.n_layers - 1; l >= 0; l--) dX = layer_backward(l, dX);
  return dX;
}

void EncoderModel::backward() {
  if (!run_.has_loss) throw std::logic_error("backward() needs forward() and loss() first");
  if (run_.ids.empty()) throw std::logic_error("backward() needs a forward pass from token ids");
  Workspace& w = *ws_;
  Backend& e = *be_;
  const ForwardOptions& o = run_.opts;
  const int B = run_.B, T = run_.T, D = c_.dim;
  const int64_t N = (int64_t)B * T;

  need_grads();
  float* dX = backward_to_embeddings();
  if (o.train && c_.dropout > 0) e.dropout_backward(dX, dX, N, D, D, c_.dropout, site_seed(o.seed, 0));
  e.layernorm_backward(dX, w.emb_sum, P(emb_ln_offset_), w.emb_mean, w.emb_rstd, w.dB, G(emb_ln_offset_),
                       G(emb_ln_offset_ + D), (int)N, D);
  // The tied projector gave every word-embedding row a gradient; else the batch's tokens' rows have one.
  for (int32_t id : c_.head == MASKED_LM ? every_row_ : run_.ids) {
    if (!touched_mark_[id]) {
      touched_mark_[id] = 1;
      touched_.push_back(id);
    }
  }
  // Sinusoidal position embeddings are fixed in HF (no gradient).
  e.embedding_backward(ids_.get(), w.dB, G(word_offset_), c_.sinusoidal_positions ? nullptr : G(pos_offset_), B, T, D);
  if (c_.arch == BERT) e.embedding_backward(types_.get(), w.dB, G(type_offset_), nullptr, B, T, D);
  run_.has_loss = false;
}

void EncoderModel::input_gradients(const float* dlogits, float* d_embedded, float* embedded, int B, int T) {
  if (c_.head != SEQUENCE_CLASSIFIER) throw std::logic_error("input gradients are the classifier's");
  if (run_.B == 0 || !run_.opts.grad || run_.opts.train)
    throw std::logic_error("input gradients need an eval-mode forward pass that keeps gradients first");
  if (B != run_.B || T != run_.T)
    throw std::invalid_argument("input gradients of " + std::to_string(B) + "x" + std::to_string(T) + " asked after a forward of " +
                                std::to_string(run_.B) + "x" + std::to_string(run_.T));
  Workspace& w = *ws_;
  const int64_t n = (int64_t)run_.B * run_.T * c_.dim;
  be_->upload(w.d_logits, dlogits, sizeof(float) * run_.B * c_.num_labels);
  struct InputOnly {
    bool& on;
    explicit InputOnly(bool& f) : on(f) { on = true; }
    ~InputOnly() { on = false; }
  } input_only(input_only_);
  float* dX = backward_to_embeddings();
  be_->download(d_embedded, dX, sizeof(float) * n);
  if (embedded) be_->download(embedded, w.emb_out, sizeof(float) * n);
  run_.has_loss = false;
}

// The head's backward; returns the gradient of the last layer's output ([CLS] rows only when
// the last layer computed those alone).
float* EncoderModel::classifier_backward() {
  Workspace& w = *ws_;
  Backend& e = *be_;
  const ForwardOptions& o = run_.opts;
  const int B = run_.B, T = run_.T, D = c_.dim, C = c_.num_labels;
  const int64_t h = head_offset_, cls_w = h + (int64_t)D * D + D;
  e.linear_backward(w.d_logits, w.pre_a, P(cls_w), w.d_pre, 0, Gw(cls_w), Gw(cls_w + (int64_t)C * D), B, D, C);
  if (o.train && c_.seq_classif_dropout > 0)
    e.dropout_backward(w.d_pre, w.d_pre, B, D, D, c_.seq_classif_dropout, site_seed(o.seed, 1));
  e.activation_backward(w.d_pre, w.pre_h, w.d_pre, (int64_t)B * D, head_activation());
  e.linear_backward(w.d_pre, w.cls_rows, P(h), w.d_cls, 0, Gw(h), Gw(h + (int64_t)D * D), B, D, D);
  if (c_.n_layers > 0 && query_len(c_.n_layers - 1, run_) < T) return w.d_cls;
  e.fill_zero(w.dA, sizeof(float) * B * T * D);
  e.copy_rows(w.d_cls, D, w.dA, (int64_t)T * D, B, D);
  return w.dA;
}

float* EncoderModel::masked_lm_backward() {
  Workspace& w = *ws_;
  Backend& e = *be_;
  const int R = run_.opts.n_predict, D = c_.dim, V = c_.vocab_size;
  const int64_t h = head_offset_, ln = h + (int64_t)D * D + D, proj_b = ln + 2 * D;
  // The projector's weight gradient is the word embeddings' (tied), added to what the embedding layer adds later.
  e.linear_backward(w.d_logits, w.mlm_y, P(word_offset_), w.d_mlm_y, 0, Gw(word_offset_), Gw(proj_b), R, D, V);
  e.layernorm_backward(w.d_mlm_y, w.mlm_g, P(ln), w.mlm_mean, w.mlm_rstd, w.d_mlm_g, Gw(ln), Gw(ln + D), R, D);
  e.activation_backward(w.d_mlm_g, w.mlm_t, w.d_mlm_g, (int64_t)R * D, c_.activation);
  e.linear_backward(w.d_mlm_g, w.mlm_x, P(h), w.d_mlm_x, 0, Gw(h), Gw(h + (int64_t)D * D), R, D, D);
  e.fill_zero(w.dA, sizeof(float) * run_.B * run_.T * D);
  e.scatter_rows(w.d_mlm_x, predict_.get(), R, D, w.dA);
  return w.dA;
}

float* EncoderModel::layer_backward(int l, float* d_out) {
  Workspace& w = *ws_;
  const LayerStep st = layer_step(l);
  const LayerActs& L = st.L;
  const LayerParams& lp = st.lp;
  const int B = st.B, T = st.T, Tq = st.Tq, D = st.D, F = st.F, H = st.H, N = st.N, Nq = st.Nq;
  Backend& e = *be_;
  const float* x_in = l == 0 ? w.emb_out : w.layers[l - 1].out;
  const float* xq = x_in;
  if (Tq < T) {
    e.copy_rows(x_in, (int64_t)T * D, w.cls_in, D, B, D);
    xq = w.cls_in;
  }
  float* d_sa = w.dB;
  // out = LN(ffn + sa_out): the sum's gradient goes to both terms.
  e.layernorm_backward(d_out, L.ffn_sum, P(lp.out_ln_w), L.out_mean, L.out_rstd, d_sa, Gw(lp.out_ln_w), Gw(lp.out_ln_b),
                       Nq, D);
  float* d_ffn = d_sa;
  if (st.p_drop > 0) {
    d_ffn = w.dH2;
    e.dropout_backward(d_sa, d_ffn, Nq, D, (int64_t)(T / Tq) * D, st.p_drop, st.ffn_seed);
  }
  // The activation was not kept (ffn_backward makes it again: far less memory than one per layer);
  // d_sa (= d sa_out from the residual) += the FFN's input gradient.
  e.ffn_backward(d_ffn, L.sa_out, L.h1, w.act, P(lp.lin1_w), P(lp.lin2_w), w.dA1, d_sa, 1, Gw(lp.lin1_w),
                 Gw(lp.lin1_b), Gw(lp.lin2_w), Gw(lp.lin2_b), Nq, D, F, c_.activation);
  // sa_out = LN(attention output + xq); d_res: the gradient of that sum.
  float* d_res = Tq < T ? w.d_res : w.dA;
  e.layernorm_backward(d_sa, L.sa_sum, P(lp.sa_w), L.sa_mean, L.sa_rstd, d_res, Gw(lp.sa_w), Gw(lp.sa_b), Nq, D);
  float* d_attn_out = d_res;  // the residual keeps d_res; the attention output's gradient passes its dropout
  if (st.attn_out_drop) {
    d_attn_out = w.dH2;
    e.dropout_backward(d_res, d_attn_out, Nq, D, (int64_t)(T / Tq) * D, st.p_drop, st.attn_out_seed);
  }
  if (Tq == T) e.context_backward(d_attn_out, L.ctx, P(lp.out_w), w.d_ctx, Gw(lp.out_w), Gw(lp.out_b), N, D);
  else e.linear_backward(d_attn_out, L.ctx, P(lp.out_w), w.d_ctx, 0, Gw(lp.out_w), Gw(lp.out_b), Nq, D, D);
  // The input gradient: the residual's, plus what the projections send back.
  float* d_in = w.dA;
  if (Tq == T) {
    e.attention_backward_qkv(w.d_ctx, L.qkv, mask_.get(), L.probs, w.d_qkv, B, T, D, H, st.p_attn, st.attn_seed);
    // d_in already holds the residual's gradient (d_res is d_in).
    e.qkv_backward(w.d_qkv, x_in, P(lp.q_w), d_in, 1, Gw(lp.q_w), Gw(lp.q_b), N, D);
  } else {
    const float* q = L.qkv + 2 * (int64_t)N * D;
    float* dq = w.d_qkv + 2 * (int64_t)N * D;
    e.attention_backward(w.d_ctx, q, D, L.qkv, L.qkv + D, 2 * D, mask_.get(), L.probs, dq, w.d_qkv, w.d_qkv + D, B,
                         Tq, T, D, H, st.p_attn, st.attn_seed);
    e.linear_backward(dq, xq, P(lp.q_w), w.d_cls_in, 0, Gw(lp.q_w), Gw(lp.q_b), Nq, D, D);
    e.add(w.d_cls_in, d_res, w.d_cls_in, (int64_t)Nq * D);
    e.fill_zero(d_in, sizeof(float) * N * D);
    e.copy_rows(w.d_cls_in, D, d_in, (int64_t)T * D, B, D);
    e.linear_backward(w.d_qkv, x_in, P(lp.k_w), d_in, 1, Gw(lp.k_w), Gw(lp.k_b), N, D, 2 * D);
  }
  return d_in;
}

void EncoderModel::hidden_state(int i, float* host) const {
  if (!run_.opts.all_hidden || run_.B == 0) throw std::logic_error("hidden states need a forward pass with all_hidden");
  if (i < 0 || i > c_.n_layers) throw std::out_of_range("hidden state index out of range");
  const float* src = i == 0 ? ws_->emb_out : ws_->layers[i - 1].out;
  be_->download(host, src, sizeof(float) * run_.B * run_.T * c_.dim);
}

void EncoderModel::release_workspace() {
  train_arena_.reset();
  infer_arena_.reset();
  run_ = Run{};
}

size_t EncoderModel::workspace_bytes() const { return (train_arena_.size() + infer_arena_.size()) * sizeof(float); }

}  // namespace engine

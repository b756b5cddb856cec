// DistilBertForSequenceClassification, DistilBertForMaskedLM or BertForSequenceClassification as one model step on
// a backend, in the manner of llm.c's
// gpt2_forward / gpt2_backward: parameters, gradients and Adam moments are flat device buffers,
// activations live in a planned workspace, and forward, loss, backward and the optimizer step
// are explicit. The host hands in token ids, masks and labels and reads back logits and losses;
// weights and moments cross to the host only for checkpoints.
#pragma once
#include <memory>
#include <vector>

#include "../backend.h"
#include "config.h"

namespace engine {

struct ForwardOptions {
  bool train = false;       // dropout on
  uint64_t seed = 0;        // base of this pass's dropout streams
  bool grad = true;         // keep activations for backward(); false = inference (lean workspace)
  bool all_hidden = false;  // compute every position of the last layer too (hidden_state())
  // Masked LM: the positions (b*T + t, increasing) whose tokens the head predicts; the logits are
  // [n_predict, vocab]. Only these rows go through the head, the tied 30k-wide projector included.
  const int32_t* predict = nullptr;
  int n_predict = 0;
  // Classifier only: the embeddings output [B*T, dim] (host) given in place of the token ids' (ids may then be null):
  // the points of an integrated-gradients path.
  const float* embedded = nullptr;
  // BERT: token_type_ids [B*T] (null: all 0).
  const int32_t* token_types = nullptr;
};

class EncoderModel {
 public:
  EncoderModel(std::unique_ptr<Backend> backend, const ModelConfig& config);
  ~EncoderModel();

  const ModelConfig& config() const { return c_; }
  const std::vector<ParamSpec>& layout() const { return layout_; }
  Backend& backend() { return *be_; }
  int64_t param_count() const { return n_params_; }

  void set_params(const float* host);
  // On a host_memory() backend, where `host` starts on a kHostAlign boundary, works in it from now
  // on (no copy; the caller keeps it alive and unchanged by others); otherwise the same as
  // set_params. Returns whether it borrowed.
  bool adopt_params(float* host);
  void get_params(float* host) const;
  void get_grads(float* host) const;
  // Restoring moments also restores which word-embedding rows Adam updates (rows with any non-zero moment).
  void set_moments(const float* m, const float* v);
  void get_moments(float* m, float* v) const;

  // Logits [B, num_labels] (masked LM: [n_predict, vocab]) into `logits` (host; null: not
  // copied out). Throws std::invalid_argument on bad input.
  void forward(const int32_t* ids, const int32_t* mask, int B, int T, const ForwardOptions& opts, float* logits);
  // Rows of logits the last forward produced: B, or n_predict for the masked LM.
  int logit_rows() const;
  // Mean cross-entropy of the last forward (which kept gradients) over its logit_rows() labels;
  // readies backward() with dlogits scaled by grad_scale (a micro-batch's share of the whole batch).
  double loss(const int32_t* labels, int n, float grad_scale);
  // Multi-label (targets in [0, 1]) or regression: the mean BCE-with-logits or squared error over the
  // last forward's B x num_labels logits, as transformers computes them; readies backward() the same way.
  double loss_targets(const float* targets, int64_t n, float grad_scale);
  // The head's hidden vector [B, dim] of the last eval-mode forward: BERT's pooler output (tanh), or
  // DistilBERT's pre_classifier + ReLU.
  // n must be B * dim of that forward.
  void pooled_output(float* host, int64_t n) const;
  // Adds the gradients of the last loss() to the gradient buffer.
  void backward();
  // Classifier: the gradient of sum(dlogits * logits) of the last forward (eval mode, kept gradients) with respect
  // to the embeddings output, [B*T, dim], into d_embedded; that output itself into `embedded` (null: not copied).
  // No weight gradient is formed or touched.
  void input_gradients(const float* dlogits, float* d_embedded, float* embedded, int B, int T);
  void zero_grads();
  // Keras Adam on the accumulated gradients, then zero_grads(). clip_norm <= 0: no clipping.
  // sparse: word-embedding rows that never had a gradient are skipped (exact: zero moments).
  void adam_step(float alpha, float beta1, float beta2, float eps, double clip_norm, bool sparse);
  // torch.optim.AdamW on the accumulated gradients (dense), then zero_grads(): weight decay on
  // every parameter but biases and LayerNorm weights, as HF Trainer groups them; t = this update's number (1-based);
  // clip_norm as torch's clip_grad_norm_ (HF Trainer's max_grad_norm), <= 0: none.
  void adamw_step(float lr, float beta1, float beta2, float eps, float weight_decay, int64_t t, double clip_norm);
  // Hidden state i (0: embeddings output, l: after layer l) of the last all_hidden forward, [B*T, dim].
  void hidden_state(int i, float* host) const;
  // Frees the workspaces (they are planned again on the next forward).
  void release_workspace();
  // Device bytes held by workspaces now (tests of the inference memory bound).
  size_t workspace_bytes() const;

  struct Workspace;

 private:
  struct LayerStep;
  LayerStep layer_step(int l) const;
  struct Run {
    int B = 0, T = 0;
    ForwardOptions opts;
    bool has_loss = false;
    std::vector<int32_t> ids;  // host copy: the word-embedding rows backward touches
  };

  int query_len(int l, const Run& r) const;
  int head_activation() const { return c_.arch == BERT ? TANH : RELU; }
  void classifier_forward(const float* x);
  float* classifier_backward();
  void masked_lm_forward(const float* x);
  float* masked_lm_backward();
  void clip_gradients(double clip_norm, double eps);
  const float* layer_forward(int l, const float* x);
  float* layer_backward(int l, float* d_out);
  float* P(int64_t offset) const { return params_.get() + offset; }
  float* G(int64_t offset) const { return grads_.get() + offset; }
  // A weight gradient in the backward pass: none while input_gradients() runs it.
  float* Gw(int64_t offset) const { return input_only_ ? nullptr : G(offset); }
  // The backward pass from the head's dlogits to the gradient of the embeddings output (before their dropout's backward).
  float* backward_to_embeddings();
  int64_t offset(const std::string& name) const;
  void upload_ints(DeviceBuffer<int32_t>& buf, const int32_t* src, size_t n);
  void need_grads();
  void need_moments();

  std::unique_ptr<Backend> be_;
  ModelConfig c_;
  std::vector<ParamSpec> layout_;
  int64_t n_params_ = 0, word_offset_ = 0, pos_offset_ = 0, type_offset_ = 0, emb_ln_offset_ = 0, head_offset_ = 0;
  // [begin, end) ranges of the flat buffer that AdamW decays.
  std::vector<std::pair<int64_t, int64_t>> decayed_;
  std::vector<int64_t> layer_offset_;
  DeviceBuffer<float> params_, grads_, m_, v_;
  std::unique_ptr<Workspace> ws_;
  DeviceBuffer<float> train_arena_, infer_arena_;
  DeviceBuffer<int32_t> ids_, types_, mask_, labels_, rows_, predict_;
  Run run_;
  bool input_only_ = false;
  bool pooled_ = false;  // the last forward was an eval-mode classifier's (pooled_output() is valid)
  // Word-embedding rows with gradient since zero_grads(), and rows Adam has ever updated.
  std::vector<uint8_t> touched_mark_, seen_mark_;
  std::vector<int32_t> touched_, seen_;
  // Masked LM: 0..vocab-1, the rows its tied projector gives a gradient at every step.
  std::vector<int32_t> every_row_;
};

}  // namespace engine

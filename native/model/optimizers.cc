// EncoderModel's optimizer steps (Keras Adam, torch AdamW), gradient clipping and zeroing: the
// updates run on the backend over the flat parameter, gradient and moment buffers.
#include <cmath>
#include <stdexcept>

#include "encoder.h"

namespace engine {

void EncoderModel::zero_grads() {
  if (!grads_.get()) return;  // nothing accumulated yet
  // Densely for every parameter but the word embeddings, and only the touched rows of those
  // (the other rows are still zero), which saves clearing vocab x dim floats.
  const int64_t word_end = word_offset_ + (int64_t)c_.vocab_size * c_.dim;
  if (word_offset_ > 0) be_->fill_zero(G(0), sizeof(float) * word_offset_);
  be_->fill_zero(G(word_end), sizeof(float) * (n_params_ - word_end));
  if (!touched_.empty()) {
    upload_ints(rows_, touched_.data(), touched_.size());
    be_->zero_rows(G(word_offset_), rows_.get(), (int64_t)touched_.size(), c_.dim);
  }
  for (int32_t r : touched_) touched_mark_[r] = 0;
  touched_.clear();
}

void EncoderModel::adam_step(float alpha, float beta1, float beta2, float eps, double clip_norm, bool sparse) {
  need_grads();
  need_moments();
  Backend& e = *be_;
  clip_gradients(clip_norm, 0);
  for (int32_t r : touched_) {
    if (!seen_mark_[r]) {
      seen_mark_[r] = 1;
      seen_.push_back(r);
    }
  }
  if (!sparse) {
    e.adam_update(params_.get(), grads_.get(), m_.get(), v_.get(), n_params_, alpha, beta1, beta2, eps);
  } else {
    // Rows that never had a gradient have zero moments, so Adam would leave them unchanged;
    // rows that had one keep being updated every step (their moments decay): exact.
    const int64_t word_end = word_offset_ + (int64_t)c_.vocab_size * c_.dim;
    auto dense = [&](int64_t a, int64_t b) {
      if (b > a) e.adam_update(P(a), G(a), m_.get() + a, v_.get() + a, b - a, alpha, beta1, beta2, eps);
    };
    dense(0, word_offset_);
    dense(word_end, n_params_);
    if (!seen_.empty()) {
      upload_ints(rows_, seen_.data(), seen_.size());
      e.adam_update_rows(P(word_offset_), G(word_offset_), m_.get() + word_offset_, v_.get() + word_offset_,
                         rows_.get(), (int64_t)seen_.size(), c_.dim, alpha, beta1, beta2, eps);
    }
  }
  e.weights_changed();
  zero_grads();
  e.synchronize();  // the step is done when this returns (timings, and errors surface here)
}

// Global-norm clipping; clip_norm <= 0: none. tf.clip_by_global_norm scales by clip_norm / norm where
// norm > clip_norm (eps 0); torch's clip_grad_norm_ by clip_norm / (norm + 1e-6) where that is < 1.
void EncoderModel::clip_gradients(double clip_norm, double eps) {
  if (clip_norm <= 0) return;
  const double norm = std::sqrt(be_->sum_squares(grads_.get(), n_params_));
  const double coef = clip_norm / (norm + eps);
  if (coef < 1) be_->scale(grads_.get(), (float)coef, n_params_);
}

void EncoderModel::adamw_step(float lr, float beta1, float beta2, float eps, float weight_decay, int64_t t,
                                 double clip_norm) {
  if (t < 1) throw std::invalid_argument("AdamW's update number starts at 1");
  need_grads();
  need_moments();
  clip_gradients(clip_norm, 1e-6);
  // Dense: the decay moves every weight, and every moment decays, whether or not it had a gradient.
  const float bc1 = 1.0f - (float)std::pow((double)beta1, (double)t);
  const float bc2_sqrt = (float)std::sqrt(1.0 - std::pow((double)beta2, (double)t));
  int64_t at = 0;
  auto update = [&](int64_t a, int64_t b, float wd) {
    if (b > a)
      be_->adamw_update(P(a), G(a), m_.get() + a, v_.get() + a, b - a, lr, wd, beta1, beta2, eps, bc1, bc2_sqrt);
  };
  for (const auto& [a, b] : decayed_) {
    update(at, a, 0.0f);
    update(a, b, weight_decay);
    at = b;
  }
  update(at, n_params_, 0.0f);
  be_->weights_changed();
  zero_grads();
  be_->synchronize();
}

}  // namespace engine

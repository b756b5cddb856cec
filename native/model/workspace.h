// The workspace plan of EncoderModel: every activation buffer of a forward (and backward) pass,
// carved out of one device allocation, and the offsets of each layer's parameters.
#pragma once
#include <cstdint>
#include <vector>

#include "encoder.h"

namespace engine {

// Offsets of one layer's parameters in the flat buffer (q, k, v weights adjacent, then their biases).
struct LayerParams {
  int64_t q_w, k_w, q_b, k_b, out_w, out_b, sa_w, sa_b, lin1_w, lin1_b, lin2_w, lin2_b, out_ln_w, out_ln_b;
};

// Activations of one layer kept from forward for backward (inference: one shared set).
struct LayerActs {
  float *qkv, *probs, *ctx, *sa_sum, *sa_mean, *sa_rstd, *sa_out, *h1, *ffn_sum, *out_mean, *out_rstd, *out;
};

// Every buffer of a forward (and backward) pass, carved out of one device allocation.
struct EncoderModel::Workspace {
  float *emb_sum, *emb_mean, *emb_rstd, *emb_out, *act, *cls_in, *cls, *pre_h, *pre_a, *logits, *losses;
  float *d_logits, *d_pre, *d_cls, *d_cls_in, *d_res, *dA, *dB, *dH2, *dA1, *d_ctx, *d_qkv;
  // Masked-LM head on the predicted rows: input, transform, activation, LayerNorm (and its stats), gradients.
  float *mlm_x, *mlm_t, *mlm_g, *mlm_mean, *mlm_rstd, *mlm_y, *d_mlm_y, *d_mlm_g, *d_mlm_x;
  std::vector<LayerActs> layers;
  std::vector<LayerParams> lp;
  const float* cls_rows = nullptr;  // the head's input rows [B, D] of the last forward
};

// Lays the workspace out for a batch of B x T tokens (P: the masked LM's predicted rows, 0 for the
// classifier) at `base`; with base == nullptr it only counts. Returns the floats the layout takes.
int64_t plan_workspace(EncoderModel::Workspace& w, const ModelConfig& c, float* base, int B, int T, int P, bool grad,
                       bool all_hidden);

}  // namespace engine

#include "config.h"

namespace engine {

std::string layer_prefix(int l) { return "distilbert.transformer.layer." + std::to_string(l) + "."; }

std::vector<ParamSpec> distilbert_layout(const ModelConfig& c) {
  const int64_t D = c.dim, F = c.hidden_dim, C = c.num_labels;
  std::vector<ParamSpec> specs;
  auto add = [&](const std::string& name, std::vector<int64_t> shape) {
    int64_t size = 1;
    for (int64_t d : shape) size *= d;
    const int64_t offset = specs.empty() ? 0 : specs.back().offset + specs.back().size;
    specs.push_back({name, std::move(shape), offset, size});
  };
  add("distilbert.embeddings.word_embeddings.weight", {c.vocab_size, D});
  add("distilbert.embeddings.position_embeddings.weight", {c.max_positions, D});
  add("distilbert.embeddings.LayerNorm.weight", {D});
  add("distilbert.embeddings.LayerNorm.bias", {D});
  for (int l = 0; l < c.n_layers; l++) {
    const std::string p = layer_prefix(l);
    add(p + "attention.q_lin.weight", {D, D});
    add(p + "attention.k_lin.weight", {D, D});
    add(p + "attention.v_lin.weight", {D, D});
    add(p + "attention.q_lin.bias", {D});
    add(p + "attention.k_lin.bias", {D});
    add(p + "attention.v_lin.bias", {D});
    add(p + "attention.out_lin.weight", {D, D});
    add(p + "attention.out_lin.bias", {D});
    add(p + "sa_layer_norm.weight", {D});
    add(p + "sa_layer_norm.bias", {D});
    add(p + "ffn.lin1.weight", {F, D});
    add(p + "ffn.lin1.bias", {F});
    add(p + "ffn.lin2.weight", {D, F});
    add(p + "ffn.lin2.bias", {D});
    add(p + "output_layer_norm.weight", {D});
    add(p + "output_layer_norm.bias", {D});
  }
  if (c.head == MASKED_LM) {
    add("vocab_transform.weight", {D, D});
    add("vocab_transform.bias", {D});
    add("vocab_layer_norm.weight", {D});
    add("vocab_layer_norm.bias", {D});
    add("vocab_projector.bias", {c.vocab_size});
  } else {
    add("pre_classifier.weight", {D, D});
    add("pre_classifier.bias", {D});
    add("classifier.weight", {C, D});
    add("classifier.bias", {C});
  }
  return specs;
}

}  // namespace engine

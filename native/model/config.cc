#include "config.h"

namespace engine {

ParamNames param_names(const ModelConfig& c, int l) {
  if (c.arch == BERT) {
    const std::string p = "bert.encoder.layer." + std::to_string(l) + ".";
    return {"bert.embeddings.word_embeddings.weight", "bert.embeddings.position_embeddings.weight",
            "bert.embeddings.token_type_embeddings.weight", "bert.embeddings.LayerNorm", "bert.pooler.dense", "classifier",
            p + "attention.self.query", p + "attention.self.key", p + "attention.self.value",
            p + "attention.output.dense", p + "attention.output.LayerNorm", p + "intermediate.dense", p + "output.dense",
            p + "output.LayerNorm"};
  }
  const std::string p = "distilbert.transformer.layer." + std::to_string(l) + ".";
  return {"distilbert.embeddings.word_embeddings.weight", "distilbert.embeddings.position_embeddings.weight", "",
          "distilbert.embeddings.LayerNorm", "pre_classifier", "classifier", p + "attention.q_lin", p + "attention.k_lin",
          p + "attention.v_lin", p + "attention.out_lin", p + "sa_layer_norm", p + "ffn.lin1", p + "ffn.lin2",
          p + "output_layer_norm"};
}

std::vector<ParamSpec> param_layout(const ModelConfig& c) {
  const int64_t D = c.dim, F = c.hidden_dim, C = c.num_labels;
  std::vector<ParamSpec> specs;
  auto add = [&](const std::string& name, std::vector<int64_t> shape) {
    int64_t size = 1;
    for (int64_t d : shape) size *= d;
    const int64_t offset = specs.empty() ? 0 : specs.back().offset + specs.back().size;
    specs.push_back({name, std::move(shape), offset, size});
  };
  const ParamNames e = param_names(c, 0);
  add(e.word, {c.vocab_size, D});
  add(e.position, {c.max_positions, D});
  if (c.arch == BERT) add(e.token_type, {c.type_vocab_size, D});
  add(e.embeddings_norm + ".weight", {D});
  add(e.embeddings_norm + ".bias", {D});
  for (int l = 0; l < c.n_layers; l++) {
    const ParamNames n = param_names(c, l);
    add(n.q + ".weight", {D, D});
    add(n.k + ".weight", {D, D});
    add(n.v + ".weight", {D, D});
    add(n.q + ".bias", {D});
    add(n.k + ".bias", {D});
    add(n.v + ".bias", {D});
    add(n.attention_out + ".weight", {D, D});
    add(n.attention_out + ".bias", {D});
    add(n.attention_norm + ".weight", {D});
    add(n.attention_norm + ".bias", {D});
    add(n.ffn_in + ".weight", {F, D});
    add(n.ffn_in + ".bias", {F});
    add(n.ffn_out + ".weight", {D, F});
    add(n.ffn_out + ".bias", {D});
    add(n.output_norm + ".weight", {D});
    add(n.output_norm + ".bias", {D});
  }
  if (c.head == MASKED_LM) {
    add("vocab_transform.weight", {D, D});
    add("vocab_transform.bias", {D});
    add("vocab_layer_norm.weight", {D});
    add("vocab_layer_norm.bias", {D});
    add("vocab_projector.bias", {c.vocab_size});
  } else {
    add(e.head_dense + ".weight", {D, D});
    add(e.head_dense + ".bias", {D});
    add(e.classifier + ".weight", {C, D});
    add(e.classifier + ".bias", {C});
  }
  return specs;
}

}  // namespace engine

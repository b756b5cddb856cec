// DistilBERT with a sequence-classification or masked-LM head: its configuration and its one
// table of parameters.
// Names and shapes are Hugging Face's; the TypeScript side reads this table (paramLayout) rather
// than spelling it again.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace engine {

// The head on top of the transformer: DistilBertForSequenceClassification or DistilBertForMaskedLM.
enum Head { SEQUENCE_CLASSIFIER = 0, MASKED_LM = 1 };

struct ModelConfig {
  int head = SEQUENCE_CLASSIFIER;
  int vocab_size = 0, max_positions = 0, dim = 0, n_layers = 0, n_heads = 0, hidden_dim = 0, num_labels = 0;
  int activation = 0;  // engine::Activation
  float dropout = 0, attention_dropout = 0, seq_classif_dropout = 0;
  float layer_norm_eps = 1e-12f;
  bool sinusoidal_positions = false;  // fixed position embeddings: no gradient
};

struct ParamSpec {
  std::string name;
  std::vector<int64_t> shape;
  int64_t offset = 0, size = 0;
};

// Every parameter in the order of the flat buffer. The masked-LM head's projector weight is tied to
// the word embeddings (HF's tie_word_embeddings): it has no slot of its own. Within a layer the q, k, v weights (then
// their biases) are adjacent, so the three projections run as one [3*dim, dim] matrix product.
std::vector<ParamSpec> distilbert_layout(const ModelConfig& c);

std::string layer_prefix(int l);

}  // namespace engine

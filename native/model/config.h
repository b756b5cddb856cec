// DistilBERT or BERT with a sequence-classification (or, DistilBERT only, masked-LM) head: its
// configuration and its one table of parameters.
// Names and shapes are Hugging Face's; the TypeScript side reads this table (paramLayout) rather
// than spelling it again.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace engine {

// The head on top of the transformer: DistilBertForSequenceClassification or DistilBertForMaskedLM.
enum Head { SEQUENCE_CLASSIFIER = 0, MASKED_LM = 1 };

// The encoder: DistilBERT (word + position embeddings, pre_classifier + ReLU head) or BERT (token-type
// embeddings too, a dropout after the attention output, pooler dense + tanh). The layers' maths is shared.
enum Arch { DISTILBERT = 0, BERT = 1 };

// The classifier's loss, as transformers' problem_type: softmax cross-entropy, sigmoid binary
// cross-entropy on every label (mean over rows x labels), or mean squared error (one output).
enum Problem { SINGLE_LABEL = 0, MULTI_LABEL = 1, REGRESSION = 2 };

struct ModelConfig {
  int head = SEQUENCE_CLASSIFIER;
  int arch = DISTILBERT;
  int problem = SINGLE_LABEL;
  int type_vocab_size = 0;  // BERT's token types
  int vocab_size = 0, max_positions = 0, dim = 0, n_layers = 0, n_heads = 0, hidden_dim = 0, num_labels = 0;
  int activation = 0;  // engine::Activation
  // seq_classif_dropout: the head's dropout (BERT's classifier_dropout, else hidden_dropout_prob).
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
// BERT's table has DistilBERT's order under BERT's names, the token-type table after the position table.
std::vector<ParamSpec> param_layout(const ModelConfig& c);

// Names of the parameters the runner addresses: layer l's (q, k, v, attention output, its LayerNorm,
// FFN in and out, output LayerNorm) and the embeddings' and head's, in the config's architecture.
struct ParamNames {
  std::string word, position, token_type, embeddings_norm, head_dense, classifier;
  std::string q, k, v, attention_out, attention_norm, ffn_in, ffn_out, output_norm;  // prefixes without ".weight"
};
ParamNames param_names(const ModelConfig& c, int layer);

}  // namespace engine

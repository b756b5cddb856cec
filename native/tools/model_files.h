// Model files for the native check tool, which runs where there is no Node.js (the GPU
// machines): config.json with Hugging Face's DistilBERT defaults, and safetensors (F32/F64).
#pragma once
#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "../backend.h"
#include "../model/config.h"
#include "json.h"

namespace tools {

inline std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot read " + path);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

struct Tensor {
  std::vector<int64_t> shape;
  std::vector<double> data;
};

inline std::map<std::string, Tensor> read_safetensors(const std::string& path) {
  const std::string bytes = read_file(path);
  if (bytes.size() < 8) throw std::runtime_error(path + ": too short for safetensors");
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  if (8 + n > bytes.size()) throw std::runtime_error(path + ": header runs past the end");
  const Json header = Json::parse(bytes.substr(8, n));
  const char* base = bytes.data() + 8 + n;
  std::map<std::string, Tensor> out;
  for (const auto& [name, info] : header.obj) {
    if (name == "__metadata__") continue;
    Tensor t;
    int64_t count = 1;
    for (const Json& d : info["shape"].arr) t.shape.push_back((int64_t)d.number()), count *= t.shape.back();
    const size_t begin = (size_t)info["data_offsets"][0].number(), end = (size_t)info["data_offsets"][1].number();
    const std::string dtype = info["dtype"].str;
    const size_t width = dtype == "F32" ? 4 : dtype == "F64" ? 8 : 0;
    if (!width) throw std::runtime_error(path + ": tensor " + name + " has dtype " + dtype + " (F32/F64 only here)");
    if (end - begin != (size_t)count * width || 8 + n + end > bytes.size())
      throw std::runtime_error(path + ": tensor " + name + " has a bad byte range");
    t.data.resize(count);
    for (int64_t i = 0; i < count; i++) {
      if (width == 4) {
        float f;
        std::memcpy(&f, base + begin + i * 4, 4);
        t.data[i] = f;
      } else {
        std::memcpy(&t.data[i], base + begin + i * 8, 8);
      }
    }
    out[name] = std::move(t);
  }
  return out;
}

// config.json of model_type "bert", with the defaults of transformers' BertConfig; problem_type as
// transformers reads it (absent: regression for one label, else single-label).
inline engine::ModelConfig read_bert_config(const Json& j) {
  auto num = [&](const char* k, double dflt) { return j.has(k) && j[k].kind != Json::Null ? j[k].number() : dflt; };
  engine::ModelConfig c;
  c.arch = engine::BERT;
  c.vocab_size = (int)num("vocab_size", 30522);
  c.max_positions = (int)num("max_position_embeddings", 512);
  c.type_vocab_size = (int)num("type_vocab_size", 2);
  c.n_layers = (int)num("num_hidden_layers", 12);
  c.n_heads = (int)num("num_attention_heads", 12);
  c.dim = (int)num("hidden_size", 768);
  c.hidden_dim = (int)num("intermediate_size", 3072);
  c.dropout = (float)num("hidden_dropout_prob", 0.1);
  c.attention_dropout = (float)num("attention_probs_dropout_prob", 0.1);
  c.seq_classif_dropout = (float)num("classifier_dropout", c.dropout);
  c.layer_norm_eps = (float)num("layer_norm_eps", 1e-12);
  c.num_labels = j.has("id2label") ? (int)j["id2label"].obj.size() : (int)num("num_labels", 2);
  const std::string act = j.has("hidden_act") ? j["hidden_act"].str : "gelu";
  c.activation = act == "gelu" ? engine::GELU : act == "gelu_new" ? engine::GELU_TANH : engine::RELU;
  const std::string pt = j.has("problem_type") && j["problem_type"].kind == Json::String ? j["problem_type"].str : "";
  c.problem = pt == "multi_label_classification" ? engine::MULTI_LABEL
              : pt == "regression" || (pt.empty() && c.num_labels == 1) ? engine::REGRESSION
                                                                        : engine::SINGLE_LABEL;
  return c;
}

// config.json with the defaults of transformers' DistilBertConfig (or BertConfig for model_type "bert").
inline engine::ModelConfig read_config(const std::string& path) {
  const Json j = Json::parse(read_file(path));
  if (j.has("model_type") && j["model_type"].str == "bert") return read_bert_config(j);
  auto num = [&](const char* k, double dflt) { return j.has(k) ? j[k].number() : dflt; };
  engine::ModelConfig c;
  c.vocab_size = (int)num("vocab_size", 30522);
  c.max_positions = (int)num("max_position_embeddings", 512);
  c.n_layers = (int)num("n_layers", 6);
  c.n_heads = (int)num("n_heads", 12);
  c.dim = (int)num("dim", 768);
  c.hidden_dim = (int)num("hidden_dim", 3072);
  c.dropout = (float)num("dropout", 0.1);
  c.attention_dropout = (float)num("attention_dropout", 0.1);
  c.seq_classif_dropout = (float)num("seq_classif_dropout", 0.2);
  c.sinusoidal_positions = j.has("sinusoidal_pos_embds") && j["sinusoidal_pos_embds"].b;
  c.num_labels = j.has("id2label") ? (int)j["id2label"].obj.size() : 2;
  const std::string act = j.has("activation") ? j["activation"].str : "gelu";
  c.activation = act == "gelu" ? engine::GELU : act == "gelu_new" ? engine::GELU_TANH : engine::RELU;
  return c;
}

// The flat parameter buffer from tensors named as Hugging Face names them.
inline std::vector<float> flat_params(const engine::ModelConfig& c, const std::map<std::string, Tensor>& tensors,
                                      const std::string& source) {
  const auto layout = engine::param_layout(c);
  std::vector<float> flat(layout.back().offset + layout.back().size);
  for (const auto& s : layout) {
    auto it = tensors.find(s.name);
    if (it == tensors.end()) throw std::runtime_error(source + ": no tensor " + s.name);
    if ((int64_t)it->second.data.size() != s.size) throw std::runtime_error(source + ": tensor " + s.name + " has the wrong size");
    for (int64_t i = 0; i < s.size; i++) flat[s.offset + i] = (float)it->second.data[i];
  }
  return flat;
}

}  // namespace tools

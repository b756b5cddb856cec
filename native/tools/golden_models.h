// The golden model checks of engine_check (native/tools/engine_check.cc) beyond golden/tiny and
// golden/train: the masked LM (golden/mlm) and BertForSequenceClassification (golden/bert/*), with
// the limits of the TypeScript golden tests, and the comparisons they share.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <numeric>
#include <string>
#include <vector>

#include "../model/encoder.h"
#include "model_files.h"

namespace tools {

using engine::EncoderModel;
using engine::ForwardOptions;
using engine::ModelConfig;

inline double max_abs(const std::vector<float>& a, const std::vector<double>& b) {
  double e = 0;
  for (size_t i = 0; i < a.size(); i++) e = std::max(e, std::fabs(a[i] - b[i]));
  return a.size() == b.size() ? e : INFINITY;
}

// Largest |flat - golden| over the parameters of the layout, the golden tensors named prefix + name.
inline double max_layout_error(const std::vector<float>& flat, const std::vector<engine::ParamSpec>& layout,
                        const std::map<std::string, tools::Tensor>& golden, const std::string& prefix = "") {
  double e = 0;
  for (const auto& spec : layout) {
    const std::vector<double>& want = golden.at(prefix + spec.name).data;
    for (int64_t i = 0; i < spec.size; i++) e = std::max(e, std::fabs(flat[spec.offset + i] - want[i]));
  }
  return e;
}

// The model's gradients or parameters against a golden file's tensors.
inline double grad_error(const EncoderModel& m, const std::map<std::string, tools::Tensor>& golden, const std::string& prefix) {
  std::vector<float> g(m.param_count());
  m.get_grads(g.data());
  return max_layout_error(g, m.layout(), golden, prefix);
}
inline double param_error(const EncoderModel& m, const std::string& path) {
  std::vector<float> p(m.param_count());
  m.get_params(p.data());
  return max_layout_error(p, m.layout(), tools::read_safetensors(path));
}

inline std::vector<int32_t> flatten_ints(const tools::Json& rows) {
  std::vector<int32_t> out;
  for (const auto& r : rows.arr)
    for (const auto& v : r.arr) out.push_back((int32_t)v.number());
  return out;
}

// golden/mlm: DistilBertForMaskedLM's logits (every position of the first batch), losses, step-1
// gradients (the tied projector's share included) and three torch AdamW steps, with the limits of
// the TypeScript golden test (test/mlm_golden.test.ts).
inline bool golden_mlm(const std::string& d, const std::string& device, const std::string& precision) {
  ModelConfig c = tools::read_config(d + "/config.json");
  c.head = engine::MASKED_LM;
  EncoderModel m(engine::make_backend(device, precision), c);
  m.set_params(tools::flat_params(c, tools::read_safetensors(d + "/model.safetensors"), "mlm/model.safetensors").data());
  const tools::Json g = tools::Json::parse(tools::read_file(d + "/batches.json"));
  const tools::Json& opt = g["optimizer"];
  const tools::Json want_loss = tools::Json::parse(tools::read_file(d + "/steps.json"))["loss"];
  const auto ref = tools::read_safetensors(d + "/reference.safetensors");
  double logit_err = 0, loss_err = 0, grad_err = 0;
  for (size_t s = 0; s < g["batches"].arr.size(); s++) {
    const tools::Json& b = g["batches"][s];
    const auto ids = flatten_ints(b["input_ids"]), mask = flatten_ints(b["attention_mask"]), labels = flatten_ints(b["labels"]);
    const int B = (int)b["input_ids"].arr.size(), T = (int)ids.size() / B;
    if (s == 0) {  // every position, padding included, as the golden logits are
      std::vector<int32_t> all((size_t)B * T);
      std::iota(all.begin(), all.end(), 0);
      ForwardOptions fo;
      fo.grad = false;
      fo.predict = all.data(), fo.n_predict = B * T;
      std::vector<float> logits((size_t)B * T * c.vocab_size);
      m.forward(ids.data(), mask.data(), B, T, fo, logits.data());
      logit_err = max_abs(logits, ref.at("logits").data);
    }
    std::vector<int32_t> predict, targets;  // the positions whose label is not -100
    for (int i = 0; i < B * T; i++)
      if (labels[i] != -100) predict.push_back(i), targets.push_back(labels[i]);
    ForwardOptions fo;
    fo.train = true;
    fo.seed = s;
    fo.predict = predict.data(), fo.n_predict = (int)predict.size();
    m.forward(ids.data(), mask.data(), B, T, fo, nullptr);
    loss_err = std::max(loss_err, std::fabs(m.loss(targets.data(), (int)targets.size(), 1.0f) - want_loss[s].number()));
    m.backward();
    if (s == 0) grad_err = grad_error(m, ref, "grad.");
    m.adamw_step((float)opt["lr_per_step"][s].number(), (float)opt["beta_1"].number(), (float)opt["beta_2"].number(),
                 (float)opt["epsilon"].number(), (float)opt["weight_decay"].number(), (int64_t)s + 1, 0);
  }
  const double param_err = param_error(m, d + "/final.safetensors");
  std::printf("golden masked LM (3 AdamW steps) on %s: logits max abs error %.3g (limit 1e-5), loss %.3g (1e-5), "
              "step-1 gradients %.3g (1e-5), parameters after 3 steps %.3g (5e-5)\n",
              m.backend().name().c_str(), logit_err, loss_err, grad_err, param_err);
  return logit_err < 1e-5 && loss_err < 1e-5 && grad_err < 1e-5 && param_err < 5e-5;
}

// A golden/bert/* folder (BertForSequenceClassification of any problem type): eval-mode logits, pooled
// output and hidden states (limit 1e-4), then three AdamW steps: losses and step-1 gradients (1e-5),
// parameters after them (5e-5), as test/bert_golden.test.ts judges them.
inline bool golden_bert(const std::string& d, const std::string& device, const std::string& precision) {
  const ModelConfig c = tools::read_config(d + "/config.json");
  EncoderModel m(engine::make_backend(device, precision), c);
  m.set_params(tools::flat_params(c, tools::read_safetensors(d + "/model.safetensors"), d + "/model.safetensors").data());
  const tools::Json in = tools::Json::parse(tools::read_file(d + "/inputs.json"));
  const auto fwd = tools::read_safetensors(d + "/forward.safetensors");
  double fwd_err = 0;
  {
    const auto ids = flatten_ints(in["input_ids"]), mask = flatten_ints(in["attention_mask"]), types = flatten_ints(in["token_type_ids"]);
    const int B = (int)in["input_ids"].arr.size(), T = (int)ids.size() / B;
    ForwardOptions fo;
    fo.grad = false;
    fo.all_hidden = true;
    fo.token_types = types.data();
    std::vector<float> logits((size_t)B * c.num_labels), pooled((size_t)B * c.dim);
    m.forward(ids.data(), mask.data(), B, T, fo, logits.data());
    m.pooled_output(pooled.data(), (int64_t)pooled.size());
    fwd_err = std::max(max_abs(logits, fwd.at("logits").data), max_abs(pooled, fwd.at("pooled").data));
    for (int i = 0; i <= c.n_layers; i++) {
      std::vector<float> h((size_t)B * T * c.dim);
      m.hidden_state(i, h.data());
      fwd_err = std::max(fwd_err, max_abs(h, fwd.at("hidden_states." + std::to_string(i)).data));
    }
  }
  const tools::Json g = tools::Json::parse(tools::read_file(d + "/batches.json"));
  const tools::Json& opt = g["optimizer"];
  const tools::Json want_loss = tools::Json::parse(tools::read_file(d + "/steps.json"))["loss"];
  const auto grads1 = tools::read_safetensors(d + "/grads_step1.safetensors");
  double loss_err = 0, grad_err = 0;
  for (size_t s = 0; s < g["batches"].arr.size(); s++) {
    const tools::Json& b = g["batches"][s];
    const auto ids = flatten_ints(b["input_ids"]), mask = flatten_ints(b["attention_mask"]), types = flatten_ints(b["token_type_ids"]);
    const int B = (int)b["input_ids"].arr.size(), T = (int)ids.size() / B;
    ForwardOptions fo;
    fo.train = true;
    fo.seed = s;
    fo.token_types = types.data();
    m.forward(ids.data(), mask.data(), B, T, fo, nullptr);
    double loss;
    if (c.problem == engine::SINGLE_LABEL) {
      std::vector<int32_t> labels;
      for (const auto& l : b["labels"].arr) labels.push_back((int32_t)l.number());
      loss = m.loss(labels.data(), B, 1.0f);
    } else {
      std::vector<float> targets;
      for (const auto& l : b["labels"].arr) {
        if (l.kind == tools::Json::Array)
          for (const auto& v : l.arr) targets.push_back((float)v.number());
        else targets.push_back((float)l.number());
      }
      loss = m.loss_targets(targets.data(), (int64_t)targets.size(), 1.0f);
    }
    loss_err = std::max(loss_err, std::fabs(loss - want_loss[s].number()));
    m.backward();
    if (s == 0) grad_err = grad_error(m, grads1, "");
    m.adamw_step((float)opt["lr_per_step"][s].number(), (float)opt["beta_1"].number(), (float)opt["beta_2"].number(),
                 (float)opt["epsilon"].number(), (float)opt["weight_decay"].number(), (int64_t)s + 1, 0);
  }
  const double param_err = param_error(m, d + "/final.safetensors");
  std::printf("golden BERT %s on %s: logits, pooled and hidden states max abs error %.3g (limit 1e-4), loss %.3g (1e-5), "
              "step-1 gradients %.3g (1e-5), parameters after 3 AdamW steps %.3g (5e-5)\n",
              d.c_str(), m.backend().name().c_str(), fwd_err, loss_err, grad_err, param_err);
  return fwd_err < 1e-4 && loss_err < 1e-5 && grad_err < 1e-5 && param_err < 5e-5;
}

// golden/tiny (forward, eval mode), golden/train (three Keras Adam steps) and, where the folder has
// them, golden/mlm and every golden/bert/* folder of the BERT layout, with the limits of the TypeScript golden tests.

}  // namespace tools

// The engine without Node.js, for machines that have a GPU but no Node (scripts/gpu-check.sh):
// the golden model tests, the benchmark cases and the card's training recipe, on any backend.
//
//   engine_check golden GOLDEN_DIR [--device D] [--precision P]
//   engine_check bench [--device D] [--precision P] [--cases train_32x512,...] [--profile]
//   engine_check train-card TOKENS.bin [--device D] [--precision P] [--epochs N] [--batch N] [--lr X] [--seed N]
//                [--micro-batch N] [--steps-per-epoch N] [--max-validation N]
//   engine_check resume [--device D] [--precision P]
//
// TOKENS.bin is written by `node dist/bench/export_tokens.js` (the posts tokenized by our
// TypeScript tokenizer, which matches Hugging Face's): the training loop here is the
// trainer's (same batches of whole posts padded to the longest, Keras Adam, linear decay; with
// --micro-batch, each step's posts ordered by length and cut into micro-batches whose gradients
// add up to the step's, as `train --micro-batch` does).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "../model/encoder.h"
#include "golden_models.h"
#include "model_files.h"
#include "timing_backend.h"

using engine::EncoderModel;
using engine::ForwardOptions;
using engine::ModelConfig;
using tools::flatten_ints;
using tools::grad_error;
using tools::max_abs;
using tools::param_error;

namespace {

struct Options {
  std::string device = "cuda", precision = "fp32", cases = "train_32x512,train_64x128,infer_32x128,infer_1x128";
  int epochs = 10, batch = 80, micro_batch = 0, seed = 42;  // micro_batch 0: the whole batch
  int steps_per_epoch = 0, max_validation = 0;  // 0: all (smaller values make a quick smoke run)
  bool profile = false;  // bench: time every kernel call (synchronizing) and print where a step goes
  double lr = 2e-5;
  std::vector<std::string> positional;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 2; i < argc; i++) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
      return argv[++i];
    };
    if (a == "--device") o.device = next();
    else if (a == "--precision") o.precision = next();
    else if (a == "--cases") o.cases = next();
    else if (a == "--profile") o.profile = true;
    else if (a == "--epochs") o.epochs = std::stoi(next());
    else if (a == "--batch") o.batch = std::stoi(next());
    else if (a == "--micro-batch") o.micro_batch = std::stoi(next());
    else if (a == "--lr") o.lr = std::stod(next());
    else if (a == "--seed") o.seed = std::stoi(next());
    else if (a == "--steps-per-epoch") o.steps_per_epoch = std::stoi(next());
    else if (a == "--max-validation") o.max_validation = std::stoi(next());
    else if (a.rfind("--", 0) == 0) throw std::runtime_error("unknown option " + a);
    else o.positional.push_back(a);
  }
  return o;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Hugging Face's initialization: normal(0, 0.02) weights and embeddings, zero biases, LayerNorm 1/0.
std::vector<float> init_params(const ModelConfig& c, uint64_t seed) {
  const auto layout = engine::param_layout(c);
  std::vector<float> p(layout.back().offset + layout.back().size);
  std::mt19937_64 g(seed);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  for (const auto& s : layout) {
    const bool norm = s.name.find("LayerNorm") != std::string::npos || s.name.find("layer_norm") != std::string::npos;
    const bool bias = s.name.size() > 5 && s.name.compare(s.name.size() - 5, 5, ".bias") == 0;
    for (int64_t i = 0; i < s.size; i++) p[s.offset + i] = bias ? 0.0f : norm ? 1.0f : normal(g);
  }
  return p;
}

// Keras Adam with PolynomialDecay(lr0 -> end over decay_steps, power): the trainer's rule.
struct KerasAdam {
  double lr0, end, decay_steps, power, b1 = 0.9, b2 = 0.999, eps = 1e-8;
  int step = 0;
  void update(EncoderModel& m) {
    const double frac = 1 - std::min<double>(step, decay_steps) / decay_steps;
    const double lr = (lr0 - end) * std::pow(frac, power) + end;
    const int t = step + 1;
    const double alpha = lr * std::sqrt(1 - std::pow(b2, t)) / (1 - std::pow(b1, t));
    m.adam_step((float)alpha, (float)b1, (float)b2, (float)eps, 0, true);
    step++;
  }
};

int golden(const Options& o) {
  if (o.positional.empty()) throw std::runtime_error("golden needs the golden folder (../shared/golden)");
  const std::string dir = o.positional[0];
  bool ok = true;
  {
    const std::string d = dir + "/tiny";
    const ModelConfig c = tools::read_config(d + "/config.json");
    EncoderModel m(engine::make_backend(o.device, o.precision), c);
    m.set_params(tools::flat_params(c, tools::read_safetensors(d + "/model.safetensors"), "tiny/model.safetensors").data());
    const tools::Json in = tools::Json::parse(tools::read_file(d + "/inputs.json"));
    const auto ids = flatten_ints(in["input_ids"]), mask = flatten_ints(in["attention_mask"]);
    const int B = (int)in["input_ids"].arr.size(), T = (int)ids.size() / B;
    const auto golden = tools::read_safetensors(d + "/forward.safetensors");
    ForwardOptions fo;
    fo.grad = false;
    fo.all_hidden = true;
    std::vector<float> logits(B * c.num_labels), cls_logits(B * c.num_labels);
    m.forward(ids.data(), mask.data(), B, T, fo, logits.data());
    double worst = max_abs(logits, golden.at("logits").data);
    std::printf("golden forward (tiny) on %s: logits max abs error %.3g", m.backend().name().c_str(), worst);
    for (int i = 0; i <= c.n_layers; i++) {
      std::vector<float> h((size_t)B * T * c.dim);
      m.hidden_state(i, h.data());
      const double e = max_abs(h, golden.at("hidden_states." + std::to_string(i)).data);
      std::printf(", hidden_states.%d %.3g", i, e);
      worst = std::max(worst, e);
    }
    fo.all_hidden = false;  // the default path: last layer at [CLS] only
    m.forward(ids.data(), mask.data(), B, T, fo, cls_logits.data());
    const double cls = max_abs(cls_logits, std::vector<double>(logits.begin(), logits.end()));
    std::printf("; [CLS]-only path vs full %.3g (limits 1e-4, 1e-6)\n", cls);
    ok = ok && worst < 1e-4 && cls < 1e-6;
  }
  {
    const std::string d = dir + "/train";
    const ModelConfig c = tools::read_config(d + "/config.json");
    EncoderModel m(engine::make_backend(o.device, o.precision), c);
    m.set_params(tools::flat_params(c, tools::read_safetensors(d + "/model.safetensors"), "train/model.safetensors").data());
    const tools::Json g = tools::Json::parse(tools::read_file(d + "/batches.json"));
    const tools::Json& lr = g["optimizer"]["learning_rate"];
    KerasAdam adam{lr["initial"].number(), lr["end"].number(), lr["decay_steps"].number(), lr["power"].number()};
    adam.b1 = g["optimizer"]["beta_1"].number();
    adam.b2 = g["optimizer"]["beta_2"].number();
    adam.eps = g["optimizer"]["epsilon"].number();
    const tools::Json want_loss = tools::Json::parse(tools::read_file(d + "/steps.json"))["loss"];
    const auto grads1 = tools::read_safetensors(d + "/grads_step1.safetensors");
    double loss_err = 0, grad_err = 0;
    for (size_t s = 0; s < g["batches"].arr.size(); s++) {
      const tools::Json& b = g["batches"][s];
      const auto ids = flatten_ints(b["input_ids"]), mask = flatten_ints(b["attention_mask"]);
      std::vector<int32_t> labels;
      for (const auto& l : b["labels"].arr) labels.push_back((int32_t)l.number());
      const int B = (int)labels.size(), T = (int)ids.size() / B;
      ForwardOptions fo;
      fo.train = true;
      fo.seed = s;
      std::vector<float> logits(B * c.num_labels);
      m.forward(ids.data(), mask.data(), B, T, fo, logits.data());
      loss_err = std::max(loss_err, std::fabs(m.loss(labels.data(), B, 1.0f) - want_loss[s].number()));
      m.backward();
      if (s == 0) grad_err = grad_error(m, grads1, "");
      adam.update(m);
    }
    const double param_err = param_error(m, d + "/final.safetensors");
    std::printf("golden training (3 Keras Adam steps) on %s: loss max error %.3g (limit 1e-5), step-1 gradients %.3g "
                "(1e-5), parameters after 3 steps %.3g (5e-5)\n",
                m.backend().name().c_str(), loss_err, grad_err, param_err);
    ok = ok && loss_err < 1e-5 && grad_err < 1e-5 && param_err < 5e-5;
  }
  if (std::ifstream(dir + "/mlm/final.safetensors")) ok = tools::golden_mlm(dir + "/mlm", o.device, o.precision) && ok;
  else std::printf("golden masked LM: skipped (%s/mlm has no final.safetensors)\n", dir.c_str());
  std::vector<std::string> bert;
  if (std::filesystem::is_directory(dir + "/bert"))
    for (const auto& e : std::filesystem::directory_iterator(dir + "/bert"))
      if (std::filesystem::exists(e.path() / "batches.json") && std::filesystem::exists(e.path() / "forward.safetensors"))
        bert.push_back(e.path().string());
  std::sort(bert.begin(), bert.end());
  for (const auto& d : bert) ok = tools::golden_bert(d, o.device, o.precision) && ok;
  if (bert.empty()) std::printf("golden BERT: skipped (%s/bert has no folder with batches.json and forward.safetensors)\n", dir.c_str());
  if (o.precision != "fp32") {  // the limits are fp32's: rounded products are reported, not judged
    std::printf("golden (%s: informational, the limits are fp32's): %s\n", o.precision.c_str(), ok ? "within" : "outside");
    return 0;
  }
  std::printf("golden: %s\n", ok ? "PASS" : "FAIL");
  return ok ? 0 : 1;
}

ModelConfig base_config(int labels) {
  ModelConfig c;
  c.vocab_size = 30522, c.max_positions = 512, c.dim = 768, c.n_layers = 6, c.n_heads = 12, c.hidden_dim = 3072;
  c.num_labels = labels, c.activation = engine::GELU;
  c.dropout = 0.1f, c.attention_dropout = 0.1f, c.seq_classif_dropout = 0.2f;
  return c;
}

// distilbert-base shapes, random weights and ids; one JSON line per case (median of the repetitions).
// With --profile, every kernel call is timed instead and a table of milliseconds per step follows.
int bench(const Options& o) {
  const ModelConfig c = base_config(20);
  std::unique_ptr<engine::Backend> be = engine::make_backend(o.device, o.precision);
  tools::TimingBackend* timing = nullptr;
  if (o.profile) be = std::unique_ptr<engine::Backend>(timing = new tools::TimingBackend(std::move(be)));
  EncoderModel m(std::move(be), c);
  m.set_params(init_params(c, 1).data());
  KerasAdam adam{2e-5, 0, 1000, 1};
  std::mt19937_64 g(7);
  std::stringstream list(o.cases);
  for (std::string name; std::getline(list, name, ',');) {
    const size_t us = name.find('_'), x = name.find('x');
    if (us == std::string::npos || x == std::string::npos) throw std::runtime_error("bad case " + name);
    const bool train = name.compare(0, us, "train") == 0;
    const int B = std::stoi(name.substr(us + 1, x - us - 1)), T = std::stoi(name.substr(x + 1));
    std::vector<int32_t> ids((size_t)B * T), mask((size_t)B * T, 1), labels(B);
    for (auto& id : ids) id = 1000 + (int32_t)(g() % 20000);
    for (int b = 0; b < B; b++) labels[b] = b % 20;
    std::vector<float> logits((size_t)B * c.num_labels);
    uint64_t n = 0;
    auto step = [&] {
      ForwardOptions fo;
      fo.train = train;
      fo.grad = train;
      fo.seed = n++;
      m.forward(ids.data(), mask.data(), B, T, fo, logits.data());  // reads the logits back: synchronizes
      if (!train) return;
      m.loss(labels.data(), B, 1.0f);
      m.backward();
      adam.update(m);
      m.backend().synchronize();
    };
    for (int w = 0; w < 3; w++) step();
    if (timing) timing->reset();
    const int reps = B == 1 ? 50 : 10;
    std::vector<double> t;
    for (int r = 0; r < reps; r++) {
      const auto t0 = std::chrono::steady_clock::now();
      step();
      t.push_back(seconds_since(t0));
    }
    std::sort(t.begin(), t.end());
    const double med = t[t.size() / 2];
    const double value = train ? B * T / med : B == 1 ? med * 1e3 : B / med;
    std::printf("{\"engine\": \"ours\", \"case\": \"%s\", \"precision\": \"%s\", \"unit\": \"%s\", \"value\": %.1f, \"median_s\": %.6f}\n",
                name.c_str(), o.precision.c_str(), train ? "tokens/s" : B == 1 ? "ms" : "texts/s", value, med);
    if (timing) {
      std::vector<std::pair<double, std::string>> rows;
      double total = 0;
      for (const auto& [k, v] : timing->totals) rows.push_back({v.first / reps * 1e3, k}), total += v.first / reps * 1e3;
      std::sort(rows.rbegin(), rows.rend());
      std::printf("  profile of %s %s (ms per step, each call synchronized; total %.2f):", name.c_str(), o.precision.c_str(), total);
      for (const auto& [ms, k] : rows) std::printf(" %s %.2f;", k.c_str(), ms);
      std::printf("\n");
    }
    std::fflush(stdout);
    m.release_workspace();
  }
  return 0;
}

struct Example {
  int label;
  std::vector<int32_t> ids;
};

// TOKENS.bin: "B20TOK1\n", u32 labels, u32 max_len, u32 n_train, u32 n_val, then per example
// u32 label, u32 length, length x u16 ids (training examples first).
void read_tokens(const std::string& path, int& labels, std::vector<Example>& train, std::vector<Example>& val) {
  const std::string b = tools::read_file(path);
  if (b.size() < 24 || b.compare(0, 8, "B20TOK1\n") != 0) throw std::runtime_error(path + ": not a token file");
  size_t at = 8;
  auto u32 = [&] {
    uint32_t v;
    if (at + 4 > b.size()) throw std::runtime_error(path + ": truncated");
    std::memcpy(&v, b.data() + at, 4);
    at += 4;
    return v;
  };
  labels = (int)u32();
  u32();  // max length (every example already fits)
  const uint32_t nt = u32(), nv = u32();
  for (uint32_t i = 0; i < nt + nv; i++) {
    Example e;
    e.label = (int)u32();
    const uint32_t len = u32();
    if (at + 2 * (size_t)len > b.size()) throw std::runtime_error(path + ": truncated");
    e.ids.resize(len);
    for (uint32_t k = 0; k < len; k++) {
      uint16_t v;
      std::memcpy(&v, b.data() + at + 2 * k, 2);
      e.ids[k] = v;
    }
    at += 2 * (size_t)len;
    (i < nt ? train : val).push_back(std::move(e));
  }
}

// One padded batch of whole examples: ids and mask [B, longest].
int pad(const std::vector<Example>& set, const std::vector<int>& idx, std::vector<int32_t>& ids, std::vector<int32_t>& mask) {
  int T = 1;
  for (int i : idx) T = std::max(T, (int)set[i].ids.size());
  ids.assign(idx.size() * T, 0);
  mask.assign(idx.size() * T, 0);
  for (size_t r = 0; r < idx.size(); r++)
    for (size_t t = 0; t < set[idx[r]].ids.size(); t++) ids[r * T + t] = set[idx[r]].ids[t], mask[r * T + t] = 1;
  return T;
}

int train_card(const Options& o) {
  if (o.positional.empty()) throw std::runtime_error("train-card needs a token file (node dist/bench/export_tokens.js)");
  int labels = 0;
  std::vector<Example> train, val;
  read_tokens(o.positional[0], labels, train, val);
  if (o.max_validation > 0 && (size_t)o.max_validation < val.size()) val.resize(o.max_validation);
  const ModelConfig c = base_config(labels);
  EncoderModel m(engine::make_backend(o.device, o.precision), c);
  m.set_params(init_params(c, o.seed).data());
  const int B = o.batch, steps = o.steps_per_epoch > 0 ? o.steps_per_epoch : (int)train.size() / B;
  const int micro = o.micro_batch > 0 && o.micro_batch < B ? o.micro_batch : B;
  if ((B + micro - 1) / micro > 32) throw std::runtime_error("--micro-batch: at most 32 micro-batches a step (their dropout seeds)");
  KerasAdam adam{o.lr, 0, (double)o.epochs * steps, 1};
  std::printf("card recipe on %s: distilbert-base from scratch, %zu training / %zu validation posts, batch %d (micro-batches "
              "of %d), %d steps per epoch, Keras Adam, lr %.3g -> 0\n",
              m.backend().name().c_str(), train.size(), val.size(), B, micro, steps, o.lr);
  std::printf("| Train Loss | Train Accuracy | Validation Loss | Validation Accuracy | Epoch | train s | tokens/s |\n");
  std::printf("|---|---|---|---|---|---|---|\n");
  std::fflush(stdout);
  double train_seconds = 0;
  std::vector<int32_t> ids, mask, lab;
  std::vector<float> logits;
  for (int epoch = 0; epoch < o.epochs; epoch++) {
    std::vector<int> order(train.size());
    std::iota(order.begin(), order.end(), 0);
    std::mt19937_64 g((uint64_t)o.seed * 1000003 + epoch);
    std::shuffle(order.begin(), order.end(), g);
    double loss_sum = 0, tokens = 0;
    int correct = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (int s = 0; s < steps; s++) {
      std::vector<int> step(order.begin() + (size_t)s * B, order.begin() + (size_t)(s + 1) * B);
      if (micro < B)
        std::sort(step.begin(), step.end(), [&](int a, int b) {
          return train[a].ids.size() != train[b].ids.size() ? train[a].ids.size() < train[b].ids.size() : a < b;
        });
      for (int m0 = 0, mb = 0; m0 < B; m0 += micro, mb++) {
        const std::vector<int> idx(step.begin() + m0, step.begin() + std::min(B, m0 + micro));
        const int n = (int)idx.size(), T = pad(train, idx, ids, mask);
        lab.resize(n);
        for (int r = 0; r < n; r++) lab[r] = train[idx[r]].label;
        logits.resize((size_t)n * labels);
        ForwardOptions fo;
        fo.train = true;
        fo.seed = (uint64_t)adam.step * 32 + mb;
        m.forward(ids.data(), mask.data(), n, T, fo, logits.data());
        for (int r = 0; r < n; r++) {
          const float* z = &logits[(size_t)r * labels];
          correct += (int)(std::max_element(z, z + labels) - z) == lab[r];
        }
        loss_sum += m.loss(lab.data(), n, (float)n / B) * n / B;
        m.backward();
        tokens += (double)n * T;
      }
      adam.update(m);
    }
    m.backend().synchronize();
    const double secs = seconds_since(t0);
    train_seconds += secs;
    // Validation: batches of similar lengths, inference workspace.
    std::vector<int> vorder(val.size());
    std::iota(vorder.begin(), vorder.end(), 0);
    std::stable_sort(vorder.begin(), vorder.end(), [&](int a, int b) { return val[a].ids.size() < val[b].ids.size(); });
    double vloss = 0;
    int vcorrect = 0;
    for (size_t s = 0; s < vorder.size(); s += 128) {
      const std::vector<int> idx(vorder.begin() + s, vorder.begin() + std::min(vorder.size(), s + 128));
      const int T = pad(val, idx, ids, mask);
      logits.resize(idx.size() * labels);
      ForwardOptions fo;
      fo.grad = false;
      m.forward(ids.data(), mask.data(), (int)idx.size(), T, fo, logits.data());
      for (size_t r = 0; r < idx.size(); r++) {
        const float* z = &logits[r * labels];
        const float mx = *std::max_element(z, z + labels);
        double sum = 0;
        for (int k = 0; k < labels; k++) sum += std::exp((double)z[k] - mx);
        vloss += mx + std::log(sum) - z[val[idx[r]].label];
        vcorrect += (int)(std::max_element(z, z + labels) - z) == val[idx[r]].label;
      }
    }
    std::printf("| %.4f | %.4f | %.4f | %.4f | %d | %.1f | %.0f |\n", loss_sum / steps, (double)correct / (steps * B),
                vloss / val.size(), (double)vcorrect / val.size(), epoch, secs, tokens / secs);
    std::fflush(stdout);
  }
  std::printf("training time (%d epochs, validation excluded): %.1f s\n", o.epochs, train_seconds);
  return 0;
}

// A run interrupted after some steps and resumed in a new model from its parameters and Adam moments
// (as a checkpoint holds them) ends with exactly the parameters of the uninterrupted run: dropout
// masks are functions of (seed, position) and every reduction runs in a fixed order. A small model
// (2 layers of 128) with dropout on, batches of 8 x 64 with padding.
int resume(const Options& o) {
  ModelConfig c = base_config(20);
  c.vocab_size = 2000, c.max_positions = 64, c.dim = 128, c.n_layers = 2, c.n_heads = 4, c.hidden_dim = 256;
  const int B = 8, T = 64, steps = 6, cut = 3;
  std::mt19937_64 g(11);
  std::vector<std::vector<int32_t>> ids(steps), masks(steps), labels(steps);
  for (int s = 0; s < steps; s++) {
    for (int b = 0; b < B; b++) {
      const int len = T / 4 + (int)(g() % (T - T / 4 + 1));
      for (int t = 0; t < T; t++) {
        ids[s].push_back(t < len ? 1 + (int32_t)(g() % (c.vocab_size - 1)) : 0);
        masks[s].push_back(t < len);
      }
      labels[s].push_back((int32_t)(g() % 20));
    }
  }
  auto train = [&](EncoderModel& m, KerasAdam& adam, int from, int to) {
    for (int s = from; s < to; s++) {
      ForwardOptions fo;
      fo.train = true;
      fo.seed = (uint64_t)s * 32;
      m.forward(ids[s].data(), masks[s].data(), B, T, fo, nullptr);
      m.loss(labels[s].data(), B, 1.0f);
      m.backward();
      adam.update(m);
    }
  };
  const std::vector<float> init = init_params(c, 5);
  EncoderModel whole(engine::make_backend(o.device, o.precision), c);
  whole.set_params(init.data());
  KerasAdam uninterrupted{1e-3, 0, (double)steps, 1};
  train(whole, uninterrupted, 0, steps);
  const int64_t n = whole.param_count();
  std::vector<float> want(n), p(n), m1(n), m2(n), got(n);
  whole.get_params(want.data());
  KerasAdam interrupted{1e-3, 0, (double)steps, 1};
  {
    EncoderModel first(engine::make_backend(o.device, o.precision), c);
    first.set_params(init.data());
    train(first, interrupted, 0, cut);
    first.get_params(p.data());
    first.get_moments(m1.data(), m2.data());
  }
  EncoderModel second(engine::make_backend(o.device, o.precision), c);
  second.set_params(p.data());
  second.set_moments(m1.data(), m2.data());
  train(second, interrupted, cut, steps);
  second.get_params(got.data());
  int64_t differ = 0;
  double worst = 0;
  for (int64_t i = 0; i < n; i++)
    if (got[i] != want[i]) differ++, worst = std::max(worst, (double)std::fabs(got[i] - want[i]));
  std::printf("resume on %s: %d training steps with dropout, interrupted after %d and resumed from parameters and Adam "
              "moments: %lld of %lld parameters differ from the uninterrupted run (max abs %.3g): %s\n",
              second.backend().name().c_str(), steps, cut, (long long)differ, (long long)n, worst, differ ? "FAIL" : "PASS");
  return differ ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: engine_check golden|bench|train-card|resume ... (see the comment at the top of engine_check.cc)\n");
    return 2;
  }
  try {
    const std::string cmd = argv[1];
    const Options o = parse(argc, argv);
    if (cmd == "golden") return golden(o);
    if (cmd == "bench") return bench(o);
    if (cmd == "train-card") return train_card(o);
    if (cmd == "resume") return resume(o);
    std::fprintf(stderr, "unknown command %s\n", cmd.c_str());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "engine_check: %s\n", e.what());
    return 1;
  }
}

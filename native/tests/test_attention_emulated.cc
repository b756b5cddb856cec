// The CUDA backend's fused bf16 attention kernels (native/cuda/attention_bf16_*.cuh), run on the
// host thread by thread (cuda_emulation.h), against the double-precision reference the per-kernel
// suite uses: forward with and without what it keeps for backward, backward's dq, dk and dv, and
// the dropout bits forward keeps against the shared generator. So these kernels are checked in
// every CPU build, not only on GPU machines; there the suite runs them again on the device.
//
// Usage: test_attention_emulated. One line per check, then "N passed, N failed"; exit status 1 on
// any failure.
#include <cstdio>
#include <random>
#include <string>

#include "cuda_emulation.h"
// clang-format off (the emulation must come first)
#include "../cuda/attention_bf16_backward.cuh"
#include "../cuda/attention_bf16_forward.cuh"
#include "attention_reference.h"
// clang-format on

using reference::AttnShape;
using reference::Vec;
namespace flash = engine::flash;

namespace {

int g_passed = 0, g_failed = 0;
constexpr double kBound = 2e-2;  // the suite's bound for bf16 products

void report(const std::string& name, double err, double bound) {
  const bool ok = err <= bound && std::isfinite(err);
  (ok ? g_passed : g_failed)++;
  std::printf("%-4s %-70s err %.3g (bound %.3g)\n", ok ? "ok" : "FAIL", name.c_str(), err, bound);
}

// The dense bf16 copy [rows, D] of the first D columns of rows ld apart, as the backend rounds
// q, k, v and dctx for these kernels.
std::vector<flash::bf16> dense_bf16(const std::vector<float>& x, int rows, int ld, int D) {
  std::vector<flash::bf16> y((size_t)rows * D);
  for (int r = 0; r < rows; r++)
    for (int c = 0; c < D; c++) y[(size_t)r * D + c] = __float2bfloat16_rn(x[(size_t)r * ld + c]);
  return y;
}

std::vector<float> normal(size_t n, std::mt19937_64& g) {
  std::normal_distribution<double> d(0.0, 1.0);
  std::vector<float> v(n);
  for (float& x : v) x = (float)d(g);
  return v;
}

struct Case {
  const char* what;
  AttnShape s;
  std::vector<int> lens;
  bool backward;
};

void run(const Case& c, std::mt19937_64& g) {
  const AttnShape& s = c.s;
  const int dh = s.D / s.H;
  const int64_t rows = (int64_t)s.B * s.H * s.Tq;
  const float scale = 1.0f / std::sqrt((float)dh);
  const uint64_t seed = 777;
  const engine::Dropout d = engine::make_dropout(seed, s.p);
  const std::string name = std::string(" (") + c.what + ")";
  std::vector<int32_t> mask((size_t)s.B * s.T);
  for (int b = 0; b < s.B; b++)
    for (int t = 0; t < s.T; t++) mask[(size_t)b * s.T + t] = t < c.lens[b];
  const std::vector<float> q = normal((size_t)s.B * s.Tq * s.ldq, g), k = normal((size_t)s.B * s.T * s.ldkv, g),
                           v = normal((size_t)s.B * s.T * s.ldkv, g), dctx = normal((size_t)s.B * s.Tq * s.D, g);
  const Vec qd(q.begin(), q.end()), kd(k.begin(), k.end()), vd(v.begin(), v.end()), dctxd(dctx.begin(), dctx.end());
  const std::vector<flash::bf16> qh = dense_bf16(q, s.B * s.Tq, s.ldq, s.D), kh = dense_bf16(k, s.B * s.T, s.ldkv, s.D),
                                 vh = dense_bf16(v, s.B * s.T, s.ldkv, s.D), gh = dense_bf16(dctx, s.B * s.Tq, s.D, s.D);
  const dim3 queries{(unsigned)((s.Tq + flash::kRows - 1) / flash::kRows), (unsigned)(s.B * s.H), 1};
  const dim3 keys{(unsigned)((s.T + flash::kRows - 1) / flash::kRows), (unsigned)(s.B * s.H), 1};
  const Vec want = reference::ref_attention(s, qd, kd, vd, mask, seed);

  // Inference: nothing kept.
  std::vector<float> ctx((size_t)s.B * s.Tq * s.D, 0.0f);
  emu::launch(queries, flash::kThreads, flash::kForwardSmem, [&] {
    flash::forward_kernel(qh.data(), kh.data(), vh.data(), mask.data(), ctx.data(), s.D, flash::Kept{}, false, s.H, s.Tq,
                          s.T, scale, d);
  });
  report("forward, nothing kept" + name, reference::rel_err(ctx, want), kBound);
  if (!c.backward) return;

  std::vector<float> probs((size_t)rows * s.T, 0.0f);
  flash::Kept kept{};
  if (!flash::kept_layout(probs.data(), s.B, rows, s.T, &kept)) {
    report("kept state fits in probs" + name, INFINITY, 0);
    return;
  }
  std::fill(ctx.begin(), ctx.end(), 0.0f);
  emu::launch(queries, flash::kThreads, flash::kForwardSmem, [&] {
    flash::forward_kernel(qh.data(), kh.data(), vh.data(), mask.data(), ctx.data(), s.D, kept, true, s.H, s.Tq, s.T,
                          scale, d);
  });
  report("forward, state kept" + name, reference::rel_err(ctx, want), kBound);
  if (s.p > 0) {  // every kept bit of an unmasked key is the generator's draw
    const int words = (s.T + 31) / 32;
    long wrong = 0;
    for (int64_t row = 0; row < rows; row++) {
      const int64_t bh = row / s.Tq, i = row % s.Tq, b = bh / s.H;
      for (int j = 0; j < s.T; j++) {
        if (!mask[(size_t)b * s.T + j]) continue;
        const bool drawn = reference::keep_scale(seed, ((uint64_t)bh * s.T + i) * s.T + j, s.p) != 0;
        wrong += drawn != (((kept.bits[row * words + j / 32] >> (j % 32)) & 1u) != 0);
      }
    }
    report("forward's dropout bits match the generator" + name, (double)wrong, 0);
  }

  std::vector<float> dq(q.size(), 0.0f), dk(k.size(), 0.0f), dv(v.size(), 0.0f);
  emu::launch(dim3{(unsigned)((rows + 3) / 4), 1, 1}, 128, 0,
              [&] { flash::row_dot_kernel(dctx.data(), s.D, kept, rows, s.H, s.Tq); });
  emu::launch(keys, flash::kThreads, flash::kKeysSmem, [&] {
    flash::backward_keys_kernel(gh.data(), qh.data(), kh.data(), vh.data(), s.D, kept, dk.data(), s.ldkv, dv.data(), s.H,
                                s.Tq, s.T, scale, d);
  });
  emu::launch(queries, flash::kThreads, flash::kQueriesSmem, [&] {
    flash::backward_queries_kernel(gh.data(), qh.data(), kh.data(), vh.data(), s.D, kept, dq.data(), s.ldq, s.H, s.Tq,
                                   s.T, scale, d);
  });
  const reference::AttnGrads want_g = reference::ref_attention_backward(s, dctxd, qd, kd, vd, mask, seed);
  using reference::only_blocks;
  const int nq = s.B * s.Tq, nk = s.B * s.T;
  report("backward dq" + name, reference::rel_err(only_blocks(dq, nq, s.ldq, s.D), only_blocks(want_g.dq, nq, s.ldq, s.D)), kBound);
  report("backward dk" + name, reference::rel_err(only_blocks(dk, nk, s.ldkv, s.D), only_blocks(want_g.dk, nk, s.ldkv, s.D)), kBound);
  report("backward dv" + name, reference::rel_err(only_blocks(dv, nk, s.ldkv, s.D), only_blocks(want_g.dv, nk, s.ldkv, s.D)), kBound);
}

}  // namespace

int main() {
  std::mt19937_64 g(20261127);
  const std::vector<Case> cases = {
      // Fused q/k/v strides; 130 = two whole tiles of 64 and 2 rows; the second sequence's keys
      // from 77 on are masked (inside the second tile).
      {"130 queries and keys, 2 heads, dropout 0.1", {2, 130, 130, 128, 2, 384, 384, 0.1f}, {130, 77}, true},
      // A sequence with no key at all: uniform weights, as in transformers. 72 keys: about the
      // fewest for which the kept state fits.
      {"72 keys, one sequence fully masked, dropout 0.2", {2, 72, 72, 64, 1, 192, 192, 0.2f}, {72, 0}, true},
      {"[CLS] only, 100 keys, kv stride 2D, dropout 0.3", {1, 1, 100, 64, 1, 64, 128, 0.3f}, {100}, true},
      {"one key, inference", {2, 1, 1, 64, 1, 64, 64, 0.0f}, {1, 1}, false},
  };
  for (const Case& c : cases) run(c, g);
  std::vector<float> small((size_t)4 * 69);
  flash::Kept unused{};
  report("kept state refused where it does not fit (69 keys)",
         flash::kept_layout(small.data(), 1, 4, 69, &unused) ? 1.0 : 0.0, 0);
  std::printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed ? 1 : 0;
}

// Plain double-precision references shared by the per-kernel suite (test_backend_ops.cc) and the
// host run of the CUDA attention kernels (test_attention_emulated.cc): attention forward and
// backward with the shared dropout generator, and how results are compared.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace reference {

using Vec = std::vector<double>;

// Max abs difference over the largest reference magnitude (at least `floor`, so that near-zero
// outputs are compared absolutely).
inline double rel_err(const std::vector<float>& got, const Vec& want, double floor = 1e-3) {
  if (got.size() != want.size()) return INFINITY;
  double mx = floor, e = 0;
  for (double w : want) mx = std::max(mx, std::fabs(w));
  for (size_t i = 0; i < got.size(); i++) e = std::max(e, std::fabs(got[i] - want[i]));
  return e / mx;
}

// The dropout multiplier of element i of a stream, from the generator's definition (../rng.h's
// comment), written here on its own: splitmix64's output g + 1 from state mix64(seed) for group
// g = i / 4, its 16-bit lane i % 4 against round(p * 2^16), kept elements scaled by 1 / (1 - that / 2^16).
inline uint64_t splitmix64_finalizer(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
inline double keep_scale(uint64_t seed, uint64_t i, float p) {
  const double threshold = std::floor((double)p * 65536.0 + 0.5);
  const uint64_t draw = splitmix64_finalizer(splitmix64_finalizer(seed) + (i / 4 + 1) * 0x9e3779b97f4a7c15ULL);
  const double lane = (double)((draw >> (16 * (i % 4))) & 0xffff);
  return lane < threshold ? 0.0 : 65536.0 / (65536.0 - threshold);
}

struct AttnShape {
  int B, Tq, T, D, H, ldq, ldkv;
  float p;
};

// Attention in double. q [B*Tq rows, ldq], k/v [B*T rows, ldkv] (column blocks), ctx [B*Tq, D].
// Also returns the softmax weights before dropout (probs).
inline Vec ref_attention(const AttnShape& s, const Vec& q, const Vec& k, const Vec& v, const std::vector<int32_t>& mask,
                  uint64_t seed, Vec* probs_out = nullptr) {
  const int dh = s.D / s.H;
  const double scale = 1 / std::sqrt((double)dh);
  Vec ctx((size_t)s.B * s.Tq * s.D, 0.0);
  if (probs_out) probs_out->assign((size_t)s.B * s.H * s.Tq * s.T, 0.0);
  for (int b = 0; b < s.B; b++)
    for (int h = 0; h < s.H; h++)
      for (int i = 0; i < s.Tq; i++) {
        Vec sc(s.T);
        bool any = false;
        for (int j = 0; j < s.T; j++) any |= mask[(size_t)b * s.T + j] != 0;
        double mx = -INFINITY;
        for (int j = 0; j < s.T; j++) {
          double d = 0;
          for (int c = 0; c < dh; c++)
            d += q[((size_t)b * s.Tq + i) * s.ldq + h * dh + c] * k[((size_t)b * s.T + j) * s.ldkv + h * dh + c];
          sc[j] = d * scale;
          if (mask[(size_t)b * s.T + j]) mx = std::max(mx, sc[j]);
        }
        double sum = 0;
        for (int j = 0; j < s.T; j++) {
          // A fully masked row becomes uniform, as HF's masked_fill(finfo.min) + softmax does.
          sc[j] = !any ? 1.0 : mask[(size_t)b * s.T + j] ? std::exp(sc[j] - mx) : 0.0;
          sum += sc[j];
        }
        for (int j = 0; j < s.T; j++) {
          const double pr = sc[j] / sum;
          if (probs_out) (*probs_out)[(((size_t)b * s.H + h) * s.Tq + i) * s.T + j] = pr;
          const double a = s.p > 0 ? pr * keep_scale(seed, (((uint64_t)b * s.H + h) * s.T + i) * s.T + j, s.p) : pr;
          for (int c = 0; c < dh; c++)
            ctx[((size_t)b * s.Tq + i) * s.D + h * dh + c] += a * v[((size_t)b * s.T + j) * s.ldkv + h * dh + c];
        }
      }
  return ctx;
}

struct AttnGrads { Vec dq, dk, dv; };
inline AttnGrads ref_attention_backward(const AttnShape& s, const Vec& dctx, const Vec& q, const Vec& k, const Vec& v,
                                 const std::vector<int32_t>& mask, uint64_t seed) {
  const int dh = s.D / s.H;
  const double scale = 1 / std::sqrt((double)dh);
  Vec probs;
  ref_attention(s, q, k, v, mask, seed, &probs);
  AttnGrads g{Vec(q.size(), 0.0), Vec(k.size(), 0.0), Vec(v.size(), 0.0)};
  for (int b = 0; b < s.B; b++)
    for (int h = 0; h < s.H; h++)
      for (int i = 0; i < s.Tq; i++) {
        Vec dA(s.T), pr(s.T);
        for (int j = 0; j < s.T; j++) {
          pr[j] = probs[(((size_t)b * s.H + h) * s.Tq + i) * s.T + j];
          const double ks = s.p > 0 ? keep_scale(seed, (((uint64_t)b * s.H + h) * s.T + i) * s.T + j, s.p) : 1.0;
          double d = 0;
          for (int c = 0; c < dh; c++) {
            const double dc = dctx[((size_t)b * s.Tq + i) * s.D + h * dh + c];
            d += dc * v[((size_t)b * s.T + j) * s.ldkv + h * dh + c];
            g.dv[((size_t)b * s.T + j) * s.ldkv + h * dh + c] += pr[j] * ks * dc;
          }
          dA[j] = d * ks;
        }
        double dotp = 0;
        for (int j = 0; j < s.T; j++) dotp += dA[j] * pr[j];
        for (int j = 0; j < s.T; j++) {
          const double dS = pr[j] * (dA[j] - dotp) * scale;
          for (int c = 0; c < dh; c++) {
            g.dq[((size_t)b * s.Tq + i) * s.ldq + h * dh + c] += dS * k[((size_t)b * s.T + j) * s.ldkv + h * dh + c];
            g.dk[((size_t)b * s.T + j) * s.ldkv + h * dh + c] += dS * q[((size_t)b * s.Tq + i) * s.ldq + h * dh + c];
          }
        }
      }
  return g;
}

// Zeroes the columns of a strided buffer that are not one of the q/k/v blocks (so that both
// sides compare only what the kernel writes).
inline Vec only_blocks(const Vec& x, int rows, int ld, int width) {
  Vec y(x.size(), 0.0);
  for (int r = 0; r < rows; r++)
    for (int c = 0; c < width; c++) y[(size_t)r * ld + c] = x[(size_t)r * ld + c];
  return y;
}
inline std::vector<float> only_blocks(const std::vector<float>& x, int rows, int ld, int width) {
  std::vector<float> y(x.size(), 0.0f);
  for (int r = 0; r < rows; r++)
    for (int c = 0; c < width; c++) y[(size_t)r * ld + c] = x[(size_t)r * ld + c];
  return y;
}

}  // namespace reference

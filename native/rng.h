// Counter-based random numbers for dropout: the keep decision for element i of stream `seed`
// is a pure function of (seed, i), so backward regenerates the forward mask without storing it,
// any thread can draw any element, and a resumed run draws the same masks.
// Shared by every backend (the CUDA kernels include it too), so that all draw the same masks.
//
// The stream is splitmix64's: draw g is mix64(mix64(seed) + (g + 1) * golden gamma), one finalizer.
// Each draw decides four elements: element i reads 16-bit lane i % 4 of draw i / 4 (bits 16 (i % 4)
// up), and is dropped when that number is below threshold = round(p * 2^16). The probability applied
// is therefore threshold / 2^16 (within 2^-17 of p), and kept elements are scaled by the inverse of
// its complement, so that the expectation is exact.
#pragma once
#include <cstdint>

#ifdef __CUDACC__
#define ENGINE_HD __host__ __device__
#else
#define ENGINE_HD
#endif

namespace engine {

ENGINE_HD inline uint64_t mix64(uint64_t x) {  // splitmix64 finalizer
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

// One dropout stream: where it starts, which numbers drop, and the scale of what is kept.
struct Dropout {
  uint64_t key;        // mix64(seed)
  uint32_t threshold;  // a lane below this drops its element; 0: nothing dropped
  float inv_keep;      // 2^16 / (2^16 - threshold)
};

constexpr int kDropoutLanes = 4;  // decisions per draw

ENGINE_HD inline Dropout make_dropout(uint64_t seed, float p) {
  const float t = p <= 0.0f ? 0.0f : p >= 1.0f ? 65536.0f : p * 65536.0f + 0.5f;
  const uint32_t threshold = (uint32_t)t;
  return {mix64(seed), threshold, threshold >= 65536u ? 0.0f : 65536.0f / (float)(65536u - threshold)};
}

// The probability a stream applies (what p became at 16 bits).
ENGINE_HD inline double effective_p(const Dropout& d) { return d.threshold / 65536.0; }

ENGINE_HD inline uint64_t dropout_draw(const Dropout& d, uint64_t group) {
  return mix64(d.key + (group + 1) * 0x9e3779b97f4a7c15ULL);
}

// Element i's decision from the draw of its group (i / 4).
ENGINE_HD inline bool dropped_by(uint64_t draw, uint64_t i, uint32_t threshold) {
  return (uint32_t)((draw >> (16 * (i % kDropoutLanes))) & 0xffffu) < threshold;
}

ENGINE_HD inline bool dropped(const Dropout& d, uint64_t i) {
  return dropped_by(dropout_draw(d, i / kDropoutLanes), i, d.threshold);
}

ENGINE_HD inline float dropout_scale(const Dropout& d, uint64_t i) { return dropped(d, i) ? 0.0f : d.inv_keep; }

}  // namespace engine

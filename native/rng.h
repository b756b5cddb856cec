// Counter-based random numbers for dropout: the keep decision for element i of stream `seed`
// is a pure function of (seed, i), so backward regenerates the forward mask without storing it,
// any thread can draw any element, and a resumed run draws the same masks.
// Shared by every backend (the CUDA kernels include it too), so that all draw the same masks.
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

// Uniform in [0, 1) with 24 bits, the resolution of a float.
ENGINE_HD inline float uniform01(uint64_t seed, uint64_t i) {
  // Through int32 (exact below 2^24), which vectorizes where an unsigned 64-bit conversion does not.
  return (float)(int32_t)(mix64(seed ^ mix64(i + 0x9e3779b97f4a7c15ULL)) >> 40) * (1.0f / 16777216.0f);
}

ENGINE_HD inline float dropout_scale(uint64_t seed, uint64_t i, float p, float inv_keep) {
  return uniform01(seed, i) < p ? 0.0f : inv_keep;
}

}  // namespace engine

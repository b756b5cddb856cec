// Dropout's numbers for a run of consecutive elements, as the CPU kernels read them: the stream's
// draws (../rng.h) for the run's groups of four into a buffer, read back as the 16-bit numbers they
// are made of (lane l of a draw is its bits 16 l up: on a little-endian machine, the l-th uint16_t
// of it in memory). Both loops vectorize, and each draw is made once for four elements.
#pragma once
#include <algorithm>
#include <cstdint>

#include "../rng.h"

namespace engine {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "dropout lanes are read as the draws' uint16_t parts");

// A 16-bit number read out of the draws' memory (may alias their uint64_t).
using dropout_lane = uint16_t __attribute__((may_alias));

// Calls f(c0, c1, u) over chunks [c0, c1) of [0, n), where u (const dropout_lane*) holds at u[c - c0]
// the 16-bit number of element base + c (dropped when below the stream's threshold).
template <typename F>
inline void for_dropout_numbers(const Dropout& d, uint64_t base, int64_t n, F f) {
  constexpr int64_t kChunk = 2048;
  alignas(64) uint64_t draws[kChunk / kDropoutLanes + 2];
  const Dropout stream = d;  // a local copy: the loop below vectorizes on plain values
  for (int64_t c0 = 0; c0 < n; c0 += kChunk) {
    const int64_t c1 = std::min(n, c0 + kChunk);
    const uint64_t first = (base + c0) / kDropoutLanes;
    const int64_t groups = (int64_t)((base + c1 - 1) / kDropoutLanes - first) + 1;
#pragma omp simd
    for (int64_t g = 0; g < groups; g++) draws[g] = dropout_draw(stream, first + g);
    f(c0, c1, reinterpret_cast<const dropout_lane*>(draws) + (base + c0) % kDropoutLanes);
  }
}

}  // namespace engine

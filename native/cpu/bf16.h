// float <-> bfloat16 bits, by rounding to nearest even (NaN stays NaN): the CPU backend's bf16
// operands (matmul.cc, attention.cc) and the FFN's kept activations. GCC vectorizes loops of both.
#pragma once
#include <cstdint>
#include <cstring>

namespace engine {

inline uint16_t to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
  return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

inline float from_bf16(uint16_t b) {
  const uint32_t u = (uint32_t)b << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

}  // namespace engine

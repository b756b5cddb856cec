// Branch-free exp and erf that GCC vectorizes (AVX2 / AVX-512) inside plain loops, where the
// libm calls they replace run one element at a time; and the same exp on 16 lanes of AVX-512.
// exp: Cephes' polynomial after a Cody-Waite reduction, within 2 ulp over the float range, and
// exactly 0 below -87.3 as libm underflows. erf: Abramowitz & Stegun 7.1.26, 1.5e-7 absolute in
// exact arithmetic, 5.1e-7 measured in float (GELU adds it to 1, where a float step is 6e-8).
#pragma once
#include <cmath>
#include <cstdint>
#if defined(__AVX512F__)
// GCC 12 warns of its own intrinsics' deliberately undefined lanes (GCC bug 105593) where they inline.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#endif

namespace engine {

inline float fast_exp(float x) {
  const float xc = x < -87.3f ? -87.3f : (x > 88.7f ? 88.7f : x);
  // Round to nearest by adding and removing 1.5 * 2^23 (std::floor would block vectorization).
  const float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  const float r = (xc - n * 0.693359375f) - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const float scale = __builtin_bit_cast(float, ((int32_t)n + 127) << 23);  // 2^n
  return x < -87.3f ? 0.0f : p * scale;
}

#if defined(__AVX512F__)
// The first n of 16 lanes (all of them from 16 on): a row's last, partial vector.
inline __mmask16 lanes16(int n) { return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1); }

// fast_exp on 16 lanes, for loops that GCC does not vectorize well (attention's softmax rows, whose
// reductions it ends one lane at a time): the same reduction and polynomial, 2^n by vscalefps.
inline __m512 fast_exp16(__m512 x) {
  const __m512 xc = _mm512_min_ps(_mm512_set1_ps(88.7f), _mm512_max_ps(_mm512_set1_ps(-87.3f), x));  // NaN stays NaN
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(xc, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), xc);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_add_ps(_mm512_fmadd_ps(_mm512_mul_ps(p, r), r, r), _mm512_set1_ps(1.0f));
  return _mm512_maskz_scalef_ps(_mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.3f), _CMP_NLT_UQ), p, n);
}
#endif

// erf(x) given e = exp(-x^2), which a caller may have at hand.
inline float erf_given_exp(float x, float e) {
  const float ax = std::fabs(x);
  const float t = 1.0f / (1.0f + 0.3275911f * ax);
  float y = 1.061405429f;
  y = y * t - 1.453152027f;
  y = y * t + 1.421413741f;
  y = y * t - 0.284496736f;
  y = y * t + 0.254829592f;
  const float r = 1.0f - y * t * e;
  return x < 0 ? -r : r;
}

inline float fast_erf(float x) { return erf_given_exp(x, fast_exp(-x * x)); }

}  // namespace engine

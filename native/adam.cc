#include <cmath>

#include "kernels.h"

namespace engine {

void adam_update(float* p, const float* g, float* m, float* v, int64_t n, float alpha, float b1, float b2, float eps) {
  const float c1 = 1.0f - b1, c2 = 1.0f - b2;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; i++) {
    m[i] += (g[i] - m[i]) * c1;
    v[i] += (g[i] * g[i] - v[i]) * c2;
    p[i] -= alpha * m[i] / (std::sqrt(v[i]) + eps);
  }
}

void adam_update_rows(float* p, const float* g, float* m, float* v, const int32_t* rows, int64_t nrows, int64_t row_len,
                      float alpha, float b1, float b2, float eps) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < nrows; r++) {
    const int64_t o = (int64_t)rows[r] * row_len;
    adam_update(p + o, g + o, m + o, v + o, row_len, alpha, b1, b2, eps);
  }
}

void zero_rows(float* x, const int32_t* rows, int64_t nrows, int64_t row_len) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < nrows; r++) {
    float* row = x + (int64_t)rows[r] * row_len;
    for (int64_t i = 0; i < row_len; i++) row[i] = 0.0f;
  }
}

}  // namespace engine

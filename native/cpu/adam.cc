#include <cmath>

#include "kernels.h"
#include "parallel.h"

namespace engine {

namespace {

void adam_range(float* p, const float* g, float* m, float* v, int64_t lo, int64_t hi, float alpha, float c1, float c2, float eps) {
  for (int64_t i = lo; i < hi; i++) {
    m[i] += (g[i] - m[i]) * c1;
    v[i] += (g[i] * g[i] - v[i]) * c2;
    p[i] -= alpha * m[i] / (std::sqrt(v[i]) + eps);
  }
}

}  // namespace

void adam_update(float* p, const float* g, float* m, float* v, int64_t n, float alpha, float b1, float b2, float eps) {
  parallel_ranges(n, [=](int64_t lo, int64_t hi) { adam_range(p, g, m, v, lo, hi, alpha, 1.0f - b1, 1.0f - b2, eps); });
}

void adam_update_rows(float* p, const float* g, float* m, float* v, const int32_t* rows, int64_t nrows, int64_t row_len,
                      float alpha, float b1, float b2, float eps) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < nrows; r++) {
    const int64_t o = (int64_t)rows[r] * row_len;
    adam_range(p, g, m, v, o, o + row_len, alpha, 1.0f - b1, 1.0f - b2, eps);
  }
}

void zero_rows(float* x, const int32_t* rows, int64_t nrows, int64_t row_len) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < nrows; r++) {
    float* row = x + (int64_t)rows[r] * row_len;
    for (int64_t i = 0; i < row_len; i++) row[i] = 0.0f;
  }
}

void adamw_update(float* p, const float* g, float* m, float* v, int64_t n, float lr, float wd, float b1, float b2,
                  float eps, float bc1, float bc2_sqrt) {
  const float decay = 1.0f - lr * wd, step = lr / bc1, c1 = 1.0f - b1, c2 = 1.0f - b2;
  parallel_ranges(n, [=](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; i++) {
      p[i] *= decay;  // torch applies the decay first, to the weight before this step's update
      m[i] += (g[i] - m[i]) * c1;
      v[i] = v[i] * b2 + g[i] * g[i] * c2;
      p[i] -= step * m[i] / (std::sqrt(v[i]) / bc2_sqrt + eps);
    }
  });
}

}  // namespace engine

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

}  // namespace engine

#include "kernels.h"

namespace engine {

void embedding_forward(const int32_t* ids, const float* word, const float* pos, float* out, int B, int T, int D) {
#pragma omp parallel for collapse(2) schedule(static)
  for (int b = 0; b < B; b++)
    for (int t = 0; t < T; t++) {
      const int64_t row = (int64_t)b * T + t;
      const float* w = word + (int64_t)ids[row] * D;
      const float* p = pos + (int64_t)t * D;
      float* o = out + row * D;
      for (int d = 0; d < D; d++) o[d] = w[d] + p[d];
    }
}

void embedding_backward(const int32_t* ids, const float* dout, float* dword, float* dpos, int B, int T, int D) {
  // Parallel over embedding columns: each thread owns whole columns, and tokens are added in
  // order, so repeated ids accumulate without races and in a fixed order.
  const int block = 16;
#pragma omp parallel for schedule(static)
  for (int d0 = 0; d0 < D; d0 += block) {
    const int d1 = d0 + block < D ? d0 + block : D;
    for (int b = 0; b < B; b++)
      for (int t = 0; t < T; t++) {
        const int64_t row = (int64_t)b * T + t;
        const float* g = dout + row * D;
        float* w = dword + (int64_t)ids[row] * D;
        for (int d = d0; d < d1; d++) w[d] += g[d];
        if (dpos) {
          float* p = dpos + (int64_t)t * D;
          for (int d = d0; d < d1; d++) p[d] += g[d];
        }
      }
  }
}

}  // namespace engine

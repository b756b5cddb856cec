#include <cmath>

#include "kernels.h"

namespace engine {

void cross_entropy(const float* logits, const int32_t* labels, float* losses, float* dlogits, int B, int C,
                   float grad_scale) {
  // Rows are independent: threads over rows give the same numbers (the masked-LM head's rows are 30k wide).
#pragma omp parallel for schedule(static)
  for (int b = 0; b < B; b++) {
    const float* z = logits + (int64_t)b * C;
    float mx = z[0];
    for (int c = 1; c < C; c++) mx = z[c] > mx ? z[c] : mx;
    double s = 0;
    for (int c = 0; c < C; c++) s += std::exp((double)z[c] - mx);
    const double lse = mx + std::log(s);
    losses[b] = (float)(lse - z[labels[b]]);
    if (dlogits) {
      float* g = dlogits + (int64_t)b * C;
      for (int c = 0; c < C; c++) {
        g[c] = (float)((std::exp((double)z[c] - lse) - (c == labels[b] ? 1.0 : 0.0)) / B);
        if (grad_scale != 1.0f) g[c] *= grad_scale;
      }
    }
  }
}

}  // namespace engine

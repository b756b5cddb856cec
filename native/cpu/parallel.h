// Splits [0, n) into one contiguous range per OpenMP thread and runs body(lo, hi) on each.
// The body's loop sees plain local pointers, which GCC vectorizes; inside `omp parallel for`
// it reloads them from the shared-data block on every iteration and does not.
#pragma once
#include <omp.h>

#include <cstdint>

#include "aligned.h"

namespace engine {

template <typename Body>
void parallel_ranges(int64_t n, Body body) {
#pragma omp parallel
  {
    const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    body(n * t / nt, n * (t + 1) / nt);
  }
}

// parallel_ranges over rows for body(lo, hi, sums), where each thread adds its rows' column sums
// into sums of its own (cols floats, zeroed); these are then added to colsum in thread order, so
// that a run gives the same sums every time.
template <typename Body>
void parallel_rows_summed(int64_t rows, int64_t cols, float* colsum, Body body) {
  static thread_local AlignedVector<float> partial;
  const int threads = omp_get_max_threads();
  partial.assign((size_t)(threads * cols), 0.0f);
  float* sums = partial.data();
  parallel_ranges(rows, [=](int64_t lo, int64_t hi) { body(lo, hi, sums + omp_get_thread_num() * cols); });
  for (int t = 0; t < threads; t++)
    for (int64_t c = 0; c < cols; c++) colsum[c] += sums[t * cols + c];
}

}  // namespace engine

// Splits [0, n) into one contiguous range per OpenMP thread and runs body(lo, hi) on each.
// The body's loop sees plain local pointers, which GCC vectorizes; inside `omp parallel for`
// it reloads them from the shared-data block on every iteration and does not.
#pragma once
#include <omp.h>

#include <cstdint>

namespace engine {

template <typename Body>
void parallel_ranges(int64_t n, Body body) {
#pragma omp parallel
  {
    const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    body(n * t / nt, n * (t + 1) / nt);
  }
}

}  // namespace engine

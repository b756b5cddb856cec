// The CPU backend's memory: buffers and scratch vectors on 64-byte boundaries (malloc's 16-byte
// alignment put matrix operands across cache lines: oneDNN's AMX bf16 products ran 15-20% slower
// on them), large ones in huge pages.
#pragma once
#include <sys/mman.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

namespace engine {

constexpr size_t kHugePage = size_t(2) << 20;

// The blocks of 2 MiB or more that alloc_aligned mapped, by address: their lengths, for munmap.
// Never destroyed: static buffers (the weights' copies, thread scratch) are freed at exit after
// any static made later than they were would be gone.
inline std::mutex& large_blocks_mutex() {
  static std::mutex* m = new std::mutex;
  return *m;
}
inline std::unordered_map<void*, size_t>& large_blocks() {
  static auto* blocks = new std::unordered_map<void*, size_t>;
  return *blocks;
}

// Asks the kernel to back the whole 2 MiB pages inside [p, p + bytes) with transparent huge pages
// from their first touch (pages touched before keep their size). Advice only: where refused, the
// pages stay small.
inline void advise_huge_pages(void* p, size_t bytes) {
  const uintptr_t lo = (reinterpret_cast<uintptr_t>(p) + kHugePage - 1) / kHugePage * kHugePage;
  const uintptr_t hi = (reinterpret_cast<uintptr_t>(p) + bytes) / kHugePage * kHugePage;
  if (hi > lo) madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_HUGEPAGE);
}

// bytes of memory on a 64-byte boundary, freed with free_aligned. From 2 MiB on (weights, their
// gradients and moments, activations, packed copies), fresh zero pages of their own mapping, on a
// 2 MiB boundary, in transparent huge pages (Linux backs only the regions that ask, under the
// "madvise" setting distributions ship). A training step sweeps hundreds of MB, and with 4 KiB
// pages every few KB of it missed the TLB. (malloc's blocks would not do: a block reused from its
// heap keeps the small pages it was touched in.)
//
// Consecutive large blocks lie in different 2 MiB pages modulo 32 MiB (16 in turn), so that
// buffers read side by side (Adam's parameters, gradients and moments) never lie a multiple of a
// large power of two apart: measured on a 2-core Zen 4, Adam over distilbert-base's 43.5 million
// dense parameters took 82-127 ms with its four buffers 256 MiB apart (as mmap placed blocks of
// 267 MB), 21-31 ms with them 258 MiB apart.
inline void* alloc_aligned(size_t bytes) {
  if (bytes < kHugePage) {
    void* p = std::aligned_alloc(64, bytes == 0 ? 64 : (bytes + 63) / 64 * 64);
    if (!p) throw std::bad_alloc();
    return p;
  }
  constexpr size_t kColors = 16;
  static std::atomic<size_t> blocks{0};
  const size_t color = blocks++ % kColors;
  // Whole 4 KiB pages: the kernel backs the 2 MiB pages the block covers with huge ones, its tail
  // with small ones (rounding every block up to 2 MiB held 45 MB more in a bf16 train_8x512 step).
  // The mapping has room for the block at any 2 MiB page of 16; what is not the block is unmapped.
  const size_t n = (bytes + 4095) / 4096 * 4096, mapped = n + kColors * kHugePage;
  void* raw = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  const uintptr_t r = reinterpret_cast<uintptr_t>(raw), first = (r + kHugePage - 1) / kHugePage * kHugePage;
  const uintptr_t a = first + (color - first / kHugePage) % kColors * kHugePage;
  if (a > r) munmap(raw, a - r);
  munmap(reinterpret_cast<void*>(a + n), r + mapped - (a + n));  // what is left past the block (r is page-aligned)
  void* p = reinterpret_cast<void*>(a);
  advise_huge_pages(p, n);
  std::lock_guard<std::mutex> lock(large_blocks_mutex());
  large_blocks()[p] = n;
  return p;
}

// Memory from alloc_aligned (null: nothing).
inline void free_aligned(void* p) {
  if (!p) return;
  {
    std::lock_guard<std::mutex> lock(large_blocks_mutex());
    const auto it = large_blocks().find(p);
    if (it != large_blocks().end()) {
      munmap(p, it->second);
      large_blocks().erase(it);
      return;
    }
  }
  std::free(p);
}

template <typename T>
struct CacheAligned {
  using value_type = T;
  CacheAligned() = default;
  template <typename U>
  CacheAligned(const CacheAligned<U>&) {}
  T* allocate(size_t n) { return static_cast<T*>(alloc_aligned(n * sizeof(T))); }
  void deallocate(T* p, size_t) { free_aligned(p); }
  template <typename U>
  bool operator==(const CacheAligned<U>&) const { return true; }
  template <typename U>
  bool operator!=(const CacheAligned<U>&) const { return false; }
};

template <typename T>
using AlignedVector = std::vector<T, CacheAligned<T>>;

}  // namespace engine

// Just enough of CUDA to run kernels written for blocks and warps on the host, one std::thread
// per CUDA thread, so that the CPU build's tests check GPU kernel code on machines without a GPU
// (native/cuda/attention_bf16.cuh). Barriers are real (__syncthreads, __syncwarp, shuffles), so a
// missing synchronization shows up as a race; WMMA fragments hold whole 16 x 16 tiles in every
// lane (products in fp32, as tensor cores accumulate bf16 products), and only lane 0 stores them,
// so that a lane that reads another's result without __syncwarp reads stale data. Blocks run one
// after another. Speed is not the point: small shapes only.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

#include <math.h>  // expf and fmaxf in the global namespace, as CUDA has them

#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(...)

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
};
struct alignas(16) uint4 {
  unsigned x, y, z, w;
};
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return uint4{x, y, z, w}; }

namespace emu {

class Barrier {  // a reusable barrier for n threads
 public:
  explicit Barrier(int n) : n_(n) {}
  void wait() {
    std::unique_lock<std::mutex> lock(mu_);
    const long gen = gen_;
    if (++waiting_ == n_) {
      waiting_ = 0, gen_++;
      cv_.notify_all();
    } else {
      cv_.wait(lock, [&] { return gen_ != gen; });
    }
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int n_, waiting_ = 0;
  long gen_ = 0;
};

struct Block {
  std::vector<unsigned char> smem;
  std::unique_ptr<Barrier> all;
  std::vector<std::unique_ptr<Barrier>> warps;
  std::vector<uint32_t> exchange;  // one word per thread, for shuffles
};

inline thread_local dim3 thread_idx, block_idx;
inline thread_local Block* block = nullptr;
inline dim3 block_dim, grid_dim;

// Runs kernel() (a call of the kernel with its arguments) on grid x threads, smem bytes of
// dynamic shared memory a block.
inline void launch(dim3 grid, unsigned threads, size_t smem, const std::function<void()>& kernel) {
  grid_dim = grid;
  block_dim = dim3{threads, 1, 1};
  for (unsigned by = 0; by < grid.y; by++)
    for (unsigned bx = 0; bx < grid.x; bx++) {
      Block blk;
      blk.smem.assign(smem, 0xAB);  // not zero: kernels must not rely on fresh shared memory
      blk.all = std::make_unique<Barrier>((int)threads);
      for (unsigned w = 0; w < (threads + 31) / 32; w++)
        blk.warps.push_back(std::make_unique<Barrier>((int)std::min(32u, threads - 32 * w)));
      blk.exchange.assign(threads, 0);
      std::vector<std::thread> pool;
      for (unsigned t = 0; t < threads; t++)
        pool.emplace_back([&, t] {
          thread_idx = dim3{t, 0, 0};
          block_idx = dim3{bx, by, 0};
          block = &blk;
          kernel();
        });
      for (auto& th : pool) th.join();
    }
}

template <class T>
T shfl_xor(T v, int lane_mask) {
  static_assert(sizeof(T) == 4, "32-bit values");
  const unsigned t = thread_idx.x, base = t & ~31u;
  uint32_t bits;
  std::memcpy(&bits, &v, 4);
  block->exchange[t] = bits;
  block->warps[t / 32]->wait();
  bits = block->exchange[base + ((t - base) ^ (unsigned)lane_mask)];
  block->warps[t / 32]->wait();
  std::memcpy(&v, &bits, 4);
  return v;
}

inline bool lane0() { return (thread_idx.x & 31) == 0; }

}  // namespace emu

#define threadIdx (emu::thread_idx)
#define blockIdx (emu::block_idx)
#define blockDim (emu::block_dim)
#define gridDim (emu::grid_dim)
#define FLASH_SHARED_MEMORY unsigned char* flash_smem = emu::block->smem.data()
inline void __syncthreads() { emu::block->all->wait(); }
inline void __syncwarp() { emu::block->warps[emu::thread_idx.x / 32]->wait(); }
template <class T>
T __shfl_xor_sync(unsigned, T v, int lane_mask) {
  return emu::shfl_xor(v, lane_mask);
}

// bf16 as CUDA rounds it (round to nearest even; no NaNs here).
struct __nv_bfloat16 {
  uint16_t bits;
};
inline __nv_bfloat16 __float2bfloat16_rn(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  u += 0x7fffu + ((u >> 16) & 1u);
  return __nv_bfloat16{(uint16_t)(u >> 16)};
}
inline float __bfloat162float(__nv_bfloat16 h) {
  const uint32_t u = (uint32_t)h.bits << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

namespace nvcuda {
namespace wmma {
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

// Element (row, col) of the logical 16 x 16 matrix at x[row * 16 + col], in every lane.
template <class Use, int M, int N, int K, class T, class Layout = void>
struct fragment {
  float x[256];
};

inline float value(float f) { return f; }
inline float value(__nv_bfloat16 h) { return __bfloat162float(h); }

template <class Use, class T, class Layout>
void load_matrix_sync(fragment<Use, 16, 16, 16, T, Layout>& f, const T* p, unsigned ldm) {
  for (int r = 0; r < 16; r++)
    for (int c = 0; c < 16; c++)
      f.x[r * 16 + c] = value(std::is_same<Layout, col_major>::value ? p[c * ldm + r] : p[r * ldm + c]);
}
template <class Use, class T, class Layout>
void fill_fragment(fragment<Use, 16, 16, 16, T, Layout>& f, float v) {
  for (float& e : f.x) e = v;
}
template <class TA, class LA, class TB, class LB>
void mma_sync(fragment<accumulator, 16, 16, 16, float>& d, const fragment<matrix_a, 16, 16, 16, TA, LA>& a,
              const fragment<matrix_b, 16, 16, 16, TB, LB>& b, const fragment<accumulator, 16, 16, 16, float>& c) {
  float out[256];
  for (int r = 0; r < 16; r++)
    for (int n = 0; n < 16; n++) {
      float s = c.x[r * 16 + n];
      for (int k = 0; k < 16; k++) s += a.x[r * 16 + k] * b.x[k * 16 + n];
      out[r * 16 + n] = s;
    }
  std::memcpy(d.x, out, sizeof(out));
}
inline void store_matrix_sync(float* p, const fragment<accumulator, 16, 16, 16, float>& f, unsigned ldm, layout_t l) {
  if (!emu::lane0()) return;
  for (int r = 0; r < 16; r++)
    for (int c = 0; c < 16; c++) (l == mem_row_major ? p[r * ldm + c] : p[c * ldm + r]) = f.x[r * 16 + c];
}
}  // namespace wmma
}  // namespace nvcuda

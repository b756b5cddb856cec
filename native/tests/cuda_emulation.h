// Just enough of CUDA to run kernels written for blocks and warps on the host, one std::thread
// per CUDA thread, so that the CPU build's tests check GPU kernel code on machines without a GPU
// (native/cuda/attention_bf16_*.cuh). Barriers are real (__syncthreads, and the warp's inside
// shuffles and mma.sync), so a missing synchronization shows up as a race. mma.sync gathers the
// warp's fragments, in the PTX ISA's layouts, and multiplies in fp32 (bf16 products are exact in
// fp32, as in the tensor cores).
// Blocks run one after another. Speed is not the point: small shapes only.
#pragma once
#include <atomic>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <thread>
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

class Barrier {  // a reusable barrier for n threads (spins, yielding: waits are short and many)
 public:
  explicit Barrier(int n) : n_(n) {}
  void wait() {
    const long gen = gen_.load(std::memory_order_acquire);
    if (waiting_.fetch_add(1, std::memory_order_acq_rel) + 1 == n_) {
      waiting_.store(0, std::memory_order_relaxed);
      gen_.fetch_add(1, std::memory_order_acq_rel);
    } else {
      while (gen_.load(std::memory_order_acquire) == gen) std::this_thread::yield();
    }
  }

 private:
  const int n_;
  std::atomic<int> waiting_{0};
  std::atomic<long> gen_{0};
};

struct Block {
  std::vector<unsigned char> smem;
  std::unique_ptr<Barrier> all;
  std::vector<std::unique_ptr<Barrier>> warps;
  std::vector<uint32_t> exchange;    // one word per thread, for shuffles
  std::vector<uint32_t> mma_stage;   // six words per thread: its mma fragments
};

inline thread_local dim3 thread_idx, block_idx;
inline thread_local Block* block = nullptr;
inline dim3 block_dim;

// Runs kernel() (a call of the kernel with its arguments) on grid x threads, smem bytes of
// dynamic shared memory a block.
inline void launch(dim3 grid, unsigned threads, size_t smem, const std::function<void()>& kernel) {
  block_dim = dim3{threads, 1, 1};
  for (unsigned by = 0; by < grid.y; by++)
    for (unsigned bx = 0; bx < grid.x; bx++) {
      Block blk;
      blk.smem.assign(smem, 0xAB);  // not zero: kernels must not rely on fresh shared memory
      blk.all = std::make_unique<Barrier>((int)threads);
      for (unsigned w = 0; w < (threads + 31) / 32; w++)
        blk.warps.push_back(std::make_unique<Barrier>((int)std::min(32u, threads - 32 * w)));
      blk.exchange.assign(threads, 0);
      blk.mma_stage.assign(6 * (size_t)threads, 0);
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

}  // namespace emu

#define threadIdx (emu::thread_idx)
#define blockIdx (emu::block_idx)
#define blockDim (emu::block_dim)
#define FLASH_SHARED_MEMORY unsigned char* flash_smem = emu::block->smem.data()
inline void __syncthreads() { emu::block->all->wait(); }
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
inline uint16_t __bfloat16_as_ushort(__nv_bfloat16 h) { return h.bits; }
inline float __bfloat162float(__nv_bfloat16 h) {
  const uint32_t u = (uint32_t)h.bits << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

namespace emu {

// mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 for the warp: d += a b, from every lane's
// fragments in the PTX ISA's layouts (lane = 4g + t; see native/cuda/attention_bf16_tiles.cuh).
inline void mma(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  const unsigned tid = thread_idx.x, base = tid & ~31u, lane = tid - base;
  uint32_t* mine = &block->mma_stage[tid * 6];
  for (int i = 0; i < 4; i++) mine[i] = a[i];
  mine[4] = b[0], mine[5] = b[1];
  block->warps[tid / 32]->wait();
  float A[16][16], B[16][8];
  for (unsigned l = 0; l < 32; l++) {
    const uint32_t* f = &block->mma_stage[(base + l) * 6];
    const int g = (int)l >> 2, t = (int)l & 3;
    for (int reg = 0; reg < 4; reg++)
      for (int hi = 0; hi < 2; hi++)
        A[g + (reg & 1) * 8][2 * t + hi + (reg & 2) * 4] = __bfloat162float(__nv_bfloat16{(uint16_t)(f[reg] >> (16 * hi))});
    for (int reg = 0; reg < 2; reg++)
      for (int hi = 0; hi < 2; hi++) B[2 * t + hi + reg * 8][g] = __bfloat162float(__nv_bfloat16{(uint16_t)(f[4 + reg] >> (16 * hi))});
  }
  block->warps[tid / 32]->wait();
  const int g = (int)lane >> 2, t = (int)lane & 3;
  for (int e = 0; e < 4; e++) {
    const int row = g + (e >> 1) * 8, col = 2 * t + (e & 1);
    float s = d[e];
    for (int k = 0; k < 16; k++) s += A[row][k] * B[k][col];
    d[e] = s;
  }
}

// cp.async: the copy happens at once (zeros where !valid); commit and wait have nothing to do.
inline void copy16(void* dst, const void* src, bool valid) {
  if (valid) std::memcpy(dst, src, 16);
  else std::memset(dst, 0, 16);
}
inline void copy4(void* dst, const void* src, bool valid) {
  if (valid) std::memcpy(dst, src, 4);
  else std::memset(dst, 0, 4);
}
inline void commit_tiles() {}
template <int N>
void wait_tiles() {}

}  // namespace emu

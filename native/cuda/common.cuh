// What every CUDA kernel file of the backend shares: error checks, launch sizes and the warp
// reductions. One translation unit (cuda_backend.cu) includes the kernel headers, as llm.c's
// train_gpt2.cu includes llmc/*.cuh: device helpers stay inline in headers, never across units.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cfloat>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace engine {
namespace {

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(std::string("CUDA error in ") + what + ": " + cudaGetErrorString(e));
}
#define LAUNCH_CHECK(name) check(cudaGetLastError(), name)

// Makes GPU `device` (cuda:N) current, saying in one line why it cannot. A process runs on one
// GPU: every call of a backend comes from the thread that made it, whose device is set once.
void use_device(int device) {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess || n == 0) {
    throw std::runtime_error(e == cudaErrorInsufficientDriver ? "CUDA: the NVIDIA driver is missing or older than this build's CUDA runtime"
                             : (e == cudaErrorNoDevice || n == 0) ? "CUDA: no NVIDIA GPU is visible"
                                                                  : std::string("CUDA: ") + cudaGetErrorString(e));
  }
  static int process_device = -1;
  if (device < 0 || device >= n)
    throw std::runtime_error("CUDA: no GPU cuda:" + std::to_string(device) + " (this machine shows " + std::to_string(n) +
                             ": cuda:0 to cuda:" + std::to_string(n - 1) + ")");
  if (process_device >= 0 && process_device != device)
    throw std::runtime_error("CUDA: this process runs on cuda:" + std::to_string(process_device) +
                             " already; a process uses one GPU (start one process per GPU)");
  check(cudaSetDevice(device), "cudaSetDevice");
  process_device = device;
}

constexpr int kThreads = 256;
inline unsigned blocks_for(int64_t n, int threads = kThreads) { return (unsigned)std::max<int64_t>(1, (n + threads - 1) / threads); }

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ double warp_sum_d(double v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

}  // namespace
}  // namespace engine

// Declarations of the part of cuBLAS that native/cuda/cuda_backend.cu uses, for the compile check
// (native/tests/compile_cuda.sh) on machines with nvcc but without cuBLAS. Compile only: nothing
// here is linked or run; the real header comes with the CUDA toolkit (libcublas-dev).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cuda_runtime.h>

typedef enum { CUBLAS_STATUS_SUCCESS = 0 } cublasStatus_t;
typedef enum { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1 } cublasOperation_t;
typedef enum { CUBLAS_COMPUTE_32F = 68, CUBLAS_COMPUTE_32F_FAST_TF32 = 77 } cublasComputeType_t;
typedef enum { CUBLAS_GEMM_DEFAULT = -1 } cublasGemmAlgo_t;
typedef struct cublasContext* cublasHandle_t;

cublasStatus_t cublasCreate(cublasHandle_t*);
cublasStatus_t cublasDestroy(cublasHandle_t);
cublasStatus_t cublasSgemv(cublasHandle_t, cublasOperation_t, int, int, const float*, const float*, int, const float*,
                           int, const float*, float*, int);
cublasStatus_t cublasGemmEx(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const void*,
                            const void*, cudaDataType_t, int, const void*, cudaDataType_t, int, const void*, void*,
                            cudaDataType_t, int, cublasComputeType_t, cublasGemmAlgo_t);
cublasStatus_t cublasGemmBatchedEx(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const void*,
                                   const void* const[], cudaDataType_t, int, const void* const[], cudaDataType_t, int,
                                   const void*, void* const[], cudaDataType_t, int, int, cublasComputeType_t,
                                   cublasGemmAlgo_t);

#!/usr/bin/env bash
# Builds the CUDA backend as build/Release/engine_cuda.so, which the engine loads at run time for
# --device cuda (native/backends.cc), so that the CPU addon never links CUDA. Run by `npm install`
# after node-gyp: it builds where nvcc and cuBLAS are found and otherwise says so and does
# nothing. BERT20NEWS_CUDA=1 makes a missing toolkit an error; BERT20NEWS_CUDA=0 skips the build.
# CUDA_HOME (default /usr/local/cuda) and CUDA_ARCHS (default "80 90": A100, H100/H200; PTX for
# newer GPUs) choose the toolkit and GPUs;
# CUBLAS_ROOT points at a cuBLAS outside the toolkit (include/, lib/: pip's nvidia-cublas).
set -euo pipefail
cd "$(dirname "$0")/.."
want=${BERT20NEWS_CUDA:-auto}
[ "$want" = 0 ] && exit 0
cuda=${CUDA_HOME:-/usr/local/cuda}
nvcc=$(command -v nvcc || echo "$cuda/bin/nvcc")
blas_inc= blas_lib= lt_lib=
for d in ${CUBLAS_ROOT:+"$CUBLAS_ROOT"} "$cuda" "$cuda"/targets/*; do
  if [ -f "$d/include/cublas_v2.h" ]; then
    blas_inc=$d/include
    blas_lib=$(ls "$d"/lib64/libcublas.so* "$d"/lib/libcublas.so* 2>/dev/null | head -1 || true)
    lt_lib=$(ls "$d"/lib64/libcublasLt.so* "$d"/lib/libcublasLt.so* 2>/dev/null | head -1 || true)
    break
  fi
done
missing=
[ -x "$nvcc" ] || missing="nvcc (the CUDA toolkit)"
[ -n "$missing" ] || { [ -n "$blas_lib" ] && [ -n "$lt_lib" ]; } || missing="cuBLAS and cuBLASLt (libcublas-dev)"
if [ -n "$missing" ]; then
  if [ "$want" = 1 ]; then
    echo "build-cuda: BERT20NEWS_CUDA=1 but $missing was not found under $cuda" >&2
    exit 1
  fi
  echo "build-cuda: no $missing found; the CUDA backend is not built (CPU only)" >&2
  exit 0
fi
# Machine code for each architecture, and the newest one's PTX, which the driver compiles for GPUs
# newer than all of them.
gencode=()
for a in ${CUDA_ARCHS:-80 90}; do gencode+=("-gencode=arch=compute_$a,code=sm_$a"); done
gencode+=("-gencode=arch=compute_$a,code=compute_$a")
mapfile -t sources < <(sed -n 's#^\([^#].*\.cu\)$#native/\1#p' native/sources.txt)
mkdir -p build/Release
"$nvcc" -std=c++17 -O3 -shared -Xcompiler -fPIC "${gencode[@]}" -I"$blas_inc" -o build/Release/engine_cuda.so.tmp \
  "${sources[@]}" -Xlinker "$blas_lib" -Xlinker "$lt_lib" -L"$cuda/lib64" -lcudart \
  -Xlinker -rpath -Xlinker "$cuda/lib64" -Xlinker -rpath -Xlinker "$(dirname "$blas_lib")"
mv build/Release/engine_cuda.so.tmp build/Release/engine_cuda.so
echo "build-cuda: built build/Release/engine_cuda.so" >&2

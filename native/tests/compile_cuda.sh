#!/usr/bin/env bash
# Compiles every CUDA source of the backend with nvcc (-c, nothing linked or run): the translation
# unit cuda/cuda_backend.cu, and each kernel header of cuda/ alone, so that each one includes what
# it needs. Where the toolkit has no cuBLAS headers, tests/cublas_stub/ declares the part that
# cuda_backend.cu uses. Prints one line per file, then "N passed, N failed"; exit 1 on a failure.
#
#   bash native/tests/compile_cuda.sh [ARCH]    (ARCH default 90: sm_90)
set -uo pipefail
cd "$(dirname "$0")/.."
nvcc=$(command -v nvcc || echo "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc")
[ -x "$nvcc" ] || { echo "compile_cuda: no nvcc found" >&2; exit 2; }
arch=${1:-90}
stub=()
if ! echo '#include <cublas_v2.h>' | "$nvcc" -x cu -E - >/dev/null 2>&1; then
  stub=(-Itests/cublas_stub)
  echo "no cuBLAS headers: cuBLAS and cuBLASLt declarations from tests/cublas_stub"
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pids=() names=()
for f in cuda/*.cu cuda/*.cuh; do
  "$nvcc" -std=c++17 -c -x cu -arch=sm_$arch "${stub[@]}" -o "$tmp/$(basename "$f").o" "$f" >"$tmp/$(basename "$f").log" 2>&1 &
  pids+=($!) names+=("$f")
done
passed=0 failed=0
for i in "${!pids[@]}"; do
  if wait "${pids[$i]}"; then
    echo "ok   ${names[$i]}"; passed=$((passed + 1))
  else
    echo "FAIL ${names[$i]}"; sed 's/^/  /' "$tmp/$(basename "${names[$i]}").log" | head -20; failed=$((failed + 1))
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]

#!/usr/bin/env bash
# Everything the CUDA backend promises, checked in one command on a Linux machine with an NVIDIA
# GPU, the CUDA toolkit (nvcc, cuBLAS) and CMake; Python with PyTorch (and transformers, where
# installed) for the peer. No Node.js is needed there: the engine builds with CMake
# (native/CMakeLists.txt) and engine_check runs the golden tests, the bench and the card recipe.
#
#   bash scripts/gpu-check.sh [--golden DIR] [--tokens FILE] [--report DIR] [--card-timeout S] [--card-precision P]
#                             [--precisions fp32,tf32,bf16]
#
# --golden: ../shared/golden (or a copy of its tiny/, train/, mlm/ and bert/); --tokens: the card split as
# token ids (node dist/bench/export_tokens.js, run where Node is); without it the card run is
# skipped. Writes a report folder (default: $OUT where set, else gpu-report/) and prints a summary.
set -uo pipefail
cd "$(dirname "$0")/.."
golden=../shared/golden tokens= report=${OUT:-gpu-report} card_timeout=300 card_precision=bf16 precisions=fp32,tf32,bf16
while [ $# -gt 0 ]; do
  case $1 in
    --golden) golden=$2; shift 2 ;;
    --tokens) tokens=$2; shift 2 ;;
    --report) report=$2; shift 2 ;;
    --card-timeout) card_timeout=$2; shift 2 ;;
    --card-precision) card_precision=$2; shift 2 ;;
    --precisions) precisions=$2; shift 2 ;;
    *) echo "gpu-check: unknown option $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$report"
summary=$report/summary.md
status=0
# Each step's heading gives the seconds since the start: where a lease's minutes went.
step() { echo; echo "## $* (at ${SECONDS} s)" | tee -a "$summary"; }

step "GPU"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee -a "$summary"

step "build (CMake, nvcc, cuBLAS)"
t0=$(date +%s)
# Where the toolkit lacks cuBLAS's headers, use PyTorch's (pip's nvidia-cublas).
cuda=${CUDA_HOME:-/usr/local/cuda}
if [ -z "${CUBLAS_ROOT:-}" ] && ! ls "$cuda"/include/cublas_v2.h "$cuda"/targets/*/include/cublas_v2.h >/dev/null 2>&1; then
  CUBLAS_ROOT=$(python3 -c 'import nvidia.cublas, os; print(os.path.dirname(nvidia.cublas.__file__))' 2>/dev/null || true)
  [ -n "$CUBLAS_ROOT" ] && export CUBLAS_ROOT && echo "cuBLAS from $CUBLAS_ROOT" | tee -a "$summary"
fi
# The CMake build (engine_check, the suites) and engine_cuda.so (the npm build's library) side by side.
{ cmake -S native -B build-gpu -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 ${CUBLAS_ROOT:+-DCUBLAS_ROOT="$CUBLAS_ROOT"} &&
  cmake --build build-gpu -j"$(nproc)"; } >"$report/build.log" 2>&1 &
cmake_pid=$!
CUDA_ARCHS=90 BERT20NEWS_CUDA=1 bash scripts/build-cuda.sh >"$report/build-cuda.log" 2>&1
cuda_so=$?
if ! wait $cmake_pid || [ $cuda_so != 0 ]; then
  tail -40 "$report/build.log" "$report/build-cuda.log"
  echo "build failed" | tee -a "$summary"
  exit 1
fi
cp build/Release/engine_cuda.so build-gpu/
echo "built in $(( $(date +%s) - t0 )) s" | tee -a "$summary"

step "per-kernel suite: cpu, cuda (fp32, tf32, bf16), and cuda loaded from engine_cuda.so"
./build-gpu/test_backend_ops cpu cuda cuda-tf32 cuda-bf16 >"$report/kernels.txt" 2>&1 || status=1
./build-gpu/test_backend_ops_loader cuda >"$report/kernels_loader.txt" 2>&1 || status=1
grep -v '^ok' "$report/kernels.txt" | tee -a "$summary"
tail -1 "$report/kernels_loader.txt" | sed 's/^/engine_cuda.so: /' | tee -a "$summary"
for b in cuda cuda-tf32 cuda-bf16; do
  echo "$b worst: $(grep "^ok   $b " "$report/kernels.txt" | sed 's/.*err \([^ ]*\) .*/\1/' | sort -g | tail -1)" | tee -a "$summary"
done

step "golden forward, three Keras Adam steps, three masked-LM AdamW steps, BERT's three problem types"
for p in fp32 tf32 bf16; do
  ./build-gpu/engine_check golden "$golden" --device cuda --precision "$p" 2>&1 | tee -a "$summary"
  [ "${PIPESTATUS[0]}" = 0 ] || status=1
done

step "a resumed run equals an uninterrupted one, bit for bit"
for p in fp32 bf16; do
  ./build-gpu/engine_check resume --device cuda --precision "$p" 2>&1 | tee -a "$summary"
  [ "${PIPESTATUS[0]}" = 0 ] || status=1
done

step "bench: ours and PyTorch, same GPU, same run"
for p in ${precisions//,/ }; do ./build-gpu/engine_check bench --device cuda --precision "$p"; done >"$report/bench_ours.jsonl" 2>&1
python3 bench/torch_cuda_peer.py --precisions "$precisions" >"$report/bench_torch.jsonl" 2>"$report/bench_torch.err" || tail -5 "$report/bench_torch.err"
python3 bench/gpu_report.py "$report/bench_ours.jsonl" "$report/bench_torch.jsonl" | tee -a "$summary"

step "where a training step goes (train_32x512, each kernel call timed and synchronized)"
for p in ${precisions//,/ }; do ./build-gpu/engine_check bench --device cuda --precision "$p" --cases train_32x512 --profile | grep profile; done | tee -a "$summary"

if [ -n "$tokens" ]; then
  step "card recipe, 10 epochs from scratch, $card_precision (limit ${card_timeout} s)"
  # A backend that failed the checks above would only spend the lease on a run that proves nothing.
  if [ $status = 0 ]; then
    timeout "$card_timeout" ./build-gpu/engine_check train-card "$tokens" --device cuda --precision "$card_precision" 2>&1 | tee -a "$summary"
  else
    echo "skipped: the checks above failed" | tee -a "$summary"
  fi
fi
echo
echo "gpu-check: $([ $status = 0 ] && echo PASS || echo FAIL) after ${SECONDS} s (report in $report)"
exit $status

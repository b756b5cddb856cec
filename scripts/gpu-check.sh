#!/usr/bin/env bash
# Everything the CUDA backend promises, checked on a Linux machine with an NVIDIA GPU, the CUDA
# toolkit (nvcc, cuBLAS) and CMake; Python with PyTorch (and transformers, where installed) for
# the peer. Node.js and the npm registry are not needed there: the engine builds with CMake
# (native/CMakeLists.txt), and the phase that runs the product's own commands takes Node and the
# dependencies from the bundle scripts/gpu-bundle.sh packs where they are (.gpu/).
#
#   bash scripts/gpu-check.sh [--phase all|kernels|bench|card|cli|main] [--bundle DIR] [--golden DIR]
#                             [--tokens FILE] [--report DIR] [--precisions fp32,tf32,bf16]
#                             [--card-timeout S] [--card-precision P] [--card-micro-batch N] [--main-timeout S]
#                             [--device D] [--precision P] [--train-args "ARGS"]
#
# Phases, each within 8 minutes of a lent H100 with its build (main: within one call's 10, its job
# limited to --main-timeout, 480 s by default; all: one after the other):
#   kernels  the per-kernel suite (cuda in three precisions, and through engine_cuda.so), the golden
#            forward and optimizer steps, bit-exact resume          (--golden: bundle's golden/)
#   bench    ours beside PyTorch, same GPU, same run; a profiled training step
#   card     the card recipe, 10 epochs from scratch, by engine_check (--tokens: bundle's tokens.bin;
#            --card-micro-batch: each step's posts by length in micro-batches of N)
#   cli      the product on the GPU: Node and node_modules from the bundle, the addon built by CMake
#            with no CPU BLAS libraries, then `train --preset card` interrupted (SIGINT once its
#            first epoch's checkpoint is written) and --resume'd, `evaluate`, `predict`, and `serve`
#            answering a classify request, all --device cuda --precision bf16 (--device cpu
#            rehearses it anywhere; --train-args, the run's settings, replaces "--epochs 3")
#   main     the GPU's main job, timed: scripts/main.sh --recipe gpu (distilbert-base self-pretrained
#            as a masked LM on the card split's training part, then the card recipe; evaluate,
#            predict) with the bundle's Node, data and the CMake-built addon, --device/--precision
#            as for cli (PRETRAIN_ARGS and TRAIN_ARGS in the environment reach main.sh: --device
#            cpu with a small shape rehearses it anywhere)
# Writes a report folder (default: $OUT where set, else gpu-report/) and prints a summary.
set -uo pipefail
cd "$(dirname "$0")/.."
phase=all bundle=.gpu golden= tokens= report=${OUT:-gpu-report} card_timeout=300 card_precision=bf16 card_micro=0 precisions=fp32,tf32,bf16
main_timeout=480
device=cuda precision=bf16 train_args="--epochs 3"
while [ $# -gt 0 ]; do
  case $1 in
    --phase) phase=$2; shift 2 ;;
    --bundle) bundle=$2; shift 2 ;;
    --golden) golden=$2; shift 2 ;;
    --tokens) tokens=$2; shift 2 ;;
    --report) report=$2; shift 2 ;;
    --card-timeout) card_timeout=$2; shift 2 ;;
    --main-timeout) main_timeout=$2; shift 2 ;;
    --card-precision) card_precision=$2; shift 2 ;;
    --card-micro-batch) card_micro=$2; shift 2 ;;
    --precisions) precisions=$2; shift 2 ;;
    --device) device=$2; shift 2 ;;
    --precision) precision=$2; shift 2 ;;
    --train-args) train_args=$2; shift 2 ;;
    *) echo "gpu-check: unknown option $1" >&2; exit 2 ;;
  esac
done
case $phase in all | kernels | bench | card | cli | main) ;; *) echo "gpu-check: --phase must be all, kernels, bench, card, cli or main" >&2; exit 2 ;; esac
golden=${golden:-$([ -d "$bundle/golden" ] && echo "$bundle/golden" || echo ../shared/golden)}
tokens=${tokens:-$([ -f "$bundle/tokens.bin" ] && echo "$bundle/tokens.bin")}
mkdir -p "$report"
summary=$report/summary.md
status=0
# Each step's heading gives the seconds since the start: where a lease's minutes went.
step() { echo; echo "## $* (at ${SECONDS} s)" | tee -a "$summary"; }
fail() { echo "$*" | tee -a "$summary"; status=1; }
want() { [ "$phase" = all ] || [ "$phase" = "$1" ]; }

# Where the toolkit lacks cuBLAS's headers, use PyTorch's (pip's nvidia-cublas).
find_cublas() {
  local cuda=${CUDA_HOME:-/usr/local/cuda}
  if [ -z "${CUBLAS_ROOT:-}" ] && ! ls "$cuda"/include/cublas_v2.h "$cuda"/targets/*/include/cublas_v2.h >/dev/null 2>&1; then
    CUBLAS_ROOT=$(python3 -c 'import nvidia.cublas, os; print(os.path.dirname(nvidia.cublas.__file__))' 2>/dev/null || true)
    [ -n "$CUBLAS_ROOT" ] && export CUBLAS_ROOT && echo "cuBLAS from $CUBLAS_ROOT" | tee -a "$summary"
  fi
}

# The CMake build (engine_check, the suites) and engine_cuda.so (the npm build's library) side by
# side; incremental on a machine that kept build-gpu/ from an earlier phase.
build_engine() {
  step "build (CMake, nvcc, cuBLAS)"
  local t0; t0=$(date +%s)
  find_cublas
  { cmake -S native -B build-gpu -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 ${CUBLAS_ROOT:+-DCUBLAS_ROOT="$CUBLAS_ROOT"} &&
    cmake --build build-gpu -j"$(nproc)"; } >"$report/build.log" 2>&1 &
  local cmake_pid=$!
  CUDA_ARCHS=90 BERT20NEWS_CUDA=1 bash scripts/build-cuda.sh >"$report/build-cuda.log" 2>&1
  local cuda_so=$?
  if ! wait $cmake_pid || [ $cuda_so != 0 ]; then
    tail -40 "$report/build.log" "$report/build-cuda.log"
    echo "build failed" | tee -a "$summary"
    exit 1
  fi
  cp build/Release/engine_cuda.so build-gpu/
  echo "built in $(($(date +%s) - t0)) s" | tee -a "$summary"
}

# Node from the bundle (or the machine's), node_modules from the bundle, and the addon as the npm
# build lays it out: build/Release/engine.node (CMake, with OpenBLAS and oneDNN only where they are
# installed) beside engine_cuda.so (scripts/build-cuda.sh; not for --device cpu).
setup_node() {
  [ -z "${node_ready:-}" ] || return 0
  node_ready=1
  step "Node, node_modules and the addon"
  local t0; t0=$(date +%s)
  if [ -f "$bundle/node/node.xz" ]; then
    mkdir -p build-node/bin
    python3 -c 'import lzma, sys; open(sys.argv[2], "wb").write(lzma.open(sys.argv[1]).read())' "$bundle/node/node.xz" build-node/bin/node.tmp &&
      chmod +x build-node/bin/node.tmp && mv build-node/bin/node.tmp build-node/bin/node || exit 1
    local sums; sums=$(realpath "$bundle/node/node.sha256")
    (cd build-node/bin && sha256sum -c --quiet "$sums") || { echo "node: SHA-256 differs from the bundle's" | tee -a "$summary"; exit 1; }
    node_include=$(realpath "$bundle/node/include")
    export PATH=$PWD/build-node/bin:$PATH
  elif command -v node >/dev/null; then
    node_include=$(dirname "$(dirname "$(command -v node)")")/include/node
  else
    echo "no Node.js here and no $bundle/node (bash scripts/gpu-bundle.sh packs it)" | tee -a "$summary"
    exit 1
  fi
  if [ ! -d node_modules/commander ]; then
    [ -f "$bundle/node_modules.tar.xz" ] || { echo "no node_modules and no $bundle/node_modules.tar.xz" | tee -a "$summary"; exit 1; }
    python3 -c 'import tarfile, sys; tarfile.open(sys.argv[1]).extractall(".")' "$bundle/node_modules.tar.xz" || exit 1
  fi
  [ -f dist/src/cli/main.js ] || { echo "no dist/ (built where Node and npm are: npm run build; carry it)" | tee -a "$summary"; exit 1; }
  local cuda_pid=
  # (phase all: build_engine made engine_cuda.so a moment ago)
  if [ "$device" != cpu ] && [ "$phase" != all ]; then
    find_cublas
    CUDA_ARCHS=90 BERT20NEWS_CUDA=1 bash scripts/build-cuda.sh >"$report/build-cuda.log" 2>&1 &
    cuda_pid=$!
  fi
  { cmake -S native -B build-node -DCMAKE_BUILD_TYPE=Release -DENGINE_CUDA=OFF -DNODE_INCLUDE_DIR="$node_include" &&
    cmake --build build-node -j"$(nproc)" --target engine_node; } >"$report/build-node.log" 2>&1 || { tail -30 "$report/build-node.log"; exit 1; }
  if [ -n "$cuda_pid" ] && ! wait "$cuda_pid"; then tail -30 "$report/build-cuda.log"; exit 1; fi
  mkdir -p build/Release && cp build-node/engine.node build/Release/engine.node
  echo "node $(node --version), addon built in $(($(date +%s) - t0)) s; backends: $(node -p "require('./build/Release/engine.node').backends().join(', ')")" | tee -a "$summary"
}

# What the cli and main phases run on: Node and the addon, and the bundle's data ($data).
setup_product() {
  setup_node
  data=$bundle/data
  for f in 20news-bydate.tar.gz bert-base-uncased-vocab.txt card_split_validation_paths.txt; do
    [ -f "$data/$f" ] || { echo "no $data/$f (bash scripts/gpu-bundle.sh)" | tee -a "$summary"; exit 1; }
  done
}

if { [ "$phase" != cli ] && [ "$phase" != main ]; } || [ "$device" != cpu ]; then
  step "GPU"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee -a "$summary"
fi
[ "$phase" = cli ] || [ "$phase" = main ] || build_engine

if want kernels; then
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
fi

if want bench; then
  step "bench: ours and PyTorch, same GPU, same run"
  for p in ${precisions//,/ }; do ./build-gpu/engine_check bench --device cuda --precision "$p"; done >"$report/bench_ours.jsonl" 2>&1
  python3 bench/torch_cuda_peer.py --precisions "$precisions" >"$report/bench_torch.jsonl" 2>"$report/bench_torch.err" || tail -5 "$report/bench_torch.err"
  # torch.compile'd PyTorch, bf16 training (the cases the 1.5x goal names), if it compiles in time.
  timeout 240 python3 bench/torch_cuda_peer.py --compile --precisions bf16 --cases train_32x512,train_64x128 \
    >"$report/bench_compile.jsonl" 2>"$report/bench_compile.err"
  case $? in 0) ;; 124) echo "torch.compile: not done within 240 s" | tee -a "$summary" ;; *) tail -5 "$report/bench_compile.err" ;; esac
  python3 bench/gpu_report.py "$report/bench_ours.jsonl" "$report/bench_torch.jsonl" --compiled "$report/bench_compile.jsonl" \
    --gpu "$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)" | tee -a "$summary"

  step "where a training step goes (train_32x512, each kernel call timed and synchronized)"
  for p in ${precisions//,/ }; do ./build-gpu/engine_check bench --device cuda --precision "$p" --cases train_32x512 --profile | grep profile; done | tee -a "$summary"
fi

if want card; then
  step "card recipe, 10 epochs from scratch, $card_precision (limit ${card_timeout} s)"
  if [ -z "$tokens" ]; then
    echo "skipped: no token file (--tokens, or the bundle's tokens.bin)" | tee -a "$summary"
  elif [ $status != 0 ]; then
    # A backend that failed the checks above would only spend the lease on a run that proves nothing.
    echo "skipped: the checks above failed" | tee -a "$summary"
  else
    timeout "$card_timeout" ./build-gpu/engine_check train-card "$tokens" --device cuda --precision "$card_precision" \
      --micro-batch "$card_micro" 2>&1 | tee -a "$summary"
  fi
fi

if want cli; then
  setup_product
  cli() { node dist/src/cli/main.js "$@" --device "$device" --precision "$precision"; }
  run=runs/gpu-check
  rm -rf "$run"
  read -ra extra <<<"$train_args"
  train=(train --device "$device" --precision "$precision" --preset card --init scratch --vocab "$data/bert-base-uncased-vocab.txt"
    --data "$data/20news-bydate.tar.gz" --validation-list "$data/card_split_validation_paths.txt" --no-progress --out "$run" "${extra[@]}")

  step "train ${train[*]:1}, SIGINT once the first epoch's checkpoint is written"
  node dist/src/cli/main.js "${train[@]}" >"$report/train.log" 2>&1 &
  train_pid=$!
  while [ ! -f "$run/checkpoint.safetensors" ] && kill -0 "$train_pid" 2>/dev/null; do sleep 0.2; done
  kill -INT "$train_pid" 2>/dev/null
  wait "$train_pid"
  tee -a "$summary" <"$report/train.log"
  [ -f "$run/checkpoint.safetensors" ] && [ ! -f "$run/model/model.safetensors" ] || fail "the run was not interrupted after a checkpoint"

  step "train --resume"
  cli train --out "$run" --resume --no-progress 2>&1 | tee -a "$summary"
  [ "${PIPESTATUS[0]}" = 0 ] && [ -f "$run/model/model.safetensors" ] || fail "the resumed run did not finish"

  step "evaluate"
  cli evaluate --model "$run/model" --data "$data/20news-bydate.tar.gz" \
    --validation-list "$data/card_split_validation_paths.txt" --out "$run/report" 2>&1 | tee -a "$summary"
  [ "${PIPESTATUS[0]}" = 0 ] || fail "evaluate failed"

  step "predict"
  cli predict --model "$run/model" --top-k 3 "Which disk controller works with my 486?" 2>&1 | tee -a "$summary"
  [ "${PIPESTATUS[0]}" = 0 ] || fail "predict failed"

  step "serve, and one classify request"
  # node itself in the background (not the cli function's subshell), so that TERM reaches the server.
  node dist/src/cli/main.js serve --model "$run/model" --port 8020 --device "$device" --precision "$precision" >"$report/serve.log" 2>&1 &
  serve_pid=$!
  for _ in $(seq 120); do grep -q '^serving ' "$report/serve.log" && break; sleep 0.5; done
  head -1 "$report/serve.log" | tee -a "$summary"
  python3 - <<'PY' 2>&1 | tee -a "$summary"
import json, urllib.request
body = json.dumps({"texts": ["The Orioles need a new pitcher", "My SCSI drive will not boot"]}).encode()
req = urllib.request.Request("http://127.0.0.1:8020/v1/classify", body, {"content-type": "application/json"})
print(urllib.request.urlopen(req, timeout=60).read().decode())
PY
  [ "${PIPESTATUS[0]}" = 0 ] || fail "the classify request failed"
  kill -TERM "$serve_pid" 2>/dev/null
  wait "$serve_pid" 2>/dev/null
fi

if want main; then
  setup_product
  # main.sh reads the shared folder's layout: the bundle's files linked into one.
  rm -rf build-shared && mkdir -p build-shared/data build-shared/vocab build-shared/golden
  ln -s "$(realpath "$data/20news-bydate.tar.gz")" build-shared/data/
  ln -s "$(realpath "$data/bert-base-uncased-vocab.txt")" build-shared/vocab/
  ln -s "$(realpath "$data/card_split_validation_paths.txt")" build-shared/golden/
  rm -rf runs/gpu-check-pretrain runs/gpu-check-main
  step "the main job: scripts/main.sh --recipe gpu --device $device --precision $precision (limit ${main_timeout} s)"
  t0=$SECONDS
  BERT20NEWS_SHARED=build-shared PRETRAIN_RUN=runs/gpu-check-pretrain RUN=runs/gpu-check-main timeout "$main_timeout" \
    bash scripts/main.sh --recipe gpu --device "$device" --precision "$precision" --no-setup --no-serve >"$report/main.log" 2>&1
  rc=$?
  seconds=$((SECONDS - t0))
  grep -E '^\| [0-9]|^(accuracy|macro avg) |^  [0-9.]+  |model saved to' "$report/main.log" | tee -a "$summary"
  [ $rc = 0 ] || { tail -20 "$report/main.log" | tee -a "$summary"; fail "the main job failed (exit $rc)"; }
  echo "main job: ${seconds} s, setup aside (goal: 600 on an H100; transformer's validation accuracy >= 0.90)" | tee -a "$summary"
fi
echo
echo "gpu-check: $([ $status = 0 ] && echo PASS || echo FAIL) after ${SECONDS} s (report in $report)"
exit $status

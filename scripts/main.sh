#!/usr/bin/env bash
# The main job: set up; pretrain a small DistilBERT from scratch on the training part of
# 20 Newsgroups (masked LM, 128 tokens, 6 epochs); fine-tune it as a hybrid classifier (512 tokens,
# 8 epochs, steps cut into length-ordered micro-batches of 16 to skip most padding; fused with a
# TF-IDF SVM over words and character n-grams side by side, its weight chosen on held-out training
# posts); evaluate it beside the TF-IDF baseline on the card's 90/10 split; then serve it. About
# 46 minutes on 2 cores (docs/recipes.md).
# Uses ../shared (data, vocabulary, the card's validation list) when it is there; otherwise the
# commands download what they need into ~/.cache/bert-20news. Rerunning resumes or reuses the runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
shared=${BERT20NEWS_SHARED:-../shared}
pre=${PRETRAIN_RUN:-runs/self-pretrain}
run=${RUN:-runs/main}
data=() vocab=() split=()
if [ -f "$shared/data/20news-bydate.tar.gz" ]; then data=(--data "$shared/data/20news-bydate.tar.gz"); fi
if [ -f "$shared/vocab/bert-base-uncased-vocab.txt" ]; then vocab=(--vocab "$shared/vocab/bert-base-uncased-vocab.txt"); fi
if [ -f "$shared/golden/card_split_validation_paths.txt" ]; then split=(--validation-list "$shared/golden/card_split_validation_paths.txt"); fi
cli() { node dist/src/cli/main.js "$@"; }
# Each step resumes its run when it has started, and is skipped when its model exists.
step() {
  local out=$1 command=$2
  shift 2
  if [ -f "$out/model/model.safetensors" ]; then return; fi
  if [ -f "$out/run.json" ]; then cli "$command" --out "$out" --resume "${data[@]}"; else cli "$command" "$@" --out "$out"; fi
}
step "$pre" pretrain "${data[@]}" "${split[@]}" --init scratch "${vocab[@]}" --preset small --max-length 128 --epochs 6 --lr 1e-3
step "$run" train "${data[@]}" "${split[@]}" --init "$pre/model" --preset small --max-length 512 --micro-batch 16 --epochs 8 --hybrid
cli evaluate --model "$run/model" "${data[@]}" "${split[@]}" --baseline --out "$run/report"
cli predict --model "$run/model" --top-k 3 "Which disk controller works with my 486?"
exec node dist/src/cli/main.js serve --model "$run/model" --host "${HOST:-127.0.0.1}" --port "${PORT:-8020}"

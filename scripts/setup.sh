#!/usr/bin/env bash
# Installs the system packages the native engine builds against, then the npm packages
# (npm ci builds the addon with node-gyp and compiles the TypeScript).
# --tests also installs Debian's Chromium, which the browser test drives.
set -euo pipefail
cd "$(dirname "$0")/.."
packages=(g++ make python3 libopenblas-openmp-dev libdnnl-dev)
if [ "${1:-}" = "--tests" ]; then packages+=(chromium); fi
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=$([ "$(id -u)" -eq 0 ] || echo sudo)
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi
major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$major" -lt 20 ]; then
  echo "Node.js 20 or newer is needed (found: $(node --version 2>/dev/null || echo none)); see https://nodejs.org" >&2
  exit 1
fi
# onnxruntime-node (the ONNX peer in tests and bench) ships its CPU library in the package; skip
# its optional download of GPU libraries, which needs hosts beyond the npm registry.
ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund

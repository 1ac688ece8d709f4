#!/usr/bin/env bash
# The main job on a fresh clone: install what is missing, build, and generate text with the default model on WebGPU.
# Extra arguments go to `pie generate` (e.g. --prompt "..." --max-tokens 50 --json).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund
# No GPU driver yet and allowed to install one: set up the CPU drivers (SwiftShader, Mesa lavapipe).
if [ "$(uname -s)" = Linux ] && [ ! -f .cache/lavapipe/lvp_icd.json ] && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  bash scripts/setup-cpu-gpu.sh
fi
npm run --silent build >/dev/null
if [ $# -eq 0 ]; then set -- --prompt "Once upon a time" --max-tokens 100; fi
exec node dist/cli.js generate "$@"

#!/usr/bin/env bash
# The project's test command: `npm test` (all), `npm test -- unit`, `npm test -- gpu`, `npm test -- e2e`.
# Each test file runs in its own process under node's test runner, TypeScript through tsx, .wgsl as text.
# The e2e suite drives the packed extension in a real VS Code (code-server) through Chromium: it installs code-server
# into .cache/code-server first when it is absent (scripts/code-server.sh); if that cannot be done, the e2e tests
# still run and fail, each naming what is missing, so that a machine without them never passes silently.
set -euo pipefail
cd "$(dirname "$0")/.."
suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(unit gpu e2e)
files=()
for s in "${suites[@]}"; do
  if [ "$s" = e2e ]; then
    if ! bash scripts/code-server.sh >/dev/null; then
      echo "test.sh: code-server could not be installed (see above); the e2e tests will fail naming it" >&2
    fi
    command -v "${PIE_CHROMIUM:-/usr/bin/chromium}" >/dev/null ||
      echo "test.sh: ${PIE_CHROMIUM:-/usr/bin/chromium} is missing (Debian: apt-get install chromium, or bash scripts/setup-cpu-gpu.sh); the e2e tests will fail" >&2
  fi
  while IFS= read -r f; do files+=("$f"); done < <(find "test/$s" -name '*.test.ts' | sort)
done
[ ${#files[@]} -gt 0 ] || { echo "no test files in: ${suites[*]}"; exit 1; }
# TAP, pinned: it is node 20's default only when the output is not a terminal, and newer nodes default to another
# reporter, whose summary .ci/run could not read (it counts the closing "# skipped N").
exec node --import ./scripts/register.mjs --test --test-reporter=tap --test-concurrency=1 "${files[@]}"

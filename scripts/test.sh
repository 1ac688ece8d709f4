#!/usr/bin/env bash
# The project's test command: `npm test` (all), `npm test -- unit`, `npm test -- gpu`.
# Each test file runs in its own process under node's test runner, TypeScript through tsx, .wgsl as text.
set -euo pipefail
cd "$(dirname "$0")/.."
suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(unit gpu)
files=()
for s in "${suites[@]}"; do
  while IFS= read -r f; do files+=("$f"); done < <(find "test/$s" -name '*.test.ts' | sort)
done
[ ${#files[@]} -gt 0 ] || { echo "no test files in: ${suites[*]}"; exit 1; }
exec node --import ./scripts/register.mjs --test --test-concurrency=1 "${files[@]}"

#!/usr/bin/env bash
# README command 2 (and .ci/run): install what is missing, then build and run the whole
# test suite three times: release, AddressSanitizer+UBSan, ThreadSanitizer.
# PRESETS="release" scripts/test.sh runs a subset.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
jobs=$(nproc)
for preset in ${PRESETS:-release asan tsan}; do
  echo "=== $preset: configure and build" >&2
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j "$jobs"
  echo "=== $preset: test" >&2
  ctest --preset "$preset" -j "$jobs"
done

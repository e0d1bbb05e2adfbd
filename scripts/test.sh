#!/usr/bin/env bash
# README command 2 (and .ci/run): install what is missing, then build and run the whole
# test suite three times: release, AddressSanitizer+UBSan, ThreadSanitizer.
# PRESETS="release" scripts/test.sh runs a subset. Then the libFuzzer targets, 20 s each
# (FUZZ_SECONDS=60 for longer, FUZZ_SECONDS=0 to skip). Then the benchmark suite in its
# quick mode, to show it still runs end to end (its numbers are thrown away; BENCH_SMOKE=0
# skips it). Last, three poolservers behind HAProxy (scripts/cluster.sh --quick, about 10 s;
# it installs haproxy itself; CLUSTER_SMOKE=0 skips it).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh bench
jobs=$(nproc)
for preset in ${PRESETS:-release asan tsan}; do
  echo "=== $preset: configure and build" >&2
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j "$jobs"
  echo "=== $preset: test" >&2
  ctest --preset "$preset" -j "$jobs"
done
# Then the fuzz targets for a bounded time each (fuzz/README.md); FUZZ_SECONDS=0 skips them.
if [ "${FUZZ_SECONDS:-20}" != 0 ]; then
  echo "=== fuzz: ${FUZZ_SECONDS:-20}s per target" >&2
  fuzz/run.sh "${FUZZ_SECONDS:-20}"
fi
# The benchmark suite, quick: every server, load and plot step once (needs the release build).
if [ "${BENCH_SMOKE:-1}" != 0 ]; then
  echo "=== bench: suite in quick mode" >&2
  cmake --preset release >/dev/null
  cmake --build --preset release -j "$jobs"
  smoke=$(mktemp -d)
  bench/suite.py --quick --runs 1 --out "$smoke"
  test -s "$smoke/benchmarks.md" && test -s "$smoke/benchmarks/strategies.png" &&
    test -s "$smoke/benchmarks/connections.png"
  rm -rf "$smoke"
fi
# Three poolservers behind HAProxy: every server gets work, a SIGTERM under load loses no
# request, one server against the cluster.
if [ "${CLUSTER_SMOKE:-1}" != 0 ]; then
  echo "=== cluster: three poolservers behind HAProxy, quick" >&2
  cmake --preset release >/dev/null
  cmake --build --preset release -j "$jobs" --target poolserver
  scripts/cluster.sh --quick
fi

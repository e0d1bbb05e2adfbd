#!/usr/bin/env bash
# README command 2 (and .ci/run): install what is missing, lint the Python (pyflakes3 and
# py_compile, scripts/lint-python.sh; PYTHON_LINT=0 skips it), then build and run the whole
# test suite three times: release, AddressSanitizer+UBSan, ThreadSanitizer.
# PRESETS="release" scripts/test.sh runs a subset. Then the libFuzzer targets, 10 s each
# (FUZZ_SECONDS=60 for longer, FUZZ_SECONDS=0 to skip). Then the benchmark suite in its
# quick mode, to show it still runs end to end (its numbers are thrown away; BENCH_SMOKE=0
# skips it). Then poolservers behind HAProxy and its agent-check (scripts/cluster.sh --quick,
# about 15 s; it installs haproxy itself; CLUSTER_SMOKE=0 skips it). Then Prometheus for real: /metrics
# linted, the alert rules and their unit tests, a real Prometheus scraping a poolserver, the
# Grafana dashboard's metric names and queries (scripts/prometheus.sh, about 10 s; it installs
# prometheus itself; PROMETHEUS_SMOKE=0 skips it). Then the dashboard in Debian's Chromium
# (scripts/browser-test.sh, about 15 s; it installs chromium and playwright-core itself;
# BROWSER_SMOKE=0 skips it). Last, the Docker image built and run (scripts/docker-test.sh: a
# dockerd of its own and a debootstrapped Debian base, no Docker Hub; it installs docker.io
# and debootstrap itself; DOCKER_SMOKE=0 skips it).
#
#   scripts/test.sh            everything above (what .ci/run runs)
#   scripts/test.sh --quick    the release build and its ctest suite only: for a change that
#                              touches no concurrency (no sanitizers, fuzzing or smoke runs)
#
# Packages are installed for the steps that run: clang only when fuzzing, nginx, wrk and
# gnuplot only for the benchmark smoke (scripts/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  "") ;;
  --quick) export PRESETS=release FUZZ_SECONDS=0 BENCH_SMOKE=0 CLUSTER_SMOKE=0 \
             PROMETHEUS_SMOKE=0 BROWSER_SMOKE=0 DOCKER_SMOKE=0 PYTHON_LINT=0 ;;
  *) echo "usage: scripts/test.sh [--quick]" >&2; exit 2 ;;
esac
groups=(test)  # the build, doctest, and the micro-benchmarks' libraries
[ "${FUZZ_SECONDS:-10}" = 0 ] || groups+=(fuzz)
[ "${BENCH_SMOKE:-1}" = 0 ] || groups+=(bench)
scripts/install-deps.sh "${groups[@]}"
# The Python of tools/, bench/ and scripts/ first: a slip there fails in seconds.
[ "${PYTHON_LINT:-1}" = 0 ] || scripts/lint-python.sh
jobs=$(nproc)
for preset in ${PRESETS:-release asan tsan}; do
  echo "=== $preset: configure and build" >&2
  # The release build includes bench/'s programs, required here so that they keep building.
  bench=()
  [ "$preset" != release ] || bench=(-DPOOLSERVER_BENCH=ON)
  cmake --preset "$preset" "${bench[@]}" >/dev/null
  cmake --build --preset "$preset" -j "$jobs"
  echo "=== $preset: test" >&2
  ctest --preset "$preset" -j "$jobs"
done
# Then the fuzz targets for a bounded time each (fuzz/README.md); FUZZ_SECONDS=0 skips them.
if [ "${FUZZ_SECONDS:-10}" != 0 ]; then
  echo "=== fuzz: ${FUZZ_SECONDS:-10}s per target" >&2
  fuzz/run.sh "${FUZZ_SECONDS:-10}"
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
# Prometheus for real: /metrics passes promtool's lint, deploy/alerts.yml passes its unit tests
# and loads into a real Prometheus, which must count exactly the jobs sent; every metric the
# alerts and the Grafana dashboard name exists.
if [ "${PROMETHEUS_SMOKE:-1}" != 0 ]; then
  echo "=== prometheus: metrics lint, alert rules and their tests, a real Prometheus" >&2
  cmake --preset release >/dev/null
  cmake --build --preset release -j "$jobs" --target poolserver
  scripts/prometheus.sh
fi
# The dashboard in a real browser: its charts draw, its numbers move, overload and a stopped
# server show.
if [ "${BROWSER_SMOKE:-1}" != 0 ]; then
  echo "=== browser: /dashboard in Chromium under load" >&2
  cmake --preset release >/dev/null
  cmake --build --preset release -j "$jobs" --target poolserver poolactor
  scripts/browser-test.sh
fi
# The image: built from the Dockerfile without Docker Hub, run on loopback; it must answer a
# job, turn healthy, take a poolactor from the same image and stop cleanly on `docker stop`.
if [ "${DOCKER_SMOKE:-1}" != 0 ]; then
  echo "=== docker: the image built and run" >&2
  scripts/docker-test.sh
fi

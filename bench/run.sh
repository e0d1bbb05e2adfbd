#!/usr/bin/env bash
# The whole benchmark suite (about 6 minutes): installs what is missing (nginx, wrk,
# gnuplot), builds the release preset, runs bench/suite.py and writes docs/benchmarks.md
# with its plots in docs/benchmarks/. Everything runs on 127.0.0.1 and stops on its own.
#   bench/run.sh [--runs N] [--quick] [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh bench
cmake --preset release -DPOOLSERVER_BENCH=ON >/dev/null
cmake --build --preset release -j "$(nproc)"
exec python3 bench/suite.py "$@"

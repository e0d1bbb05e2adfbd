#!/usr/bin/env bash
# Installs the Debian packages poolserver needs to build and test, skipping those present.
# Usage: scripts/install-deps.sh          compilers, CMake, libraries (build and test)
#        scripts/install-deps.sh bench    those, and what bench/run.sh drives: nginx (the
#                                         ceiling), wrk (load), gnuplot (plots), python3
set -euo pipefail

packages=(g++ cmake ninja-build libboost-dev libspdlog-dev nlohmann-json3-dev doctest-dev
  libcli11-dev  # the command line (config/cli.cpp)
  libjs-chart.js  # the charts of /dashboard, embedded at build time (server/dashboard/)
  clang libclang-rt-14-dev  # clang and its libFuzzer/sanitizer runtimes: fuzz/run.sh
  libbenchmark-dev libconcurrentqueue-dev)  # micro-benchmarks (bench/)
if [ "${1:-}" = bench ]; then
  packages+=(nginx-light wrk gnuplot-nox python3)
elif [ $# -gt 0 ]; then
  echo "usage: scripts/install-deps.sh [bench]" >&2
  exit 2
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

exec "$(dirname "$0")/apt-install.sh" "${missing[@]}"

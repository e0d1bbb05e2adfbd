#!/usr/bin/env bash
# Installs the Debian packages poolserver needs, skipping those present.
# Usage: scripts/install-deps.sh          compilers, CMake, libraries (build and test)
#        scripts/install-deps.sh build    only what the release build of poolserver and
#                                         poolactor needs, without tests (the Dockerfile)
#        scripts/install-deps.sh bench    build and test, and what bench/run.sh drives: nginx
#                                         (the ceiling), wrk (load), gnuplot (plots), python3
set -euo pipefail

packages=(g++ cmake ninja-build libboost-dev libspdlog-dev nlohmann-json3-dev
  libcli11-dev  # the command line (config/cli.cpp)
  libjs-chart.js  # the charts of /dashboard, embedded at build time (server/dashboard/)
  libbenchmark-dev)  # micro-benchmarks (bench/); every release configure looks for it
case "${1:-}" in
  build) ;;
  "" | bench)
    packages+=(doctest-dev  # the test suite (tests/)
      clang libclang-rt-14-dev  # clang and its libFuzzer/sanitizer runtimes: fuzz/run.sh
      libconcurrentqueue-dev)  # a micro-benchmark's baseline (bench/mailbox_bench.cpp)
    if [ "${1:-}" = bench ]; then packages+=(nginx-light wrk gnuplot-nox python3); fi ;;
  *) echo "usage: scripts/install-deps.sh [build|bench]" >&2; exit 2 ;;
esac

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

exec "$(dirname "$0")/apt-install.sh" "${missing[@]}"

#!/usr/bin/env bash
# Installs the Debian packages poolserver needs, skipping those present. Each command asks
# only for what it runs: serving pulls no clang and no benchmark libraries.
# Usage: scripts/install-deps.sh [GROUP...]    groups add up; none given means serve
#   build   compilers, CMake and the libraries of poolserver and poolactor (the Dockerfile)
#   serve   build, doctest (the release preset configures the tests: scripts/serve.sh) and
#           the openssl command (scripts/make-actor-certs.sh, which the TLS tests run too)
#   test    serve, and the micro-benchmarks' libraries, which scripts/test.sh builds
#           (Google Benchmark, moodycamel's queue: bench/CMakeLists.txt)
#   fuzz    clang and its libFuzzer/sanitizer runtimes (fuzz/run.sh)
#   bench   test, and what bench/run.sh drives: nginx (the ceiling), wrk (load),
#           gnuplot (plots), python3
set -euo pipefail

packages=()
add_build() {
  packages+=(g++ cmake ninja-build libboost-dev libspdlog-dev nlohmann-json3-dev
    libcli11-dev  # the command line (config/cli.cpp)
    libssl-dev  # TLS on the actor port (sockets/tls.cpp, through Asio's SSL support)
    libjs-chart.js)  # the charts of /dashboard, embedded at build time (server/dashboard/)
}
# doctest: the test suite (tests/); openssl: the actor port's certificates, for users and tests.
add_serve() { add_build; packages+=(doctest-dev openssl); }
add_test() { add_serve; packages+=(libbenchmark-dev libconcurrentqueue-dev); }
[ $# -gt 0 ] || set -- serve
for group in "$@"; do
  case "$group" in
    build) add_build ;;
    serve) add_serve ;;
    test) add_test ;;
    fuzz) packages+=(clang libclang-rt-14-dev) ;;
    bench) add_test; packages+=(nginx-light wrk gnuplot-nox python3) ;;
    *) echo "usage: scripts/install-deps.sh [build|serve|test|fuzz|bench]..." >&2; exit 2 ;;
  esac
done

missing=()
for p in $(printf '%s\n' "${packages[@]}" | sort -u); do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

exec "$(dirname "$0")/apt-install.sh" "${missing[@]}"

#!/usr/bin/env bash
# Installs the Debian packages poolserver needs to build and test, skipping those present.
# Usage: scripts/install-deps.sh        (the one list: compilers, CMake, libraries)
set -euo pipefail

packages=(g++ cmake ninja-build libboost-dev libspdlog-dev nlohmann-json3-dev doctest-dev
  clang libclang-rt-14-dev)  # clang and its libFuzzer/sanitizer runtimes: fuzz/run.sh

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root (or sudo) to install ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"

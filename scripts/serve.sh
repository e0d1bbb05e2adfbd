#!/usr/bin/env bash
# README command 1: install what is missing, build the release binary, start the server.
# Settings come from the environment (PORT, THREADS, STRATEGY, ...) or from flags, which
# are passed on: scripts/serve.sh --threads 3 --strategy p2c (see --help and docs/configuration.md).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh serve  # no clang, no benchmark libraries
cmake --preset release >/dev/null
cmake --build --preset release --target poolserver poolactor  # poolactor: docs/remote-actors.md
exec build/release/server/poolserver "$@"

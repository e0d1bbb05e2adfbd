#!/usr/bin/env bash
# Builds the release preset and writes docs/reliability.md: overload, drain under load,
# vanishing and slow clients, deadlines and hostile input against the real binary on
# 127.0.0.1 (tests/reliability_report.cpp). Bounded: about a minute. Fails if any request
# was lost.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target poolserver_reliability
mkdir -p docs
RELIABILITY_REPORT=docs/reliability.md build/release/tests/poolserver_reliability
cat docs/reliability.md

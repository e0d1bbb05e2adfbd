#!/usr/bin/env bash
# Measures what the cancellation checks cost square_sum and writes docs/cancel-overhead.md.
#   bench/cancel_overhead.sh [REPETITIONS]   (default 9)
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-9}
scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target poolserver_cancel_bench >/dev/null
{
  echo "# What cancellation costs the kernel"
  echo
  echo "Written by \`bench/cancel_overhead.sh $reps\` ($(nproc) cores, $(date -u +%F)): \`square_sum(n)\`"
  echo "against \`square_sum(n, token)\`, which looks at its cancel token (a relaxed load and a"
  echo "clock read) every 262144 terms. Medians of $reps interleaved samples each."
  echo
  build/release/bench/poolserver_cancel_bench "$reps"
} > docs/cancel-overhead.md
cat docs/cancel-overhead.md

#!/usr/bin/env bash
# Compares WORKER_NICE values by the p99 latency of 503 answers under overload (the
# overload test: 32 connections x 50 requests of /2000000 against THREADS=2
# QUEUE_CAPACITY=4, on loopback). Prints each run and the median per value, and writes
# docs/worker-nice.md. Usage: bench/worker_nice.sh [RUNS]   (default 12 runs per value)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-12}
scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target poolserver_load_tests >/dev/null

median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.2f\n", (a[NR/2]+a[NR/2+1])/2}'; }

out=docs/worker-nice.md
{
  echo "# WORKER_NICE and the latency of rejections"
  echo
  echo "Written by \`bench/worker_nice.sh $runs\` on $(nproc) cores ($(date -u +%F)). Each run is the"
  echo "overload test (\`tests/overload_test.cpp\`): 32 keep-alive connections send 50 requests"
  echo "of \`/2000000\` each to \`THREADS=2 QUEUE_CAPACITY=4\`, so most answers are 503; the"
  echo "value is the p99 latency of the 503s as the client saw it. Runs are interleaved, one"
  echo "value after the other, so machine noise falls on all of them alike."
  echo
  echo "| WORKER_NICE | runs (p99 of 503s, ms) | median | ratio to nice 0 |"
  echo "| --- | --- | --- | --- |"
} > "$out"

declare -A samples
for _ in $(seq "$runs"); do
  for n in 0 10 19; do
    v=$(WORKER_NICE=$n build/release/tests/poolserver_load_tests -tc='overload*' 2>&1 |
        sed -n 's/.*503 p99 \([0-9.]*\) ms.*/\1/p')
    samples[$n]="${samples[$n]:-} $v"
  done
done
base=$(tr ' ' '\n' <<<"${samples[0]}" | grep . | median)
for n in 0 10 19; do
  m=$(tr ' ' '\n' <<<"${samples[$n]}" | grep . | median)
  ratio=$(awk -v a="$m" -v b="$base" 'BEGIN {printf "%.2f", a / b}')
  list=$(tr ' ' '\n' <<<"${samples[$n]}" | grep . | xargs printf '%.1f ')
  echo "| $n | $list| $m | $ratio |" >> "$out"
done
cat "$out"

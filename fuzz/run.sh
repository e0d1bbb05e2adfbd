#!/usr/bin/env bash
# Builds the libFuzzer targets (the `fuzz` preset: clang, ASan + UBSan) and runs each one
# for a bounded time on a scratch copy of its seed corpus (fuzz/corpus/<name>/ is never
# written to). Exits non-zero when any target crashes, leaks, times out or runs out of
# memory; the input that did it is kept under build/fuzz/crashes/ (FUZZ_CRASH_DIR).
#
# Usage: fuzz/run.sh [SECONDS]        seconds per target, default 20
# Prints one line per target, then "N passed, M failed".
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-20}
if ! [[ $seconds =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: fuzz/run.sh [SECONDS]  (a positive whole number of seconds per target)" >&2
  exit 2
fi
crash_dir=${FUZZ_CRASH_DIR:-build/fuzz/crashes}

scripts/install-deps.sh serve fuzz  # clang and its libFuzzer runtime, only here
echo "=== fuzz: configure and build" >&2
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "$(nproc)"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$crash_dir"

# target and -max_len: inputs up to a little over the header limit for raw HTTP (8 KiB,
# server/session.hpp); a few KiB is plenty for a request line or a JSON-RPC body, and for
# an actor stream (fuzz_actor's framer limit is 256 bytes, so that inputs reach it).
# fuzz_connection expands runs (0xFF c k: c written k*300 times), so 4 KiB of input is a
# stream of many requests, or one with a body and a trailer at their limits.
targets=("route 4096" "rpc 4096" "http 12288" "connection 4096" "actor 4096")
passed=0
failed=0
for entry in "${targets[@]}"; do
  read -r name max_len <<<"$entry"
  corpus="$work/$name"
  cp -r "fuzz/corpus/$name" "$corpus"
  log="$work/$name.log"
  echo "=== fuzz: $name for ${seconds}s" >&2
  rc=0
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    "build/fuzz/fuzz/fuzz_$name" "$corpus" \
    -max_total_time="$seconds" -max_len="$max_len" -timeout=5 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$crash_dir/$name-" >"$log" 2>&1 || rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  if [ -z "$runs" ]; then  # a crash prints no final stats: take the last progress line
    runs=$(grep -o '^#[0-9]*' "$log" | tail -n 1 | tr -d '#' || true)
  fi
  corpus_size=$(find "$corpus" -type f | wc -l)
  if [ "$rc" -eq 0 ]; then
    passed=$((passed + 1))
    printf 'fuzz_%s: %s runs in %ss, corpus %s inputs: ok\n' "$name" "${runs:-?}" "$seconds" \
      "$corpus_size"
  else
    failed=$((failed + 1))
    tail -n 60 "$log" >&2
    printf 'fuzz_%s: %s runs: CRASH (exit %s); input saved as %s\n' "$name" "${runs:-?}" "$rc" \
      "$(grep -o "$crash_dir/$name-[^ ]*" "$log" | tail -n 1 || true)"
  fi
done

echo "fuzz targets: $passed clean, $failed crashed"
[ "$failed" -eq 0 ]

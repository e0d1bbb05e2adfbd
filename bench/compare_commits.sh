#!/usr/bin/env bash
# Is the request path slower than at an older commit? Builds poolserver at REV in a
# temporary git worktree (release preset), then runs it and the working tree's release
# binary in turn, RUNS times each, under `wrk -t1 -c50 -d4s` on PATH (loopback, THREADS=2,
# ADMISSION=static),
# and prints each run, the medians of requests/s and of p99 latency, and their ratios
# (this tree / REV).
#
#   bench/compare_commits.sh REV [PATH] [RUNS]     # e.g. bench/compare_commits.sh 95b1c6e /0 5
#
# OLD_BINARY=path/to/poolserver skips the build: that binary stands for REV.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: bench/compare_commits.sh REV [PATH] [RUNS]" >&2; exit 2; }
rev=$1
path=${2:-/0}
runs=${3:-5}
new=build/release/server/poolserver
[ -x "$new" ] || { echo "build the release preset first ($new is missing)" >&2; exit 1; }
command -v wrk >/dev/null || scripts/apt-install.sh wrk

if [ -n "${OLD_BINARY:-}" ]; then
  old=$OLD_BINARY  # REV's poolserver, built already (REV then only names it)
else
  tree=$(mktemp -d)
  trap 'git worktree remove --force "$tree" 2>/dev/null || rm -rf "$tree"' EXIT
  git worktree add -q --detach "$tree" "$rev"
  (cd "$tree" && cmake --preset release >/dev/null && cmake --build --preset release --target poolserver >/dev/null)
  old=$tree/build/release/server/poolserver
fi
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# One run: start the binary, wait for /healthz, load it, stop it; prints requests/s and the
# p99 latency in microseconds.
run() {
  # ADMISSION=static: wrk's 50 connections keep a standing queue that adaptive admission
  # answers 503 at once, and those would count as requests served (bench/suite.py does the
  # same; docs/overload.md measures admission itself).
  PORT=$port HOST=127.0.0.1 THREADS=2 LOG_LEVEL=warn ADMISSION=static "$1" >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.05; done
  wrk -t1 -c50 -d4s --latency "http://127.0.0.1:$port$path" | awk '
    function us(t) {  # wrk prints 812.00us, 1.25ms or 2.01s
      if (t ~ /us$/) return t + 0; if (t ~ /ms$/) return t * 1000; if (t ~ /s$/) return t * 1e6
      return t * 60e6 }
    $1 == "99%" { p99 = us($2) } /Requests\/sec/ { rps = $2 } END { print rps, p99 }'
  kill -TERM "$pid"
  wait "$pid" || { echo "poolserver exited non-zero" >&2; exit 1; }
}
results=()
for i in $(seq "$runs"); do
  a=$(run "$old"); b=$(run "$new")
  echo "run $i: $rev ${a% *} req/s p99 ${a#* } us, this tree ${b% *} req/s p99 ${b#* } us" >&2
  results+=("$a $b")
done
printf '%s\n' "${results[@]}" | python3 -c '
import statistics, sys
rows = [tuple(map(float, l.split())) for l in sys.stdin if l.strip()]
med = lambda k: statistics.median(r[k] for r in rows)
old, old_p99, new, new_p99 = med(0), med(1), med(2), med(3)
print(f"GET '"$path"', THREADS=2, wrk -t1 -c50 -d4s, {len(rows)} alternating runs (medians): "
      f"'"$rev"' {old:.0f} req/s p99 {old_p99:.0f} us, this tree {new:.0f} req/s p99 "
      f"{new_p99:.0f} us: ratio {new / old:.3f} req/s, {new_p99 / old_p99:.3f} p99")'

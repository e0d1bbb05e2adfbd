#!/usr/bin/env bash
# A bounded load test on loopback: starts the release poolserver on 127.0.0.1, runs
# autocannon (from npm) against one path for a fixed time, prints the pool's counters,
# then stops the server with SIGTERM and reports its exit status.
#
#   bench/load.sh [PATH] [CONNECTIONS] [SECONDS]       default: /1000000 50 10
#   THREADS=2 STRATEGY=leastbusy bench/load.sh /0 50 5   server settings from the environment
set -euo pipefail
cd "$(dirname "$0")/.."

path=${1:-/1000000}
connections=${2:-50}
seconds=${3:-10}
port=${BENCH_PORT:-18337}
autocannon=autocannon@8.0.0  # pinned, so runs compare

if [ ! -x build/release/server/poolserver ]; then
  scripts/install-deps.sh
  cmake --preset release >/dev/null
  cmake --build --preset release --target poolserver
fi
command -v npx >/dev/null || { echo "load.sh: needs node and npm (apt-get install nodejs npm)" >&2; exit 1; }

PORT=$port HOST=127.0.0.1 LOG_LEVEL=${LOG_LEVEL:-warn} build/release/server/poolserver &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done

echo "== autocannon -c $connections -d $seconds http://127.0.0.1:$port$path" \
     "(THREADS=${THREADS:-cores} STRATEGY=${STRATEGY:-roundrobin})"
npx --yes "$autocannon" -c "$connections" -d "$seconds" "http://127.0.0.1:$port$path"

echo "== pool counters after the run"
curl -fs "http://127.0.0.1:$port/metrics" |
  grep -E '^poolserver_(jobs_(produced|completed|failed)_total|producer_waits_total|consumer_waits_total|rejections_total|http_responses_total|worker_jobs_completed_total)'

kill -TERM "$pid"
status=0
wait "$pid" || status=$?
trap - EXIT
echo "== server exit status after SIGTERM: $status"

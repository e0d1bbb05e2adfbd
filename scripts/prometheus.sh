#!/usr/bin/env bash
# Prometheus for real, on 127.0.0.1 without containers: poolserver's /metrics, the alerting
# rules (deploy/alerts.yml, tested by deploy/alerts_test.yml), the Compose Prometheus config
# and the Grafana dashboard must agree with each other and with a real Prometheus. Checks:
#   a. a poolserver on an ephemeral port gets REQUESTS (37) GET /1000, each must be answered
#      200 with the right sum; its /metrics must say 37 jobs produced and pass
#      `promtool check metrics` with nothing printed (a lint warning is a failure too);
#   b. promtool check rules deploy/alerts.yml, test rules deploy/alerts_test.yml (each alert
#      fires on a bad series and not on calm ones), check config deploy/prometheus.yml, the
#      rule and config checks with every lint made fatal;
#   c. a real Prometheus scraping that poolserver every second, with deploy/alerts.yml loaded:
#      sum(poolserver_jobs_produced_total) must reach exactly 37, up must be 1, the five
#      alerts must be loaded and evaluated, and none firing or pending on the calm server;
#   d. every metric name used by the alerts (as Prometheus loaded them) and by the dashboard
#      (deploy/grafana/dashboards/poolserver.json: panels, variables, annotations) must exist
#      in the scrape of a (`up` and `ALERTS` are Prometheus's own), and every dashboard query
#      must run in that Prometheus, each panel's with data.
# Installs prometheus (promtool comes with it), python3 and curl if missing (apt-get,
# non-interactive; the package's service is kept from starting), builds the release binary if
# missing. About 10 s, at most DEADLINE seconds (default 60) whatever happens. Exits non-zero
# with "prometheus: FAILED: <what>"; every process it started is stopped on exit, failure
# included.
#
#   scripts/prometheus.sh
#
# Environment: REQUESTS (default 37), DEADLINE (default 60).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh  # install_commands, stop_groups, show_logs

usage() { echo "usage: scripts/prometheus.sh [--help]   (environment: REQUESTS, DEADLINE)"; }
while [ $# -gt 0 ]; do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
requests=${REQUESTS:-37}
deadline=${DEADLINE:-60}
[[ "$requests" =~ ^[1-9][0-9]{0,4}$ ]] || { echo "REQUESTS: 1 to 99999" >&2; exit 2; }
[[ "$deadline" =~ ^[1-9][0-9]{0,3}$ ]] || { echo "DEADLINE: seconds, 1 to 9999" >&2; exit 2; }

say() { echo "[prometheus] $*" >&2; }
fail() { echo "prometheus: FAILED: $*" >&2; exit 1; }

# --- what it needs -------------------------------------------------------------------------
# (the package's own service, on :9090, is kept from starting: scripts/apt-install.sh)
install_commands prometheus:prometheus,promtool python3 curl ||
  fail "could not install what it needs (above)"

bin=build/release/server/poolserver
if [ ! -x "$bin" ]; then
  say "building the release binary"
  scripts/install-deps.sh
  cmake --preset release >/dev/null
  cmake --build --preset release --target poolserver
fi

# --- processes, cleanup, the deadline ------------------------------------------------------
started=$(date +%s.%N)
life=$((deadline + 30)) # every process started here is killed after this whatever happens
work=$(mktemp -d)
declare -a wrappers=() # pids of the `timeout` wrappers of poolserver and Prometheus
watchdog=""
helper="" # pid of the running Python step's `timeout` wrapper

cleanup() {
  local status=$?
  trap - EXIT INT TERM USR1
  [ -z "$watchdog" ] || kill -TERM "$watchdog" 2>/dev/null || true
  [ -z "$helper" ] || kill -TERM "$helper" 2>/dev/null || true
  stop_groups "${wrappers[@]}"
  [ "$status" = 0 ] || show_logs "$work"
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# The watchdog signals this script after DEADLINE seconds; bash runs the trap as soon as the
# command running then returns (each one is bounded by its own, shorter, timeout).
trap 'fail "not finished within DEADLINE=$deadline s (the step above did not finish)"' USR1
python3 -c 'import os, signal, sys, time
time.sleep(float(sys.argv[1])); os.kill(int(sys.argv[2]), signal.SIGUSR1)' \
  "$deadline" "$$" &
watchdog=$!

# The client side: tools/prometheus_check.py (standard library only). In the background and
# waited for, so that a signal (the deadline's included) runs its trap at once: bash runs traps
# only between foreground commands. Results in $work/out (read them with `out`), why it failed
# in $work/why (for fail's message: `why`).
py() {
  timeout -k 2 30 python3 tools/prometheus_check.py "$@" >"$work/out" 2>"$work/why" &
  helper=$!
  local rc=0
  wait "$helper" || rc=$?
  helper=""
  return "$rc"
}
out() { cat "$work/out"; }
why() { [ -s "$work/why" ] && tr '\n' ' ' <"$work/why" | sed 's/ *$//' || echo "no message (timed out?)"; }
alerts=deploy/alerts.yml
dashboard=deploy/grafana/dashboards/poolserver.json

# --- a. poolserver, a known number of requests, its /metrics linted ----------------------------
# ACTOR_PORT=0: the actor families (poolserver_actors, ...) exist without any actor connected.
PORT=0 HOST=127.0.0.1 THREADS=2 ACTOR_PORT=0 DRAIN_TIMEOUT_MS=1000 LOG_LEVEL=info \
  timeout -k 5 "$life" "$bin" >"$work/poolserver.log" 2>&1 &
server_wrapper=$!
wrappers+=($!)
py listening "$work/poolserver.log" "$server_wrapper" 10 ||
  fail "a: poolserver did not start: $(why)"
port=$(out)
py load "127.0.0.1:$port" "$requests" 1000 || fail "a: $requests x GET /1000 to poolserver: $(why)"
loaded=$(out)
say "a. poolserver on 127.0.0.1:$port (THREADS=2, ACTOR_PORT=0); $requests x GET /1000: $loaded"
curl -fsS --max-time 5 -o "$work/metrics.txt" "http://127.0.0.1:$port/metrics" ||
  fail "a: GET /metrics"
py scrape-value "$work/metrics.txt" poolserver_jobs_produced_total || fail "a: $(why)"
read -r produced families series <<<"$(out)"
[ "$produced" = "$requests" ] ||
  fail "a: /metrics says poolserver_jobs_produced_total $produced after $requests requests"
lint_rc=0
lint=$(timeout 20 promtool check metrics <"$work/metrics.txt" 2>&1) || lint_rc=$?
if [ "$lint_rc" != 0 ] || [ -n "$lint" ]; then
  fail "a: promtool check metrics (exit $lint_rc) on /metrics: ${lint:-no output}"
fi
say "   /metrics: $(wc -l <"$work/metrics.txt") lines, $families families, $series sample names; poolserver_jobs_produced_total $produced; promtool check metrics: no problems"

# --- b. promtool on the rules, their tests and the Compose config ------------------------------
promtool_ok() { # the promtool arguments; prints promtool's output on failure
  local out rc=0
  out=$(timeout 30 promtool "$@" 2>&1) || rc=$?
  [ "$rc" = 0 ] || fail "b: promtool $* (exit $rc):
$out"
  printf '%s\n' "$out"
}
rules_out=$(promtool_ok check rules --lint=all --lint-fatal "$alerts") || exit 1
tests_out=$(promtool_ok test rules deploy/alerts_test.yml) || exit 1
config_out=$(promtool_ok check config --lint=all --lint-fatal deploy/prometheus.yml) || exit 1
grep -q SUCCESS <<<"$tests_out" || fail "b: promtool test rules printed no SUCCESS: $tests_out"
say "b. promtool check rules $alerts: $(grep -o '[0-9]* rules found' <<<"$rules_out" | head -n 1); test rules deploy/alerts_test.yml: SUCCESS; check config deploy/prometheus.yml: $(grep -o 'SUCCESS: [0-9]* rule files found' <<<"$config_out")"

# --- c. a real Prometheus scraping it every second, with the alerts ---------------------------
py port || fail "c: no free port: $(why)"
prom_port=$(out)
prom="http://127.0.0.1:$prom_port"
job=poolserver
cat >"$work/prometheus.yml" <<EOF
# Generated by scripts/prometheus.sh: the poolserver above, every second.
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - "$PWD/$alerts"
scrape_configs:
  - job_name: $job
    static_configs:
      - targets: ["127.0.0.1:$port"]
EOF
prom_started=$(date +%s.%N)
timeout -k 5 "$life" prometheus --config.file="$work/prometheus.yml" \
  --storage.tsdb.path="$work/tsdb" --web.listen-address="127.0.0.1:$prom_port" \
  >"$work/prometheus.log" 2>&1 &
prom_wrapper=$!
wrappers+=($!)
prom_version=$(prometheus --version 2>&1 | sed -n '1s/^prometheus, version \([^ ]*\).*/\1/p')
py wait-ready "$prom" "$prom_wrapper" 15 "$prom_started" ||
  fail "c: Prometheus did not get ready: $(why)"
ready_s=$(out)
counter="sum(poolserver_jobs_produced_total{job=\"$job\"})"
py poll "$prom" "$counter" "$requests" 20 ||
  fail "c: Prometheus never saw exactly $requests jobs produced: $(why)"
read -r got after_s <<<"$(out)"
say "c. Prometheus $prom_version on 127.0.0.1:$prom_port (scrapes every 1 s), ready $ready_s s after its start; $counter = $got ($requests requests sent), seen $after_s s after ready"
check_rc=0
py check "$prom" --job "$job" --alerts "$alerts" --metrics "$work/metrics.txt" \
  --dashboard "$dashboard" --seconds 15 || check_rc=$?
while IFS= read -r line; do say "$line"; done <"$work/out"
[ "$check_rc" = 0 ] || fail "$(why)"

end=$(date +%s.%N)
say "all checks passed in $(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$started" "$end") s (installing and building not counted)"

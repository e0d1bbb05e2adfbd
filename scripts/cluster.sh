#!/usr/bin/env bash
# Three poolservers behind HAProxy (deploy/haproxy.cfg) on 127.0.0.1, and three checks:
#   a. every server receives work: requests through HAProxy, then each server's
#      poolserver_jobs_produced_total must be > 0;
#   b. stopping a server under load loses nothing: keep-alive load through HAProxy, SIGTERM
#      one server part-way; every request must get one 200 with its own value, and the
#      stopped server must exit 0 (then it is restarted and must come back into rotation);
#   c. what the cluster serves against one server: wrk on /20000 and /0, one poolserver
#      directly against HAProxy with three, medians and their ratio.
# Installs haproxy, wrk and python3 if missing (apt-get, non-interactive), builds the release
# binary if missing. Exits non-zero with a message naming the check that failed; every
# process it started is stopped on exit, failure included.
#
#   scripts/cluster.sh                 # full: b with each server in turn, c 3 runs x 3 s;
#                                      # writes docs/cluster.md (about a minute)
#   scripts/cluster.sh --quick         # CI: a, b once, c 1 run x 1 s (about 10 s)
#   scripts/cluster.sh --out FILE      # the markdown report to FILE (either mode)
#
# Environment: THREADS (each poolserver's workers, default 1: three servers share the
# machine), DRAIN_TIMEOUT_MS (default 10000).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh  # install_commands, stop_groups, show_logs

usage() { echo "usage: scripts/cluster.sh [--quick] [--out FILE]"; }
quick=0
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --out) [ $# -ge 2 ] || { usage >&2; exit 2; }; out=$2; shift ;;
    --out=*) out=${1#--out=} ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
  shift
done
command_line="scripts/cluster.sh"
[ "$quick" = 0 ] || command_line+=" --quick"
[ -z "$out" ] || command_line+=" --out $out"
[ "$quick" = 1 ] || [ -n "$out" ] || out=docs/cluster.md

say() { echo "[cluster] $*" >&2; }
fail() { echo "cluster: FAILED: $*" >&2; exit 1; }

# --- what it needs -------------------------------------------------------------------------
install_commands haproxy wrk python3 || fail "could not install what it needs (above)"

bin=build/release/server/poolserver
if [ ! -x "$bin" ]; then
  say "building the release binary"
  scripts/install-deps.sh
  cmake --preset release >/dev/null
  cmake --build --preset release --target poolserver
fi

threads=${THREADS:-1}
drain_ms=${DRAIN_TIMEOUT_MS:-10000}
life=900 # every process started here is killed after this many seconds whatever happens

loadavg_start=$(cat /proc/loadavg)
work=$(mktemp -d)
declare -a wrappers=() # pids of the `timeout` wrappers this script started
declare -A server_wrapper=() server_port=()
haproxy_wrapper=""
helper="" # pid of the running Python step's `timeout` wrapper

forget() { # $1 = a wrapper that has exited and been waited for: its pid may be reused
  local kept=() pid
  for pid in "${wrappers[@]}"; do [ "$pid" = "$1" ] || kept+=("$pid"); done
  wrappers=("${kept[@]}")
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  # A `timeout` wrapper passes the signal on to its whole process group (wrk included).
  [ -z "$helper" ] || kill -TERM "$helper" 2>/dev/null || true
  stop_groups "${wrappers[@]}" $helper
  [ "$status" = 0 ] || show_logs "$work"
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The measuring side: tools/cluster.py (standard library only). In the background and waited
# for, so that a signal to this script runs cleanup at once (bash runs traps only between
# foreground commands); cleanup stops it by its pid.
py() {
  timeout -k 5 120 python3 tools/cluster.py "$@" &
  helper=$!
  local rc=0
  wait "$helper" || rc=$?
  helper=""
  return "$rc"
}
results=$work/results
mkdir -p "$results"

# --- start three poolservers and HAProxy ----------------------------------------------------
read -r p1 p2 p3 front stats_port < <(py ports 5)
server_port=([1]=$p1 [2]=$p2 [3]=$p3)
maxconn=32
stats_url="http://127.0.0.1:$stats_port/stats"
front_url="http://127.0.0.1:$front"

start_server() { # $1 = 1..3
  PORT=${server_port[$1]} HOST=127.0.0.1 THREADS=$threads DRAIN_TIMEOUT_MS=$drain_ms \
    LOG_LEVEL=info timeout -k 5 "$life" "$bin" >>"$work/poolserver$1.log" 2>&1 &
  server_wrapper[$1]=$!
  wrappers+=($!)
  py wait "http://127.0.0.1:${server_port[$1]}/healthz" 10 "${server_wrapper[$1]}" ||
    fail "poolserver$1 did not start"
}
for i in 1 2 3; do start_server "$i"; done

FRONTEND_BIND=127.0.0.1:$front STATS_BIND=127.0.0.1:$stats_port POOL_MAXCONN=$maxconn \
  POOL1_ADDR=127.0.0.1:$p1 POOL2_ADDR=127.0.0.1:$p2 POOL3_ADDR=127.0.0.1:$p3 \
  timeout -k 5 "$life" haproxy -db -f deploy/haproxy.cfg >"$work/haproxy.log" 2>&1 &
haproxy_wrapper=$!
wrappers+=($!)
py wait "$front_url/healthz" 10 "$haproxy_wrapper" || fail "HAProxy did not start"
py wait-state "$stats_url" UP 10 poolserver1 poolserver2 poolserver3 ||
  fail "HAProxy does not see the three poolservers UP"
say "poolservers on 127.0.0.1:$p1 $p2 $p3 (THREADS=$threads), HAProxy on $front_url"

# --- a. every server receives work ----------------------------------------------------------
say "a. 300 requests through HAProxy"
py load --target "127.0.0.1:$front" --conns 6 --per-conn 50 --base 20000 \
  --json "$work/a_load.json" || fail "a: not every request through HAProxy was answered 200"
py spread --load "$work/a_load.json" --conns 6 --json "$results/a.json" \
  "http://127.0.0.1:$p1/metrics" "http://127.0.0.1:$p2/metrics" "http://127.0.0.1:$p3/metrics" ||
  fail "a: a poolserver received no work (jobs produced above)"

# --- b. stopping a server under load loses no accepted request ---------------------------------
stat_sum() { # $1 = CSV column: its total over the backend's servers now
  py stats-sum "$stats_url" "$1"
}
if [ "$quick" = 1 ]; then order=(2); else order=(2 3 1); fi
round=0
for victim in "${order[@]}"; do
  round=$((round + 1))
  wrapper=${server_wrapper[$victim]}
  server_pid=$(pgrep -P "$wrapper") || fail "b: no process under poolserver$victim's wrapper"
  log_lines0=$(wc -l <"$work/haproxy.log")
  server_log_lines0=$(wc -l <"$work/poolserver$victim.log")
  retries0=$(stat_sum wretr)
  redisp0=$(stat_sum wredis)
  say "b$round. 8 x 250 requests through HAProxy, SIGTERM to poolserver$victim after 500 answers"
  load_rc=0
  py load --target "127.0.0.1:$front" --conns 8 --per-conn 250 --base 200000 \
    --kill-pid "$server_pid" --kill-after 500 --exit-wait $((drain_ms / 1000 + 5)) \
    --json "$work/b_load.json" || load_rc=$?
  # The stopped server must have drained and exited 0 (bounded by its drain timeout).
  for _ in $(seq $((drain_ms / 100 + 50))); do
    kill -0 "$wrapper" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$wrapper" 2>/dev/null && fail "b: poolserver$victim still running $((drain_ms / 1000 + 5)) s after SIGTERM"
  exit_status=0
  wait "$wrapper" || exit_status=$?
  forget "$wrapper"
  retries=$(($(stat_sum wretr) - retries0))
  redispatches=$(($(stat_sum wredis) - redisp0))
  # HAProxy's reason for taking it out of rotation, and what the server said on SIGTERM.
  down_reason=$(tail -n +"$((log_lines0 + 1))" "$work/haproxy.log" |
    grep -a -m 1 "poolservers/poolserver$victim is DOWN" |
    sed -n 's/.*reason: \([^,]*\), info: "\([^"]*\)".*/\1: \2/p') || true
  drain_line=$(tail -n +"$((server_log_lines0 + 1))" "$work/poolserver$victim.log" |
    grep -a -m 1 -o 'draining: listener closed, [0-9]* connection(s)') || true
  say "   poolserver$victim exited with status $exit_status (${drain_line:-no drain line}); HAProxy: $retries retries, $redispatches redispatches, DOWN by ${down_reason:-?}"
  py round --load "$work/b_load.json" --json "$results/b$round.json" \
    --stopped "poolserver$victim" --conns 8 --per-conn 250 --base 200000 \
    --exit-status "$exit_status" --retries "$retries" --redispatches "$redispatches" \
    --down-reason="$down_reason" --drain-line="$drain_line"
  [ "$load_rc" = 0 ] || fail "b: stopping poolserver$victim under load: not every request got a 200 with its own value (above)"
  [ "$exit_status" = 0 ] || fail "b: poolserver$victim exited with status $exit_status after SIGTERM, not 0"
  # Back into rotation: restart it on the same port; HAProxy's checks must see it UP.
  start_server "$victim"
  py wait-state "$stats_url" UP 10 "poolserver$victim" || fail "b: restarted poolserver$victim not back UP in HAProxy"
done

# --- c. one server against HAProxy with three ----------------------------------------------------
if [ "$quick" = 1 ]; then runs=1 seconds=1 warmup=0; else runs=3 seconds=3 warmup=1; fi
say "c. wrk -t1 -c32 -d${seconds}s, one server against HAProxy with three, $runs run(s) each"
py compare --one "http://127.0.0.1:$p1" --cluster "$front_url" --paths /20000 /0 --conns 32 \
  --seconds "$seconds" --warmup "$warmup" --runs "$runs" --json "$results/c.json" ||
  fail "c: a wrk run failed or saw errors"

# --- report ----------------------------------------------------------------------------------
if [ -n "$out" ]; then
  cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
  loadavg=$(cut -d' ' -f1-3 <<<"$loadavg_start")
  py meta --json "$results/meta.json" --command="$command_line" --cpu="$cpu" \
    --loadavg "$loadavg" --threads "$threads" --drain-ms "$drain_ms" --maxconn "$maxconn" \
    --haproxy "$(haproxy -v | head -n 1 | cut -d' ' -f1-3)" \
    --wrk "$(wrk -v 2>&1 | head -n 1 | cut -d' ' -f1-2)" \
    --commit "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  py report --results "$results" --out "$out"
  say "report written to $out"
fi
say "all checks passed"

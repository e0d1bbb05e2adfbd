#!/usr/bin/env bash
# Three poolservers behind HAProxy (deploy/haproxy.cfg) on 127.0.0.1, HAProxy reading each
# one's weight from its agent-check (AGENT_PORT), and four checks:
#   a. every server receives work: requests through HAProxy, then each server's
#      poolserver_jobs_produced_total must be > 0;
#   b. stopping a server under load loses nothing: keep-alive load through HAProxy, SIGTERM
#      one server part-way; HAProxy must put it in DRAIN through its agent, every request
#      must get one 200 with its own value, and the stopped server must exit 0 (then it is
#      restarted and must come back into rotation);
#   c. what the cluster serves against one server: wrk on /20000 and /0, one poolserver
#      directly against HAProxy with three, medians and their ratio;
#   d. load feedback: three more poolservers, one with an eighth of the others' workers, and
#      open-loop load through HAProxy that gives the small one 3x what it can serve if
#      shared evenly; HAProxy must lower its weight (from its agent) and send it less than
#      each of the others. In full mode also with agent-check off (a second HAProxy), to
#      compare what each server was sent and how many 503s the servers answered.
# Installs haproxy, wrk and python3 if missing (apt-get, non-interactive), builds the release
# binary if missing. Exits non-zero with a message naming the check that failed; every
# process it started is stopped on exit, failure included.
#
#   scripts/cluster.sh                 # full: b with each server in turn, c 3 runs x 3 s,
#                                      # d 3 runs x 8 s with and without agent-check;
#                                      # writes docs/cluster.md (about three minutes)
#   scripts/cluster.sh --quick         # CI: a, b once, c 1 run x 1 s, d once x 2.5 s with
#                                      # agent-check (about 15 s)
#   scripts/cluster.sh --out FILE      # the markdown report to FILE (either mode)
#
# Environment: THREADS (each poolserver's workers in a-c, default 1: three servers share the
# machine), DRAIN_TIMEOUT_MS (default 10000). d's job: FEEDBACK_JOB_MS (default 20) and
# FEEDBACK_PATH (default /sleep_ms?n=FEEDBACK_JOB_MS: a job that waits, not computes, so
# that capacity is THREADS / its time even on two cores), KINDS for its servers (default
# square_sum,sleep_ms); d fails when the path does not answer 200.
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
loadgen=build/release/bench/poolserver-loadgen
if [ ! -x "$bin" ] || [ ! -x "$loadgen" ]; then
  say "building the release binaries"
  scripts/install-deps.sh
  cmake --preset release >/dev/null
  cmake --build --preset release --target poolserver poolserver-loadgen
fi

threads=${THREADS:-1}
drain_ms=${DRAIN_TIMEOUT_MS:-10000}
job_ms=${FEEDBACK_JOB_MS:-20}
feedback_path=${FEEDBACK_PATH:-/sleep_ms?n=$job_ms}
kinds=${KINDS:-square_sum,sleep_ms}
life=900 # every process started here is killed after this many seconds whatever happens

loadavg_start=$(cat /proc/loadavg)
work=$(mktemp -d)
declare -a wrappers=() # pids of the `timeout` wrappers this script started
declare -A server_wrapper=() server_port=() agent_port=() server_threads=() server_nice=()
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
# Servers 1-3 serve a-c; 4-6 serve d, with two HAProxy instances of their own (agent-check on
# and, in full mode, off). All the ports at once, so that none is picked twice.
read -r p1 p2 p3 p4 p5 p6 g1 g2 g3 g4 g5 g6 front stats_port d_front d_stats d_front_off \
  d_stats_off < <(py ports 18)
server_port=([1]=$p1 [2]=$p2 [3]=$p3 [4]=$p4 [5]=$p5 [6]=$p6)
agent_port=([1]=$g1 [2]=$g2 [3]=$g3 [4]=$g4 [5]=$g5 [6]=$g6)
server_threads=([1]=$threads [2]=$threads [3]=$threads [4]=8 [5]=8 [6]=1)
server_nice=([4]=0 [5]=0 [6]=0) # d's, below
maxconn=32
stats_url="http://127.0.0.1:$stats_port/stats"
front_url="http://127.0.0.1:$front"

# The servers b stops, in turn (each is restarted after).
if [ "$quick" = 1 ]; then order=(2); else order=(2 3 1); fi
# AGENT_DRAIN_MS: on SIGTERM the agent answers drain for 1 s (two of HAProxy's agent-inter)
# before the listener closes, for the servers b stops; the others are stopped only when
# the script ends, where nobody needs that second.
declare -A drain_notice=()
for i in "${order[@]}"; do drain_notice[$i]=1000; done
launch_server() { # $1 = 1..6; wait_started waits for it
  PORT=${server_port[$1]} HOST=127.0.0.1 THREADS=${server_threads[$1]} \
    DRAIN_TIMEOUT_MS=$drain_ms AGENT_PORT=${agent_port[$1]} \
    AGENT_DRAIN_MS=${drain_notice[$1]:-0} \
    KINDS=$kinds WORKER_NICE=${server_nice[$1]:-10} LOG_LEVEL=info timeout -k 5 "$life" "$bin" >>"$work/poolserver$1.log" 2>&1 &
  server_wrapper[$1]=$!
  wrappers+=($!)
}
wait_started() { # $@ = servers launched: each must answer /healthz within 10 s
  local i args=()
  for i in "$@"; do args+=("http://127.0.0.1:${server_port[$i]}/healthz" "${server_wrapper[$i]}"); done
  py wait-all 10 "${args[@]}" || fail "poolserver $* did not all start"
}

# HAProxy instances launched, as "front stats log wrapper"; wait_haproxies waits for them.
haproxies=()
launch_haproxy() { # $1 = front port, $2 = stats port, $3 = first server (1 or 4), $4 = on|off, $5 = log
  local a=$3 b=$(($3 + 1)) c=$(($3 + 2))
  FRONTEND_BIND=127.0.0.1:$1 STATS_BIND=127.0.0.1:$2 POOL_MAXCONN=$maxconn POOL_AGENT_CHECK=$4 \
    POOL1_ADDR=127.0.0.1:${server_port[$a]} POOL1_AGENT_PORT=${agent_port[$a]} \
    POOL2_ADDR=127.0.0.1:${server_port[$b]} POOL2_AGENT_PORT=${agent_port[$b]} \
    POOL3_ADDR=127.0.0.1:${server_port[$c]} POOL3_AGENT_PORT=${agent_port[$c]} \
    timeout -k 5 "$life" haproxy -db -f deploy/haproxy.cfg >"$work/$5" 2>&1 &
  wrappers+=($!)
  haproxies+=("$1 $2 $5 $!")
}
wait_haproxies() { # each must answer through its frontend and see its three servers UP
  local h front stats log wrapper args=()
  for h in "${haproxies[@]}"; do
    read -r front stats log wrapper <<<"$h"
    args+=("http://127.0.0.1:$front/healthz" "$wrapper")
  done
  py wait-all 10 "${args[@]}" || fail "HAProxy did not start (its log below)"
  for h in "${haproxies[@]}"; do
    read -r front stats log wrapper <<<"$h"
    py wait-state "http://127.0.0.1:$stats/stats" UP 10 poolserver1 poolserver2 poolserver3 ||
      fail "HAProxy ($log) does not see its three poolservers UP"
  done
}

# Everything starts at once: each waits for the others in parallel.
for i in 1 2 3 4 5 6; do launch_server "$i"; done
wait_started 1 2 3 4 5 6
launch_haproxy "$front" "$stats_port" 1 on haproxy.log
launch_haproxy "$d_front" "$d_stats" 4 on haproxy_d.log
[ "$quick" = 1 ] || launch_haproxy "$d_front_off" "$d_stats_off" 4 off haproxy_d_off.log
wait_haproxies
# The agent-check through a real HAProxy: each server's line read and applied.
py wait-agent "$stats_url" 10 poolserver1 poolserver2 poolserver3 ||
  fail "HAProxy did not read each poolserver's agent (AGENT_PORT)"
say "poolservers on 127.0.0.1:$p1 $p2 $p3 (THREADS=$threads, agents on $g1 $g2 $g3), HAProxy on $front_url"

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
  # The agent's drain, as HAProxy logs it: the server left rotation before its listener closed.
  agent_drain=no
  tail -n +"$((log_lines0 + 1))" "$work/haproxy.log" |
    grep -a -q "poolservers/poolserver$victim enters drain state" && agent_drain=yes
  drain_line=$(tail -n +"$((server_log_lines0 + 1))" "$work/poolserver$victim.log" |
    grep -a -m 1 -o 'draining: listener closed, [0-9]* connection(s)') || true
  say "   poolserver$victim exited with status $exit_status (${drain_line:-no drain line}); HAProxy: DRAIN by its agent: $agent_drain, $retries retries, $redispatches redispatches, DOWN by ${down_reason:-?}"
  py round --load "$work/b_load.json" --json "$results/b$round.json" \
    --stopped "poolserver$victim" --conns 8 --per-conn 250 --base 200000 \
    --exit-status "$exit_status" --retries "$retries" --redispatches "$redispatches" \
    --down-reason="$down_reason" --drain-line="$drain_line" --agent-drain "$agent_drain"
  [ "$load_rc" = 0 ] || fail "b: stopping poolserver$victim under load: not every request got a 200 with its own value (above)"
  [ "$exit_status" = 0 ] || fail "b: poolserver$victim exited with status $exit_status after SIGTERM, not 0"
  [ "$agent_drain" = yes ] || fail "b: HAProxy did not put poolserver$victim in DRAIN through its agent"
  # Back into rotation: restart it on the same port; HAProxy's checks must see it UP.
  drain_notice[$victim]=0
  launch_server "$victim"
  wait_started "$victim"
  py wait-state "$stats_url" UP 10 "poolserver$victim" || fail "b: restarted poolserver$victim not back UP in HAProxy"
done

# --- c. one server against HAProxy with three ----------------------------------------------------
if [ "$quick" = 1 ]; then runs=1 seconds=1 warmup=0; else runs=3 seconds=3 warmup=1; fi
say "c. wrk -t1 -c32 -d${seconds}s, one server against HAProxy with three, $runs run(s) each"
py compare --one "http://127.0.0.1:$p1" --cluster "$front_url" --paths /20000 /0 --conns 32 \
  --seconds "$seconds" --warmup "$warmup" --runs "$runs" --json "$results/c.json" ||
  fail "c: a wrk run failed or saw errors"

# --- d. load feedback: one server at 3x its capacity --------------------------------------------
# Capacity = THREADS / job time: servers 4 and 5 have eight workers, 6 one. Shared evenly, the
# rate below gives 6 three times what it serves, and all three 9/17 of what they serve. Their
# workers run at WORKER_NICE=0: a job that sleeps needs no CPU, but a niced thread wakes late
# on a machine busy with anything else, and its server's capacity with it.
rate=$((9 * 1000 / job_ms))
if status=$(py status "http://127.0.0.1:$p4$feedback_path") && [ "$status" = 200 ]; then
  # Quick: the counts start after 1 s, once HAProxy has applied the first weights.
  if [ "$quick" = 1 ]; then d_runs=1 d_seconds=2.5 d_warmup=1; else d_runs=3 d_seconds=8 d_warmup=0; fi
  d_urls=("http://127.0.0.1:$p4/metrics" "http://127.0.0.1:$p5/metrics" "http://127.0.0.1:$p6/metrics")
  say "d. $feedback_path at $rate/s through HAProxy to THREADS=8, 8 and 1, $d_runs run(s) x ${d_seconds}s"
  for run in $(seq "$d_runs"); do
    [ "$run" = 1 ] || py settle 20 "${d_urls[@]}" ||
      fail "d: the agents' weights did not come back to 100% between runs"
    py feedback --loadgen "$loadgen" --port "$d_front" --stats "http://127.0.0.1:$d_stats/stats" \
      --rate "$rate" --path "$feedback_path" --seconds "$d_seconds" --seed "$run" --agent on \
      --warmup "$d_warmup" --check --json "$results/d_on$run.json" "${d_urls[@]}" ||
      fail "d: HAProxy with agent-check did not move load away from the small server (above)"
    [ "$quick" = 0 ] || continue
    py feedback --loadgen "$loadgen" --port "$d_front_off" \
      --stats "http://127.0.0.1:$d_stats_off/stats" --rate "$rate" --path "$feedback_path" \
      --seconds "$d_seconds" --seed "$run" --agent off --json "$results/d_off$run.json" \
      "${d_urls[@]}" || fail "d: the run without agent-check failed (above)"
  done
else
  fail "d: GET $feedback_path answered ${status:-nothing}, not 200 (KINDS=$kinds; FEEDBACK_PATH picks another path)"
fi

# --- report ----------------------------------------------------------------------------------
if [ -n "$out" ]; then
  cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
  loadavg=$(cut -d' ' -f1-3 <<<"$loadavg_start")
  py meta --json "$results/meta.json" --command="$command_line" --cpu="$cpu" \
    --loadavg "$loadavg" --threads "$threads" --drain-ms "$drain_ms" --maxconn "$maxconn" \
    --feedback-path "$feedback_path" --feedback-rate "$rate" \
    --haproxy "$(haproxy -v | head -n 1 | cut -d' ' -f1-3)" \
    --wrk "$(wrk -v 2>&1 | head -n 1 | cut -d' ' -f1-2)" \
    --commit "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  py report --results "$results" --out "$out"
  say "report written to $out"
fi
say "all checks passed"

# Shell helpers shared by scripts/cluster.sh and scripts/prometheus.sh (sourced, not run).

# stop_groups PID...: stops processes started as `setsid timeout ...` wrappers. SIGTERM to
# each (a `timeout` wrapper passes it on to the process it runs), up to 5 s for all to exit,
# then SIGKILL to the process group of each one left (a wrapper leads its own group: the
# group's id is the wrapper's pid).
stop_groups() {
  local pid alive
  for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 50); do
    alive=0
    for pid in "$@"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for pid in "$@"; do
    kill -0 "$pid" 2>/dev/null && { kill -KILL -- "-$pid" 2>/dev/null || true; }
  done
  wait 2>/dev/null || true
}

# show_logs DIR: the last lines of every non-empty DIR/*.log, to stderr (after a failure).
show_logs() {
  local f
  for f in "$1"/*.log; do
    [ -s "$f" ] && { echo "--- last lines of $(basename "$f")" >&2; tail -n 15 "$f" >&2; }
  done
  return 0
}

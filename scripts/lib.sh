# Shell helpers shared by scripts/cluster.sh, scripts/prometheus.sh and
# scripts/lint-python.sh (sourced, not run).

# install_commands PACKAGE[:COMMAND,...]...: installs, with scripts/apt-install.sh, each
# Debian package one of whose commands is not on PATH (a package named alone stands for the
# command of its name: `python3`; `prometheus:prometheus,promtool`). Fails, saying why, when
# the install fails or leaves a command missing.
install_commands() {
  local spec cmd missing=()
  for spec in "$@"; do
    for cmd in $(commands_of "$spec"); do
      command -v "$cmd" >/dev/null || { missing+=("${spec%%:*}"); break; }
    done
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  scripts/apt-install.sh "${missing[@]}" || { echo "could not install ${missing[*]}" >&2; return 1; }
  for spec in "$@"; do
    for cmd in $(commands_of "$spec"); do
      command -v "$cmd" >/dev/null ||
        { echo "the package ${spec%%:*} did not install $cmd" >&2; return 1; }
    done
  done
}
commands_of() { # PACKAGE[:COMMAND,...] -> the commands, one per line
  case "$1" in *:*) tr ',' '\n' <<<"${1#*:}" ;; *) echo "$1" ;; esac
}

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

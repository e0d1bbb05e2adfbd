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
#      sum(poolserver_jobs_produced_total) must reach exactly 37, up must be 1, the four
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
. scripts/lib.sh  # stop_groups, show_logs

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
install_missing() {
  local missing=()
  { command -v prometheus && command -v promtool; } >/dev/null || missing+=(prometheus)
  command -v python3 >/dev/null || missing+=(python3)
  command -v curl >/dev/null || missing+=(curl)
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing: ${missing[*]}"
  # (the package's own service, on :9090, is kept from starting: scripts/apt-install.sh)
  scripts/apt-install.sh "${missing[@]}" || fail "could not install ${missing[*]}"
  { command -v prometheus && command -v promtool; } >/dev/null ||
    fail "the prometheus package did not install prometheus and promtool"
}
install_missing

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

# --- the client side: one Python program (standard library only) -----------------------------
cat >"$work/check.py" <<'PY'
"""scripts/prometheus.sh's client side: the load, waits, Prometheus's HTTP API, the names."""
import argparse, http.client, json, math, os, re, socket, sys, time
import urllib.error, urllib.parse, urllib.request


def get(url, timeout=2.0):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def cmd_port(a):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])


def cmd_listening(a):
    """The port of poolserver's 'listening on http://127.0.0.1:PORT' log line."""
    deadline = time.monotonic() + a.seconds
    while time.monotonic() < deadline:
        with open(a.log, errors="replace") as f:
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", f.read())
        if m:
            print(m.group(1))
            return
        if not alive(a.pid):
            sys.exit("poolserver exited before it listened")
        time.sleep(0.05)
    sys.exit(f"no 'listening on' line within {a.seconds} s")


def cmd_load(a):
    """a.count GET /a.n on one keep-alive connection; each must be 200 with the right body."""
    want = math.fsum(math.sqrt(i) for i in range(a.n))
    host, port = a.target.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    ok, problems = 0, []
    for _ in range(a.count):
        conn.request("GET", f"/{a.n}")
        r = conn.getresponse()
        body = r.read().decode()
        try:
            doc = json.loads(body)
        except ValueError:
            doc = {}
        if r.status != 200:
            problems.append(f"{r.status} {body[:80]}")
        elif doc.get("value") != a.n or abs(doc.get("sum", 0) - want) > 1e-9 * want:
            problems.append(f"wrong body {body[:80]}")
        else:
            ok += 1
        if r.will_close:
            conn.close()
    conn.close()
    if problems:
        sys.exit(f"{ok} of {a.count} answered 200 with the right sum; first problems: "
                 + "; ".join(problems[:3]))
    print(f"{ok} answered 200 with the right sum")


def scrape_names(path):
    """(sample names, family types) in a Prometheus text exposition."""
    samples, types = set(), {}
    with open(path) as f:
        for line in f:
            if line.startswith("# TYPE "):
                _, _, name, typ = line.split(None, 3)
                types[name] = typ.strip()
            elif line.strip() and not line.startswith("#"):
                samples.add(re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0))
    return samples, types


def cmd_scrape_value(a):
    """The value of an unlabelled sample in the scrape, and a short description of it."""
    samples, types = scrape_names(a.file)
    value = None
    with open(a.file) as f:
        for line in f:
            if line.startswith(a.name + " "):
                value = float(line.split()[1])
    if value is None:
        sys.exit(f"no {a.name} in the scrape")
    print(f"{value:g} {len(types)} {len(samples)}")


def api(prom, path, **params):
    url = f"{prom}/api/v1/{path}" + ("?" + urllib.parse.urlencode(params) if params else "")
    status, body = get(url, 5)
    doc = json.loads(body)
    if status != 200 or doc.get("status") != "success":
        raise RuntimeError(f"{path} {params}: {status} {doc.get('error', body[:200])}")
    return doc["data"]


def query(prom, expr):
    data = api(prom, "query", query=expr)
    return data["result"]


def cmd_wait_ready(a):
    """Wait for /-/ready; print the seconds since a.since (the Unix time it was started)."""
    deadline = time.monotonic() + a.seconds
    while time.monotonic() < deadline:
        if not alive(a.pid):
            sys.exit("Prometheus exited")
        try:
            if get(a.prom + "/-/ready", 1)[0] == 200:
                print(f"{time.time() - a.since:.1f}")
                return
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit(f"{a.prom}/-/ready did not answer 200 within {a.seconds} s")


def cmd_poll(a):
    """Poll an instant query until its single value equals a.want exactly."""
    deadline = time.monotonic() + a.seconds
    start = time.monotonic()
    seen = []
    while True:
        try:
            result = query(a.prom, a.expr)
        except (OSError, RuntimeError) as e:
            result, seen = [], seen + [repr(e)]
        value = float(result[0]["value"][1]) if len(result) == 1 else None
        if not seen or seen[-1] != value:
            seen.append(value)
        if value == a.want:
            print(f"{value:g} {time.monotonic() - start:.1f}")
            return
        if time.monotonic() >= deadline:
            sys.exit(f"{a.expr} did not reach {a.want:g} within {a.seconds} s; "
                     f"values seen: {seen}")
        time.sleep(0.2)


# --- metric names in PromQL ------------------------------------------------------------------
KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
            "group_right", "bool", "offset", "atan2", "inf", "nan", "sum", "min", "max", "avg",
            "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk",
            "quantile"}
BUILT_IN = {"up", "ALERTS", "ALERTS_FOR_STATE"}  # Prometheus's own series


def metric_names(expr):
    """The metric names a PromQL expression selects (Grafana variables allowed in it)."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    e = re.sub(r"\$\{[^}]*\}|\$\w+", " ", e)   # Grafana variables
    e = re.sub(r"\{[^}]*\}", " ", e)             # label matchers
    e = re.sub(r"\[[^\]]*\]", " ", e)            # range and subquery durations
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    names = set()
    for m in re.finditer(r"(?<![\w.:])[a-zA-Z_:][a-zA-Z0-9_:]*", e):
        if m.group(0) in KEYWORDS or e[m.end():].lstrip().startswith("("):
            continue  # an operator, or a function's name
        names.add(m.group(0))
    return names


def dashboard_queries(path):
    """[(where, expr, must have data)] of a Grafana dashboard JSON."""
    dash = json.load(open(path))
    out = []
    for p in dash.get("panels", []):
        for t in p.get("targets", []):
            out.append((f"panel '{p['title']}' {t.get('refId')}", t["expr"], True))
    for v in dash.get("templating", {}).get("list", []):
        if v.get("type") != "query":
            continue
        q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
        m = re.fullmatch(r"\s*label_values\((.*),\s*\w+\s*\)\s*", q)
        if not m:
            raise SystemExit(f"variable {v['name']}: no label_values(selector, label): {q}")
        out.append((f"variable ${v['name']}", m.group(1), True))
    for an in dash.get("annotations", {}).get("list", []):
        if "expr" in an:  # firing alerts: none while everything is calm
            out.append((f"annotation '{an['name']}'", an["expr"], False))
    return out


def grafana_to_promql(expr):
    """A dashboard query as Prometheus runs it for 'All' over the last minute."""
    return (expr.replace("$__rate_interval", "1m").replace("$__interval", "15s")
            .replace("$job", ".*").replace("$instance", ".*"))


def cmd_check(a):
    """c and d against the running Prometheus."""
    prom, deadline = a.prom, time.monotonic() + a.seconds
    # c. the target is up.
    up = query(prom, f'up{{job="{a.job}"}}')
    if [r["value"][1] for r in up] != ["1"]:
        sys.exit(f"c: up{{job=\"{a.job}\"}} is {[r['value'][1] for r in up]}, not [1]")
    # c. the rules: every alert of alerts.yml loaded and evaluated without error.
    expected = re.findall(r"^\s*-\s*alert:\s*(\S+)\s*$", open(a.alerts).read(), re.M)
    while True:
        rules = [r for g in api(prom, "rules")["groups"] for r in g["rules"]]
        loaded = {r["name"]: r for r in rules if r["type"] == "alerting"}
        missing = [n for n in expected if n not in loaded]
        if missing:
            sys.exit(f"c: alerts not loaded by Prometheus: {missing} (loaded: {sorted(loaded)})")
        bad = {n: r.get("lastError") or r["health"] for n, r in loaded.items()
               if r["health"] != "ok"}
        if not bad:
            break
        if time.monotonic() >= deadline or any(r["health"] == "err" for r in loaded.values()):
            sys.exit(f"c: rules not evaluated cleanly: {bad}")
        time.sleep(0.2)
    active = [f"{x['labels'].get('alertname')} {x['state']} {x['labels']}"
              for x in api(prom, "alerts")["alerts"]]
    if active:
        sys.exit(f"c: alerts active on a calm server: {active}")
    print(f"   up{{job=\"{a.job}\"}} = 1; alerts loaded and evaluated (health ok): "
          f"{', '.join(expected)}; firing or pending: none")

    # d. every metric name used exists in the scrape.
    samples, types = scrape_names(a.metrics)
    known = set(samples)
    for name, typ in types.items():
        known |= ({name + s for s in ("_bucket", "_sum", "_count")} if typ == "histogram"
                  else {name + s for s in ("_sum", "_count")} | {name} if typ == "summary"
                  else {name})
    used = {}
    for n, r in loaded.items():
        for name in metric_names(r["query"]):
            used.setdefault(name, []).append(f"alert {n}")
    queries = dashboard_queries(a.dashboard)
    for where, expr, _ in queries:
        for name in metric_names(expr):
            used.setdefault(name, []).append(where)
    unknown = {n: w for n, w in used.items() if n not in known and n not in BUILT_IN}
    if unknown:
        sys.exit("d: metric names not in poolserver's /metrics: "
                 + "; ".join(f"{n} (in {', '.join(sorted(set(w)))})" for n, w in unknown.items()))
    by_alerts = {n for n, w in used.items() if any(x.startswith("alert ") for x in w)}
    by_dashboard = {n for n, w in used.items() if not all(x.startswith("alert ") for x in w)}
    print(f"   names: the alerts use {len(by_alerts)} metric names, the dashboard "
          f"{len(by_dashboard)}; every one is in the scrape ({len(types)} families) or "
          f"Prometheus's own ({', '.join(sorted(n for n in used if n in BUILT_IN))})")

    # d. every dashboard query runs in Prometheus; panels and variables return data (rate()
    # needs two scrapes in its window: retried until the deadline).
    while True:
        failed, empty, with_data = [], [], 0
        for where, expr, needs_data in queries:
            try:
                result = query(prom, grafana_to_promql(expr))
            except RuntimeError as e:
                failed.append(f"{where}: {e}")
                continue
            if result:
                with_data += 1
            elif needs_data:
                empty.append(where)
        if failed:
            sys.exit("d: dashboard queries Prometheus refused: " + "; ".join(failed))
        if not empty:
            break
        if time.monotonic() >= deadline:
            sys.exit("d: dashboard queries without data: " + "; ".join(empty))
        time.sleep(0.3)
    print(f"   dashboard: {len(queries)} queries ran in Prometheus, {with_data} with data "
          f"({sum(1 for q in queries if not q[2])} annotation query, empty while nothing fires)")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(required=True)
    s = sub.add_parser("port"); s.set_defaults(f=cmd_port)
    s = sub.add_parser("listening"); s.add_argument("log"); s.add_argument("pid", type=int)
    s.add_argument("seconds", type=float); s.set_defaults(f=cmd_listening)
    s = sub.add_parser("load"); s.add_argument("target"); s.add_argument("count", type=int)
    s.add_argument("n", type=int); s.set_defaults(f=cmd_load)
    s = sub.add_parser("scrape-value"); s.add_argument("file"); s.add_argument("name")
    s.set_defaults(f=cmd_scrape_value)
    s = sub.add_parser("wait-ready"); s.add_argument("prom"); s.add_argument("pid", type=int)
    s.add_argument("seconds", type=float); s.add_argument("since", type=float)
    s.set_defaults(f=cmd_wait_ready)
    s = sub.add_parser("poll"); s.add_argument("prom"); s.add_argument("expr")
    s.add_argument("want", type=float); s.add_argument("seconds", type=float)
    s.set_defaults(f=cmd_poll)
    s = sub.add_parser("check"); s.add_argument("prom"); s.add_argument("--job", required=True)
    s.add_argument("--alerts", required=True); s.add_argument("--metrics", required=True)
    s.add_argument("--dashboard", required=True); s.add_argument("--seconds", type=float)
    s.set_defaults(f=cmd_check)
    a = p.parse_args()
    a.f(a)


if __name__ == "__main__":
    main()
PY
# In the background and waited for, so that a signal (the deadline's included) runs its trap at
# once: bash runs traps only between foreground commands. Results in $work/out (read them with
# `out`), why it failed in $work/why (for fail's message: `why`).
py() {
  timeout -k 2 30 python3 "$work/check.py" "$@" >"$work/out" 2>"$work/why" &
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

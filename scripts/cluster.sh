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
. scripts/lib.sh  # stop_groups, show_logs

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
install_missing() {
  local missing=()
  command -v haproxy >/dev/null || missing+=(haproxy)
  command -v wrk >/dev/null || missing+=(wrk)
  command -v python3 >/dev/null || missing+=(python3)
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing: ${missing[*]}"
  scripts/apt-install.sh "${missing[@]}" || fail "could not install ${missing[*]}"
}
install_missing

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

# --- the measuring side: one Python program (standard library only) -------------------------
cat >"$work/cluster.py" <<'PY'
"""scripts/cluster.sh's client side: ports, waits, the checked load, wrk, HAProxy's stats,
and the report."""
import argparse, csv, http.client, io, json, math, os, signal, socket, statistics
import subprocess, sys, threading, time, urllib.error, urllib.request

ZETA_MINUS_HALF = -0.20788622497735456601730672539704930222626853128767


def expected_sum(n):
    """sum(sqrt(i) for 0 <= i < n): exact below 1000, Euler-Maclaurin above (error < 1e-13)."""
    if n < 1000:
        return math.fsum(math.sqrt(i) for i in range(n))
    r = math.sqrt(n)
    return 2.0 / 3.0 * n * r - 0.5 * r + ZETA_MINUS_HALF + 1.0 / (24.0 * r)


def body_problem(body, n):
    """None if body is the right answer to GET /n, else what is wrong with it."""
    try:
        doc = json.loads(body)
    except ValueError:
        return f"not JSON: {body[:80]!r}"
    if doc.get("value") != n:
        return f"value {doc.get('value')!r} for n={n}"
    want, got = expected_sum(n), doc.get("sum")
    if not isinstance(got, (int, float)) or abs(got - want) > 1e-9 * max(1.0, abs(want)):
        return f"sum {got!r} for n={n}, expected about {want!r}"
    return None


def get(url, timeout=2.0):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def metric(url, name):
    status, text = get(url)
    if status != 200:
        raise RuntimeError(f"{url}: {status}")
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise RuntimeError(f"{url}: no {name}")


def cmd_ports(a):
    """Free ports below Linux's ephemeral range (32768-60999), so that no outgoing connection
    can hold one when a stopped server is started again on its port."""
    import random
    chosen = []
    for port in random.sample(range(20000, 32000), 200):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        chosen.append(port)
        if len(chosen) == a.count:
            break
    print(" ".join(map(str, chosen)))


def cmd_wait(a):
    deadline = time.monotonic() + a.seconds
    while time.monotonic() < deadline:
        if a.pid:
            try:
                os.kill(a.pid, 0)
            except ProcessLookupError:
                sys.exit(f"process {a.pid} exited before {a.url} answered")
        try:
            if get(a.url, 0.5)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    sys.exit(f"{a.url} did not answer 200 within {a.seconds} s")


def cmd_metric(a):
    print(json.dumps({u: metric(u, a.name) for u in a.urls}))


def haproxy_stats(url):
    """{server name: stats row} for backend poolservers, from the stats page's CSV."""
    status, text = get(url + ";csv")
    rows = csv.DictReader(io.StringIO(text.lstrip("# ")))
    return {r["svname"]: r for r in rows if r["pxname"] == "poolservers"}


def cmd_stats(a):
    print(json.dumps(haproxy_stats(a.url)))


def cmd_wait_state(a):
    """Wait until HAProxy's check state of every named server starts with a.state."""
    deadline = time.monotonic() + a.seconds
    while time.monotonic() < deadline:
        rows = haproxy_stats(a.url)
        if all(rows.get(s, {}).get("status", "").startswith(a.state) for s in a.servers):
            return
        time.sleep(0.05)
    states = {s: haproxy_stats(a.url).get(s, {}).get("status") for s in a.servers}
    sys.exit(f"HAProxy did not see {a.servers} {a.state} within {a.seconds} s: {states}")


def cmd_load(a):
    """conns keep-alive connections, each sending per_conn GET /n one after the other; n is
    base + the request's number, so each answer can be matched to its request. Optionally
    SIGTERM a pid after kill_after answers. Every request must get a 200 with its own value
    and the right sum; a connection error is a lost request (nothing is retried here)."""
    host, port = a.target.rsplit(":", 1)
    lock = threading.Lock()
    res = {"requests": a.conns * a.per_conn, "ok": 0, "non200": {}, "bad_body": 0,
           "errors": 0, "reconnects": 0, "examples": [], "kill_after": a.kill_after,
           "answers_after_kill": 0}
    answered = [0]
    in_flight = [0]  # requests sent and not answered yet, on all connections
    killed = [None]
    start = time.monotonic()

    def note(kind, text):
        if len(res["examples"]) < 10:
            res["examples"].append(f"{kind}: {text}")

    def run(t):
        conn = http.client.HTTPConnection(host, int(port), timeout=a.timeout)
        for i in range(a.per_conn):
            n = a.base + t * a.per_conn + i
            with lock:
                in_flight[0] += 1
            try:
                conn.request("GET", f"/{n}")
                r = conn.getresponse()
                body = r.read().decode()
                status = r.status
                if r.will_close:
                    conn.close()  # http.client reconnects on the next request
                    with lock:
                        res["reconnects"] += 1
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                with lock:
                    in_flight[0] -= 1
                    res["errors"] += 1
                    note("error", f"GET /{n}: {e!r}")
                continue
            problem = None if status != 200 else body_problem(body, n)
            with lock:
                in_flight[0] -= 1
                if status != 200:
                    res["non200"][str(status)] = res["non200"].get(str(status), 0) + 1
                    note("status", f"GET /{n}: {status} {body[:80]}")
                elif problem:
                    res["bad_body"] += 1
                    note("body", problem)
                else:
                    res["ok"] += 1
                answered[0] += 1
                if killed[0] is not None:
                    res["answers_after_kill"] += 1
                if a.kill_pid and killed[0] is None and answered[0] >= a.kill_after:
                    os.kill(a.kill_pid, signal.SIGTERM)
                    res["in_flight_at_kill"] = in_flight[0]
                    killed[0] = time.monotonic()
                    watcher.start()
        conn.close()

    def watch():  # how long the stopped server takes to exit (its parent reaps it at once)
        while time.monotonic() - killed[0] < a.exit_wait:
            try:
                os.kill(a.kill_pid, 0)
            except ProcessLookupError:
                res["exit_seconds"] = round(time.monotonic() - killed[0], 3)
                return
            time.sleep(0.005)

    watcher = threading.Thread(target=watch)
    threads = [threading.Thread(target=run, args=(t,)) for t in range(a.conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    res["seconds"] = round(time.monotonic() - start, 3)
    if killed[0] is not None:
        res["killed_at_s"] = round(killed[0] - start, 3)
        watcher.join()
    res["lost"] = res["requests"] - res["ok"] - sum(res["non200"].values()) - res["bad_body"]
    with open(a.json, "w") as f:
        json.dump(res, f)
    print(f"{res['requests']} requests: {res['ok']} answered 200 with the right body, "
          f"non-200 {res['non200'] or 0}, wrong body {res['bad_body']}, "
          f"lost (connection errors) {res['errors']}, in {res['seconds']} s"
          + (f"; SIGTERM after {a.kill_after} answers, {res['answers_after_kill']} answered "
             f"after it" if killed[0] is not None else ""), file=sys.stderr)
    for e in res["examples"]:
        print("  " + e, file=sys.stderr)
    if a.kill_pid and killed[0] is None:
        print(f"  fewer than {a.kill_after} answers: SIGTERM never sent", file=sys.stderr)
    if a.kill_pid and killed[0] is not None and "exit_seconds" not in res:
        print(f"  pid {a.kill_pid} still running {a.exit_wait} s after SIGTERM", file=sys.stderr)
    ok = res["ok"] == res["requests"] and (not a.kill_pid or killed[0] is not None)
    sys.exit(0 if ok else 1)


WRK_DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"p50":%d,"p99":%d,"non2xx":%d,"socket_errors":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
"""


def wrk(url, conns, seconds, script):
    cmd = ["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--timeout", "5s", "-s", script, url]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30).stdout
    line = next(l for l in out.splitlines() if l.startswith("WRK_JSON "))
    r = json.loads(line[len("WRK_JSON "):])
    r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
    return r


def cpu_times():
    """(steal, total) jiffies of all CPUs: on a VM, steal is time the host gave to others."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return (fields[7] if len(fields) > 7 else 0), sum(fields[:8])


def cmd_compare(a):
    """Alternating wrk runs against one server and against HAProxy, per path: medians, ratio."""
    steal0, total0 = cpu_times()
    script = os.path.join(os.path.dirname(a.json), "done.lua")
    with open(script, "w") as f:
        f.write(WRK_DONE)
    res = {"conns": a.conns, "seconds": a.seconds, "runs": a.runs, "paths": {}}
    for path in a.paths:
        runs = {"one": [], "cluster": []}
        if a.warmup:
            for base in (a.one, a.cluster):
                wrk(base + path, a.conns, a.warmup, script)
        for _ in range(a.runs):
            for side, base in (("one", a.one), ("cluster", a.cluster)):
                r = wrk(base + path, a.conns, a.seconds, script)
                if r["non2xx"] or r["socket_errors"]:
                    sys.exit(f"wrk against {base + path}: {r['non2xx']} non-2xx answers, "
                             f"{r['socket_errors']} socket errors")
                runs[side].append(r)
        med = {s: {k: statistics.median(r[k] for r in runs[s]) for k in ("rps", "p50", "p99")}
               for s in runs}
        res["paths"][path] = {"runs": runs, "median": med,
                              "ratio_rps": med["cluster"]["rps"] / med["one"]["rps"],
                              "ratio_p99": med["cluster"]["p99"] / med["one"]["p99"]}
        print(f"GET {path}: one server {med['one']['rps']:.0f} req/s (p99 "
              f"{med['one']['p99'] / 1000:.2f} ms), HAProxy + three {med['cluster']['rps']:.0f} "
              f"req/s (p99 {med['cluster']['p99'] / 1000:.2f} ms): ratio "
              f"{res['paths'][path]['ratio_rps']:.2f}", file=sys.stderr)
    steal1, total1 = cpu_times()
    res["steal"] = (steal1 - steal0) / max(1, total1 - total0)
    print(f"CPU time stolen by the hypervisor during these runs: {res['steal']:.1%}",
          file=sys.stderr)
    with open(a.json, "w") as f:
        json.dump(res, f)


def down(reason):
    """HAProxy's 'reason: info' for a server going DOWN, in fewer words."""
    if not reason:
        return "?"
    what, _, info = reason.partition(": ")
    if what == "Health analyze":  # observe layer4 in haproxy.cfg
        return f"`observe layer4`: {info}"
    return f"health check: {info}"


def ms(seconds):
    return "?" if seconds is None else f"{seconds * 1000:.0f} ms"


def cmd_report(a):
    d = a.results
    meta = json.load(open(os.path.join(d, "meta.json")))
    spread = json.load(open(os.path.join(d, "a.json")))
    rounds = [json.load(open(os.path.join(d, f)))
              for f in sorted(os.listdir(d)) if f.startswith("b") and f.endswith(".json")]
    comp = json.load(open(os.path.join(d, "c.json")))
    L = []
    w = L.append
    w("# Many poolservers behind HAProxy\n")
    w(f"Written by `{meta['command']}` on {meta['date']}. Machine: {meta['nproc']} cores "
      f"({meta['cpu']}), load average {meta['loadavg']} before the run; {meta['haproxy']}; "
      f"{meta['wrk']}; commit {meta['commit']}. "
      f"Three poolservers (`THREADS={meta['threads']}` each, `DRAIN_TIMEOUT_MS="
      f"{meta['drain_ms']}`) and HAProxy with [deploy/haproxy.cfg](../deploy/haproxy.cfg) "
      f"(`balance leastconn`, `maxconn {meta['maxconn']}` per server, retries on "
      f"conn-failure, empty-response, junk-response and 503 with `option redispatch 1`), all "
      f"on 127.0.0.1 and on the same {meta['nproc']} cores as the load generators.\n")
    w("## a. Every server receives work\n")
    w(f"{spread['load']['requests']} requests (`GET /n`, {spread['conns']} keep-alive "
      f"connections) through HAProxy, then each server's `poolserver_jobs_produced_total`:\n")
    w("| server | jobs produced |\n| --- | --- |")
    for name, v in spread["produced"].items():
        w(f"| {name} | {v:.0f} |")
    w("")
    w("## b. Stopping a server under load\n")
    w(f"Each round: {rounds[0]['conns']} keep-alive connections x {rounds[0]['per_conn']} "
      f"requests `GET /n` with n = {rounds[0]['base']} + the request's number (so each answer "
      "is matched to its own request and its sum checked), through HAProxy; after "
      f"{rounds[0]['load']['kill_after']} answers the load client sends SIGTERM to one "
      "poolserver. Every request must get one 200 with its own `value`; the stopped server "
      "must drain and exit 0; it is then restarted and must be back UP in HAProxy.\n")
    w("| stopped | requests | 200, right body | non-200 | lost | in flight at SIGTERM | "
      "its open connections at SIGTERM | exit status | SIGTERM to exit | HAProxy redispatches | "
      "retries on the same server | taken out of rotation by |")
    w("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rounds:
        l = r["load"]
        w(f"| {r['stopped']} | {l['requests']} | {l['ok']} | {sum(l['non200'].values())} | "
          f"{l['errors']} | {l.get('in_flight_at_kill')} | {r['open_at_sigterm']} | "
          f"{r['exit_status']} | {ms(r['exit_seconds'])} | {r['redispatches']} | "
          f"{r['retries']} | {down(r['down_reason'])} |")
    w("")
    w("In flight at SIGTERM: requests the load client had sent (to HAProxy) and not yet "
      "seen answered when it sent the signal, over all servers. Its open connections: from "
      "the stopped server's log line `draining: listener closed, N connection(s) to finish` "
      "(HAProxy's idle pooled connections included). Redispatches: requests HAProxy sent to "
      "another server after the stopped one refused the connection (or closed an idle one "
      "without answering), from HAProxy's stats for the round; retries on the same server "
      "likewise. Taken out of rotation by: HAProxy's log line for the server going DOWN.\n")
    w("## c. One server against HAProxy with three\n")
    w(f"`wrk -t1 -c{comp['conns']} -d{comp['seconds']}s`, alternating one poolserver "
      f"(poolserver1, directly) and HAProxy in front of all three, {comp['runs']} run(s) "
      f"each, medians. Ratio = HAProxy with three / one server.\n")
    w("| path | one server req/s | HAProxy + three req/s | ratio | one server p99 | "
      "HAProxy + three p99 | p99 ratio |")
    w("| --- | --- | --- | --- | --- | --- | --- |")
    for path, p in comp["paths"].items():
        m = p["median"]
        w(f"| `GET {path}` | {m['one']['rps']:.0f} | {m['cluster']['rps']:.0f} | "
          f"{p['ratio_rps']:.2f} | {m['one']['p99'] / 1000:.2f} ms | "
          f"{m['cluster']['p99'] / 1000:.2f} ms | {p['ratio_p99']:.2f} |")
    w("")
    w("Every run, req/s (one server / HAProxy + three):\n")
    for path, p in comp["paths"].items():
        pairs = ", ".join(f"{o['rps']:.0f} / {c['rps']:.0f}"
                          for o, c in zip(p["runs"]["one"], p["runs"]["cluster"]))
        w(f"- `GET {path}`: {pairs}")
    w("")
    w(f"CPU time stolen by the hypervisor during these runs (`steal` in /proc/stat): "
      f"{comp['steal']:.1%}" + (": other virtual machines took part of these cores, and the "
                                "numbers above are lower and noisier than on a quiet host."
                                if comp["steal"] > 0.02 else ".") + "\n")
    w(f"wrk, HAProxy (one thread per core) and the three servers all share the same "
      f"{meta['nproc']} cores, so three servers here have no more CPU than one, and HAProxy's "
      "own work (every request and answer crosses one more loopback TCP connection and "
      "passes through a second process) comes out of the same cores: the ratio is the price "
      "of the extra hop on one machine, not what more machines would give (not measured "
      "here). What HAProxy buys on one machine is b: stopping or replacing a server without "
      "losing a request.\n")
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        f.write("\n".join(L))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("ports"); s.add_argument("count", type=int); s.set_defaults(f=cmd_ports)
    s = sub.add_parser("wait"); s.add_argument("url"); s.add_argument("seconds", type=float)
    s.add_argument("pid", type=int, nargs="?")
    s.set_defaults(f=cmd_wait)
    s = sub.add_parser("metric"); s.add_argument("name"); s.add_argument("urls", nargs="+")
    s.set_defaults(f=cmd_metric)
    s = sub.add_parser("stats"); s.add_argument("url"); s.set_defaults(f=cmd_stats)
    s = sub.add_parser("wait-state"); s.add_argument("url"); s.add_argument("state")
    s.add_argument("seconds", type=float); s.add_argument("servers", nargs="+")
    s.set_defaults(f=cmd_wait_state)
    s = sub.add_parser("load")
    s.add_argument("--target", required=True); s.add_argument("--conns", type=int, default=8)
    s.add_argument("--per-conn", type=int, default=250); s.add_argument("--base", type=int)
    s.add_argument("--kill-pid", type=int, default=0); s.add_argument("--kill-after", type=int)
    s.add_argument("--exit-wait", type=float, default=15)
    s.add_argument("--timeout", type=float, default=30); s.add_argument("--json", required=True)
    s.set_defaults(f=cmd_load)
    s = sub.add_parser("compare")
    s.add_argument("--one", required=True); s.add_argument("--cluster", required=True)
    s.add_argument("--paths", nargs="+", required=True); s.add_argument("--conns", type=int)
    s.add_argument("--seconds", type=int); s.add_argument("--warmup", type=int)
    s.add_argument("--runs", type=int); s.add_argument("--json", required=True)
    s.set_defaults(f=cmd_compare)
    s = sub.add_parser("report")
    s.add_argument("--results", required=True); s.add_argument("--out", required=True)
    s.set_defaults(f=cmd_report)
    a = p.parse_args()
    a.f(a)


if __name__ == "__main__":
    main()
PY
# In the background and waited for, so that a signal to this script runs cleanup at once
# (bash runs traps only between foreground commands); cleanup stops it by its pid.
py() {
  timeout -k 5 120 python3 "$work/cluster.py" "$@" &
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
produced=$(py metric poolserver_jobs_produced_total \
  "http://127.0.0.1:$p1/metrics" "http://127.0.0.1:$p2/metrics" "http://127.0.0.1:$p3/metrics")
python3 - "$produced" "$work/a_load.json" "$results/a.json" <<'PY' || fail "a: a poolserver received no work: $produced"
import json, sys
urls = json.loads(sys.argv[1])
produced = {f"poolserver{i + 1}": v for i, v in enumerate(urls.values())}
json.dump({"conns": 6, "load": json.load(open(sys.argv[2])), "produced": produced},
          open(sys.argv[3], "w"))
print("   jobs produced: " + ", ".join(f"{k} {v:.0f}" for k, v in produced.items()), file=sys.stderr)
sys.exit(0 if all(v > 0 for v in produced.values()) else 1)
PY

# --- b. stopping a server under load loses no accepted request ---------------------------------
stat_sum() { # $1 = CSV column: its total over the backend's servers now
  py stats "$stats_url" | python3 -c "import json,sys; print(sum(int(r['$1'] or 0) for k, r in json.load(sys.stdin).items() if k != 'BACKEND'))"
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
  python3 - "$work/b_load.json" "$results/b$round.json" "$victim" "$exit_status" "$retries" \
    "$redispatches" "$down_reason" "$drain_line" <<'PY'
import json, re, sys
load = json.load(open(sys.argv[1]))
m = re.search(r"(\d+) connection", sys.argv[8])
json.dump({"stopped": f"poolserver{sys.argv[3]}", "conns": 8, "per_conn": 250, "base": 200000,
           "load": load, "exit_status": int(sys.argv[4]), "retries": int(sys.argv[5]),
           "redispatches": int(sys.argv[6]), "down_reason": sys.argv[7],
           "open_at_sigterm": int(m.group(1)) if m else None,
           "exit_seconds": load.get("exit_seconds")}, open(sys.argv[2], "w"))
PY
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
  CPU=$cpu LOADAVG=$loadavg COMMAND_LINE=$command_line THREADS_USED=$threads \
    DRAIN_MS=$drain_ms MAXCONN=$maxconn HAPROXY_V=$(haproxy -v | head -n 1 | cut -d' ' -f1-3) \
    WRK_V=$(wrk -v 2>&1 | head -n 1 | cut -d' ' -f1-2) \
    COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown) \
    python3 - "$results/meta.json" <<'PY'
import datetime, json, os, sys
e = os.environ
json.dump({"command": e["COMMAND_LINE"], "date": datetime.date.today().isoformat(),
           "nproc": len(os.sched_getaffinity(0)), "cpu": e["CPU"], "haproxy": e["HAPROXY_V"],
           "wrk": e["WRK_V"], "commit": e["COMMIT"], "loadavg": e["LOADAVG"],
           "threads": e["THREADS_USED"], "drain_ms": int(e["DRAIN_MS"]),
           "maxconn": int(e["MAXCONN"])}, open(sys.argv[1], "w"))
PY
  py report --results "$results" --out "$out"
  say "report written to $out"
fi
say "all checks passed"

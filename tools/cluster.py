"""scripts/cluster.sh's client side: ports, waits, the checked load, wrk, HAProxy's stats,
and the report."""
import argparse
import csv
import datetime
import http.client
import io
import json
import os
import random
import re
import signal
import socket
import statistics
import sys
import threading
import time

import wrk
from loopback import WaitFailed, get, wait_for
from square_sum import body_problem


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
    """Wait until a.url answers 200 (and process a.pid, if given, is still running)."""
    try:
        wait_for(a.url, a.seconds, a.pid)
    except WaitFailed as e:
        sys.exit(str(e))


def cmd_spread(a):
    """a's record: each server's jobs produced after the load; fails if one produced none."""
    produced = {f"poolserver{i + 1}": metric(u, "poolserver_jobs_produced_total")
                for i, u in enumerate(a.urls)}
    with open(a.load) as f:
        load = json.load(f)
    with open(a.json, "w") as f:
        json.dump({"conns": a.conns, "load": load, "produced": produced}, f)
    print("   jobs produced: " + ", ".join(f"{k} {v:.0f}" for k, v in produced.items()),
          file=sys.stderr)
    sys.exit(0 if all(v > 0 for v in produced.values()) else 1)


def haproxy_stats(url):
    """{server name: stats row} for backend poolservers, from the stats page's CSV."""
    status, text = get(url + ";csv")
    rows = csv.DictReader(io.StringIO(text.lstrip("# ")))
    return {r["svname"]: r for r in rows if r["pxname"] == "poolservers"}


def cmd_stats_sum(a):
    """The total of one CSV column over the backend's servers now."""
    rows = haproxy_stats(a.url)
    print(sum(int(r[a.column] or 0) for k, r in rows.items() if k != "BACKEND"))


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


def cpu_times():
    """(steal, total) jiffies of all CPUs: on a VM, steal is time the host gave to others."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return (fields[7] if len(fields) > 7 else 0), sum(fields[:8])


def cmd_compare(a):
    """Alternating wrk runs against one server and against HAProxy, per path: medians, ratio."""
    steal0, total0 = cpu_times()
    res = {"conns": a.conns, "seconds": a.seconds, "runs": a.runs, "paths": {}}
    for path in a.paths:
        runs = {"one": [], "cluster": []}
        if a.warmup:
            for base in (a.one, a.cluster):
                wrk.run(base + path, a.conns, a.warmup)
        for _ in range(a.runs):
            for side, base in (("one", a.one), ("cluster", a.cluster)):
                r = wrk.run(base + path, a.conns, a.seconds)
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


def cmd_round(a):
    """One round of b as the report reads it: the load's results and what HAProxy and the
    stopped server said."""
    with open(a.load) as f:
        load = json.load(f)
    m = re.search(r"(\d+) connection", a.drain_line)
    with open(a.json, "w") as f:
        json.dump({"stopped": a.stopped, "conns": a.conns, "per_conn": a.per_conn,
                   "base": a.base, "load": load, "exit_status": a.exit_status,
                   "retries": a.retries, "redispatches": a.redispatches,
                   "down_reason": a.down_reason,
                   "open_at_sigterm": int(m.group(1)) if m else None,
                   "exit_seconds": load.get("exit_seconds")}, f)


def cmd_meta(a):
    """The report's header: how, when and on what the checks ran."""
    with open(a.json, "w") as f:
        json.dump({"command": a.command, "date": datetime.date.today().isoformat(),
                   "nproc": len(os.sched_getaffinity(0)), "cpu": a.cpu, "haproxy": a.haproxy,
                   "wrk": a.wrk, "commit": a.commit, "loadavg": a.loadavg,
                   "threads": a.threads, "drain_ms": a.drain_ms, "maxconn": a.maxconn}, f)


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
    s = sub.add_parser("spread"); s.add_argument("--load", required=True)
    s.add_argument("--conns", type=int, required=True); s.add_argument("--json", required=True)
    s.add_argument("urls", nargs="+"); s.set_defaults(f=cmd_spread)
    s = sub.add_parser("stats-sum"); s.add_argument("url"); s.add_argument("column")
    s.set_defaults(f=cmd_stats_sum)
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
    s = sub.add_parser("round")
    s.add_argument("--load", required=True); s.add_argument("--json", required=True)
    s.add_argument("--stopped", required=True); s.add_argument("--conns", type=int)
    s.add_argument("--per-conn", type=int); s.add_argument("--base", type=int)
    s.add_argument("--exit-status", type=int); s.add_argument("--retries", type=int)
    s.add_argument("--redispatches", type=int); s.add_argument("--down-reason", default="")
    s.add_argument("--drain-line", default=""); s.set_defaults(f=cmd_round)
    s = sub.add_parser("meta"); s.add_argument("--json", required=True)
    for name in ("command", "cpu", "loadavg", "threads", "haproxy", "wrk", "commit"):
        s.add_argument(f"--{name}", required=True)
    s.add_argument("--drain-ms", type=int); s.add_argument("--maxconn", type=int)
    s.set_defaults(f=cmd_meta)
    s = sub.add_parser("report")
    s.add_argument("--results", required=True); s.add_argument("--out", required=True)
    s.set_defaults(f=cmd_report)
    a = p.parse_args()
    a.f(a)


if __name__ == "__main__":
    main()

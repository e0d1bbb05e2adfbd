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
import subprocess
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


def cmd_wait_all(a):
    """cmd_wait for several (url, pid) pairs at once, within one deadline."""
    deadline = time.monotonic() + a.seconds
    pairs = list(zip(a.pairs[::2], a.pairs[1::2]))
    try:
        for url, pid in pairs:
            wait_for(url, max(0.1, deadline - time.monotonic()), int(pid))
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


def job_counts(url):
    """(answered 200, answered 503) of a poolserver's job requests so far, from its /metrics."""
    return tuple(metric(url, f'poolserver_job_request_seconds_count{{outcome="{o}"}}')
                 for o in ("ok", "refused"))


def cmd_settle(a):
    """Wait until every server's agent answers a full weight again (after a run they are
    lower for a few seconds), so that each run of d starts from the same state."""
    deadline = time.monotonic() + a.seconds
    while time.monotonic() < deadline:
        weights = [metric(u, "poolserver_agent_weight") for u in a.urls]
        if all(w == 100 for w in weights):
            return
        time.sleep(0.1)
    sys.exit(f"the agents' weights did not come back to 100 within {a.seconds} s: {weights}")


def cmd_feedback(a):
    """d. One run of the load-feedback experiment: open-loop load (poolserver-loadgen,
    Poisson arrivals) through one HAProxy; what each server was sent and refused, from its
    own /metrics (HAProxy's per-server 5xx leaves out the 503s it retried elsewhere), and
    the weights HAProxy applied meanwhile, from its stats, four times a second. With
    a.warmup, the counts start that many seconds into the run (the weights at once)."""
    names = [f"poolserver{i + 1}" for i in range(len(a.urls))]

    def counts():
        return ({n: job_counts(u) for n, u in zip(names, a.urls)},
                {k: (int(r["wretr"] or 0), int(r["wredis"] or 0))
                 for k, r in haproxy_stats(a.stats).items()})
    before, retries0 = counts()
    started = t0 = time.monotonic()
    cmd = [a.loadgen, "--port", str(a.port), "--rate", str(a.rate), "--path", a.path,
           "--arrivals", "poisson", "--duration", str(a.seconds), "--timeout-ms", "10000",
           "--seed", str(a.seed)]
    gen = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    weights = {n: [] for n in names}
    agents = {n: "" for n in names}
    early = None  # the counts 2 s into the run: what came after, once the weights had moved
    while gen.poll() is None:
        if a.warmup and started and time.monotonic() - started >= a.warmup:
            before, retries0 = counts()
            started = None
        if early is None and time.monotonic() - t0 >= 2:
            early = {n: job_counts(u) for n, u in zip(names, a.urls)}
        for n, r in haproxy_stats(a.stats).items():
            if n in weights:
                weights[n].append(int(r["weight"] or 0))
                agents[n] = r.get("last_agt") or agents[n]
        time.sleep(0.25)
    out, _ = gen.communicate()
    if gen.returncode != 0:
        sys.exit(f"poolserver-loadgen failed (status {gen.returncode})")
    stream = json.loads(out)["streams"][0]
    after = {n: job_counts(u) for n, u in zip(names, a.urls)}
    rows = haproxy_stats(a.stats)
    servers = {}
    for n in names:
        ok, refused = (after[n][0] - before[n][0], after[n][1] - before[n][1])
        w = weights[n] or [0]
        late = (after[n][1] - early[n][1]) if early else None
        servers[n] = {"sent": ok + refused, "ok": ok, "refused": refused,
                      "refused_after_2s": late,
                      "weight_min": min(w), "weight_mean": statistics.mean(w),
                      "weight_last": w[-1], "agent_said": agents[n]}
    statuses = {k: v["count"] for k, v in stream["statuses"].items()}
    res = {"agent": a.agent, "rate": a.rate, "seconds": a.seconds, "path": a.path,
           "warmup": a.warmup,
           "servers": servers, "offered": stream["offered"], "client": statuses,
           "client_503": statuses.get("503", 0),
           "client_failed": stream["lost"] + stream["timed_out"] + stream["not_sent"],
           "server_503": sum(s["refused"] for s in servers.values()),
           "retries": sum(int(r["wretr"] or 0) - retries0.get(k, (0, 0))[0]
                          for k, r in rows.items() if k in names),
           "redispatches": sum(int(r["wredis"] or 0) - retries0.get(k, (0, 0))[1]
                               for k, r in rows.items() if k in names)}
    with open(a.json, "w") as f:
        json.dump(res, f)
    small = names[a.small - 1]
    print(f"   agent-check {a.agent}: {res['offered']} requests at {a.rate}/s; sent to "
          + ", ".join(f"{n} {s['sent']} ({s['refused']} refused, weight min {s['weight_min']}"
                      f" mean {s['weight_mean']:.0f})" for n, s in servers.items())
          + f"; 503s from the servers {res['server_503']}, to the client {res['client_503']},"
          f" failed {res['client_failed']}", file=sys.stderr)
    if not a.check:
        return
    peers = [servers[n]["sent"] for n in names if n != small]
    problems = []
    if servers[small]["weight_min"] >= 100:
        problems.append(f"HAProxy never applied a weight below 100% to {small}")
    if not all(servers[small]["sent"] < p for p in peers):
        problems.append(f"{small} was not sent less than each of its peers")
    if problems:
        sys.exit("; ".join(problems))


def cmd_wait_agent(a):
    """Wait until HAProxy has read every named server's agent (AGENT_PORT) and applied it:
    the agent check passed, and the weight it set is the server's whole weight (an idle
    server answers 100%)."""
    deadline = time.monotonic() + a.seconds
    while time.monotonic() < deadline:
        rows = haproxy_stats(a.url)
        if all(rows.get(s, {}).get("agent_status") == "L7OK" and rows[s]["weight"] == "100"
               for s in a.servers):
            return
        time.sleep(0.05)
    rows = haproxy_stats(a.url)
    seen = {s: {k: rows.get(s, {}).get(k) for k in ("agent_status", "last_agt", "weight")}
            for s in a.servers}
    sys.exit(f"HAProxy did not apply the agents of {a.servers} within {a.seconds} s: {seen}")


def cmd_status(a):
    """The status of GET a.url (nothing printed and status 1 when nothing answered)."""
    try:
        print(get(a.url, 5)[0])
    except (OSError, http.client.HTTPException):
        sys.exit(1)


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
                   "down_reason": a.down_reason, "agent_drain": a.agent_drain,
                   "open_at_sigterm": int(m.group(1)) if m else None,
                   "exit_seconds": load.get("exit_seconds")}, f)


def cmd_meta(a):
    """The report's header: how, when and on what the checks ran."""
    with open(a.json, "w") as f:
        json.dump({"command": a.command, "date": datetime.date.today().isoformat(),
                   "nproc": len(os.sched_getaffinity(0)), "cpu": a.cpu, "haproxy": a.haproxy,
                   "wrk": a.wrk, "commit": a.commit, "loadavg": a.loadavg,
                   "threads": a.threads, "drain_ms": a.drain_ms, "maxconn": a.maxconn,
                   "feedback_path": a.feedback_path, "feedback_rate": a.feedback_rate}, f)


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


AGENT_CHECK = """## Load feedback: the agent-check

Every poolserver here runs with `AGENT_PORT`: HAProxy's `agent-check` connects to it every
500 ms and reads one line, which the server writes at once before closing: `ready up N%`
while it serves, `drain` from SIGTERM on. HAProxy sets the server's weight to N% of the
`weight 100` in haproxy.cfg (`leastconn` compares requests in progress divided by the
weight), and a server in drain gets no new request. On SIGTERM the agent answers `drain`
for `AGENT_DRAIN_MS` (1 s, two agent intervals) while the server serves on, and only then
does its listener close: HAProxy has stopped sending to it by then (check b).

N follows what the server can take. Twice a second, on the timer that also samples
`/stats`, the server compares its pool's counters with those of a second earlier:

- some jobs it was offered were refused (admission's 503s, a full mailbox, no backend, or
  shed from a mailbox), a share r of them: N is multiplied by 1 - r;
- none were, and its local workers were busy u < 80% of the time: N is multiplied by
  0.8 / u, at most 2;
- otherwise (busy, and refusing nothing: it serves what it is sent) N holds.

Each half-second step applies the square root of that factor (a refusal is in two
overlapping one-second windows, and the two steps together apply it once), and N stays
from 1% to 100%: 0 would take out of rotation a server that still serves. The gauge
`poolserver_agent_weight` and `/stats`' `agent_weight` show it.

Why this: to HAProxy a 503 from poolserver is a fast answer. A server that refuses half of
what it gets answers in a fraction of a millisecond, so `leastconn` counts it as the least
loaded and sends it more, and every refusal costs a retry elsewhere (`retry-on 503`).
Only the server knows it refused, so the server sets the weight. Multiplying by the share
accepted brings what it is sent down to what it accepted within a second or two; a weight
set to that share alone, instead of scaled by it, would return to 100% as soon as the lower
weight had stopped the refusals, and swing. The room left below 80% busy raises it again
when the load goes, and between the two it holds: once a server is sent what it serves,
it stays there. The busy share counts jobs that wait as well as jobs that compute (sleeps,
I/O), which a CPU-based agent would not see, and on a shared machine CPU load would measure
the neighbours too.

What it cannot do: `leastconn` divides the requests in progress by the weight, so a server
with none in progress is picked whatever its weight, and one at 1% still gets a request
each time it finishes one. And the weight only moves load towards servers that have room:
when every server refuses, all weights fall together and HAProxy's `maxconn` and queue
decide, as without it.
"""


def report_feedback(w, d, meta):
    """The agent-check's section, and d's results when its runs took place."""
    def runs(prefix):
        return [json.load(open(os.path.join(d, f))) for f in sorted(os.listdir(d))
                if f.startswith(prefix) and f.endswith(".json")]
    w(AGENT_CHECK)
    on, off = runs("d_on"), runs("d_off")
    if not on:
        w("## d. One server at 3x its capacity\n")
        w(f"Not run: `GET {meta.get('feedback_path')}` did not answer 200 on this build.\n")
        return
    names = list(on[0]["servers"])
    small = names[-1]
    w("## d. One server at 3x its capacity\n")
    w(f"Three more poolservers behind their own HAProxy (the same haproxy.cfg): "
      f"{names[0]} and {names[1]} with `THREADS=8`, {small} with `THREADS=1` (all with "
      f"`WORKER_NICE=0`: a sleeping job needs no CPU, but a niced worker wakes late on a busy "
      f"machine), all serving "
      f"`GET {meta['feedback_path']}` (a job that sleeps: capacity = THREADS / job time, "
      f"so the servers' capacities differ even on {meta['nproc']} shared cores). "
      f"`poolserver-loadgen`, open loop, Poisson arrivals, {meta['feedback_rate']} requests/s "
      f"for {on[0]['seconds']:g} s a run: shared evenly that is 3x what {small} serves and "
      "9/17 of what the three serve together. Each run starts with every agent back at 100%"
      + (f"; its counts start {on[0]['warmup']:g} s in. " if on[0].get("warmup") else ". ")
      + ("Without agent-check: the same servers behind a second HAProxy started with "
         "`POOL_AGENT_CHECK=off` (fixed weights); the runs alternate. " if off else "")
      + "Sent: requests a server received (each answered 200 or 503, from its own "
      "`poolserver_job_request_seconds_count`; a 503 HAProxy retried elsewhere counts at "
      "both servers). Weight: what HAProxy's stats showed for the server, 4 times a "
      "second during the run.\n")
    def late(r):
        n = [s.get("refused_after_2s") for s in r["servers"].values()]
        return "?" if None in n else int(sum(n))
    w(f"| agent-check | run | sent to {' / '.join(names)} | 503s answered by each | "
      f"{small}'s weight in HAProxy, min / mean | 503s answered by the servers (after the "
      "first 2 s) | 503s to the client | client requests |")
    w("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for label, rs in (("on", on), ("off", off)):
        for i, r in enumerate(rs, 1):
            sv = r["servers"]
            w(f"| {label} | {i} | {' / '.join(str(int(sv[n]['sent'])) for n in names)} | "
              f"{' / '.join(str(int(sv[n]['refused'])) for n in names)} | "
              f"{sv[small]['weight_min']} / {sv[small]['weight_mean']:.0f} | "
              f"{int(r['server_503'])} ({late(r)}) | {r['client_503']} | {r['offered']} |")
    w("")

    def median(rs, f):
        return statistics.median(f(r) for r in rs)

    def share(r):
        return r["servers"][small]["sent"] / max(1, sum(s["sent"] for s in r["servers"].values()))
    line = (f"Medians with agent-check: {small} was sent {median(on, share):.0%} of what the "
            f"servers received, the servers answered {median(on, lambda r: r['server_503']):.0f} "
            f"503s a run and the client got {median(on, lambda r: r['client_503']):.0f}")
    if off:
        line += (f"; without: {median(off, share):.0%}, "
                 f"{median(off, lambda r: r['server_503']):.0f} and "
                 f"{median(off, lambda r: r['client_503']):.0f}")
    w(line + ".\n")
    if off:
        def ratio(r):  # the small server's requests / a peer's
            peers = [r["servers"][n]["sent"] for n in names if n != small]
            return r["servers"][small]["sent"] / max(1, statistics.mean(peers))
        total = sum(r["server_503"] for r in on)
        later = sum(sum(s.get("refused_after_2s") or 0 for s in r["servers"].values())
                    for r in on)
        fewer = median(off, lambda r: r["server_503"]) / max(1, median(on, lambda r: r["server_503"]))
        w(f"So with agent-check the server at 3x its capacity was sent {median(on, ratio):.2f} "
          f"times what each peer was sent (it has an eighth of their capacity), against "
          f"{median(off, ratio):.2f} times without, and the servers answered {fewer:.0f} times "
          f"fewer 503s, {1 - later / max(1, total):.0%} of them in the first two seconds of a "
          "run, while the weight came down from 100%. Without agent-check `leastconn` sends "
          "the overloaded server more, not less: its refusals take a fraction of a "
          "millisecond, so it always has the fewest requests in progress. The client saw "
          f"{median(off, lambda r: r['client_503']):.0f} 503s without and "
          f"{median(on, lambda r: r['client_503']):.0f} with (medians), because HAProxy "
          "retries a 503 on another server (`retry-on 503`, `option redispatch 1`); without "
          "agent-check those retries are all that stands between the client and the "
          "overloaded server, and each costs a round trip to it.\n")
        met = (median(on, ratio) < 1 and median(on, ratio) < median(off, ratio)
               and median(on, lambda r: r["server_503"] + r["client_503"])
               < median(off, lambda r: r["server_503"] + r["client_503"]))
        w(f"Issue 16's goal, a server at 3x its capacity behind HAProxy with agent-check gets "
          f"measurably less of the traffic than its peers, with fewer 503s overall than "
          f"without agent-check: {'met' if met else 'NOT met'} (medians above).\n")


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
      f"conn-failure, empty-response, junk-response and 503 with `option redispatch 1`, "
      f"`agent-check` every 500 ms on each server's `AGENT_PORT`, `weight 100`), all "
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
      "its open connections at SIGTERM | exit status | SIGTERM to exit | DRAIN by its agent | "
      "HAProxy redispatches | retries on the same server | then DOWN by |")
    w("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rounds:
        l = r["load"]
        w(f"| {r['stopped']} | {l['requests']} | {l['ok']} | {sum(l['non200'].values())} | "
          f"{l['errors']} | {l.get('in_flight_at_kill')} | {r['open_at_sigterm']} | "
          f"{r['exit_status']} | {ms(r['exit_seconds'])} | {r.get('agent_drain', '?')} | "
          f"{r['redispatches']} | "
          f"{r['retries']} | {down(r['down_reason'])} |")
    w("")
    w("In flight at SIGTERM: requests the load client had sent (to HAProxy) and not yet "
      "seen answered when it sent the signal, over all servers. Its open connections: from "
      "the stopped server's log line `draining: listener closed, N connection(s) to finish` "
      "(HAProxy's idle pooled connections included), written when the drain begins, "
      "`AGENT_DRAIN_MS` (1 s here) after SIGTERM. SIGTERM to exit includes that second. "
      "DRAIN by its agent: HAProxy's log says `poolservers/poolserverN enters drain state` "
      "after the signal (the agent answered `drain` while the server still served). "
      "Redispatches: requests HAProxy sent to another server after the stopped one refused "
      "the connection (or closed an idle one without answering), from HAProxy's stats for the "
      "round; retries on the same server likewise. Then DOWN by: HAProxy's log line for the "
      "server going DOWN once its listener had closed.\n")
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
    report_feedback(w, d, meta)
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
    s = sub.add_parser("wait-all"); s.add_argument("seconds", type=float)
    s.add_argument("pairs", nargs="+", help="URL PID ..."); s.set_defaults(f=cmd_wait_all)
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
    s = sub.add_parser("wait-agent"); s.add_argument("url"); s.add_argument("seconds", type=float)
    s.add_argument("servers", nargs="+"); s.set_defaults(f=cmd_wait_agent)
    s = sub.add_parser("status"); s.add_argument("url"); s.set_defaults(f=cmd_status)
    s = sub.add_parser("settle"); s.add_argument("seconds", type=float)
    s.add_argument("urls", nargs="+"); s.set_defaults(f=cmd_settle)
    s = sub.add_parser("feedback")
    s.add_argument("--loadgen", required=True); s.add_argument("--port", type=int, required=True)
    s.add_argument("--stats", required=True); s.add_argument("--rate", type=float, required=True)
    s.add_argument("--path", required=True); s.add_argument("--seconds", type=float, required=True)
    s.add_argument("--seed", type=int, default=1); s.add_argument("--agent", required=True)
    s.add_argument("--warmup", type=float, default=0)
    s.add_argument("--small", type=int, default=3); s.add_argument("--check", action="store_true")
    s.add_argument("--json", required=True); s.add_argument("urls", nargs="+")
    s.set_defaults(f=cmd_feedback)
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
    s.add_argument("--drain-line", default=""); s.add_argument("--agent-drain", default="no")
    s.set_defaults(f=cmd_round)
    s = sub.add_parser("meta"); s.add_argument("--json", required=True)
    for name in ("command", "cpu", "loadavg", "threads", "haproxy", "wrk", "commit"):
        s.add_argument(f"--{name}", required=True)
    s.add_argument("--drain-ms", type=int); s.add_argument("--maxconn", type=int)
    s.add_argument("--feedback-path"); s.add_argument("--feedback-rate", type=int)
    s.set_defaults(f=cmd_meta)
    s = sub.add_parser("report")
    s.add_argument("--results", required=True); s.add_argument("--out", required=True)
    s.set_defaults(f=cmd_report)
    a = p.parse_args()
    a.f(a)


if __name__ == "__main__":
    main()

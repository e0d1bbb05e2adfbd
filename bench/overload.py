#!/usr/bin/env python3
"""Overload control bounded in time (issue 15): ADMISSION=adaptive against its baselines.

Open-loop load from poolserver-loadgen (Poisson arrivals) against three servers, each with
THREADS=2 and default settings otherwise, measured in turn in the same run: `adaptive` (the
default admission control), `static` (ADMISSION=static: a full mailbox is the only limit) and
`haproxy` (HAProxy in front of a static poolserver: `maxconn` THREADS, a bounded queue with
`timeout queue`, the usual way to bound a server's queue from outside).

First it calibrates on an idle server: the n of GET /n that runs about 1, 10 and 100 ms here,
and each shape's idle latency (one request at a time: the p99 run time of the goals). Then,
per shape (uniform ~10 ms jobs; heavy-tailed: 90 % ~1 ms, 10 % ~100 ms), it measures the
capacity (closed loop, 32 connections, ADMISSION=static: 200s per second) and offers 2x and 5x
that capacity to each server. Then priorities (a `low` stream at 5x plus a `high` one at 0.2x)
and fairness (client A at 5x, client B at 0.3x), adaptive against static, uniform jobs.
Writes docs/overload.md: each row of the adaptive server against the issue's goals, PASS or
FAIL, and why a goal failed.

Usage: bench/overload.py [--quick] [--runs N] [--out FILE]

--quick shortens every step (about a minute and a half: a smoke test, not a measurement).
With --runs N the whole load grid runs N times and each cell is the median of the N runs.
"""

import argparse
import contextlib
import datetime
import http.client
import json
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import suite  # noqa: E402  (the helpers of the benchmark suite)

LOADGEN = suite.BUILD / "bench" / "poolserver-loadgen"
HOST = suite.HOST
THREADS = 2
VARIANTS = ["adaptive", "static", "haproxy"]
BASELINES = ["static", "haproxy"]
LOADS = [2, 5]  # offered load, in multiples of the measured capacity
HAPROXY_QUEUE_MS = 100  # HAProxy's `timeout queue`: past it, HAProxy answers 503
# The closed loop that measures capacity. With 4 connections the workers ran only 1.26 of 2
# cores' worth on the heavy-tailed mix here (run seconds over wall seconds; 1.69 with 64): a
# few short jobs queued behind a long one in one mailbox while the other worker ran dry.
CLOSED_CONNECTIONS = 32
# Why the server answered 503, from its /metrics: the adaptive sheds, and a full mailbox.
SHED_REASONS = ["queue_delay", "deadline", "fair_share", "sojourn", "queue_full"]

# The goals for the adaptive server, each row of the load grid.
GOAL_GOODPUT = 0.9  # goodput >= this x capacity
GOAL_P99_FACTOR, GOAL_P99_SLACK_MS = 3, 50  # 200 p99 <= 3x idle p99 run time + 50 ms
GOAL_503_P99_MS = 10  # 503s answered fast
GOAL_504_SHARE = 0.01  # 504s <= 1 % of offered
GOAL_HIGH_FACTOR = 2  # high's p99 under load <= 2x its p99 alone
GOAL_FAIR_OK = 0.95  # client B gets >= 95 % answered 200


def log(msg):
    print(f"[overload] {msg}", file=sys.stderr, flush=True)


class Plan:
    """How long each step runs: --quick is a smoke test, the default a measurement."""

    def __init__(self, quick):
        self.load_s = 2.0 if quick else 10.0  # each open-loop run
        self.capacity_s = 1.5 if quick else 4.0  # each closed-loop capacity run
        self.idle_s = 1.5 if quick else 4.0  # idle latency of a shape
        self.warm_s = 0.3 if quick else 0.5  # a fresh server's first jobs (cost model)
        self.samples = 10 if quick else 30  # single requests timed to calibrate n
        # A request not answered within this, from its scheduled time, counts timed out: it
        # bounds the drain of a static server's queue (seconds of work at 5x).
        self.timeout_ms = 2000 if quick else 5000


def stop(proc, name, grace=10):
    """SIGTERM, then SIGKILL after `grace` seconds; only this process, by its PID."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        log(f"{name} (pid {proc.pid}) still running {grace} s after SIGTERM: killed")
        proc.kill()
        proc.wait(timeout=10)


@contextlib.contextmanager
def poolserver(admission):
    """A poolserver with THREADS=2 and ADMISSION=admission on a free port: yields the port."""
    port = suite.free_port()
    env = dict(os.environ, PORT=str(port), HOST=HOST, LOG_LEVEL="warn", THREADS=str(THREADS),
               ADMISSION=admission)
    proc = subprocess.Popen([str(suite.SERVER)], env=env, preexec_fn=suite.raise_fd_limit)
    try:
        suite.wait_for(f"http://{HOST}:{port}/healthz", 10, pid=proc.pid)
        yield port
    finally:
        stop(proc, "poolserver")


@contextlib.contextmanager
def haproxy(backend_port, maxqueue, tmp):
    """HAProxy on a free port in front of backend_port: at most THREADS requests at the
    server, the rest in a queue of `maxqueue` that times out after HAPROXY_QUEUE_MS (503)."""
    port = suite.free_port()
    # Two descriptors a connection (client and server side): what the hard limit allows.
    maxconn = min(20000, (resource.getrlimit(resource.RLIMIT_NOFILE)[1] - 100) // 2)
    conf = Path(tmp) / f"haproxy-{port}.cfg"
    conf.write_text(f"""global
  maxconn {maxconn}
defaults
  mode http
  option http-keep-alive
  http-reuse always
  timeout connect 1s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 10s
  timeout queue {HAPROXY_QUEUE_MS}ms
frontend front
  bind {HOST}:{port}
  maxconn {maxconn}
  default_backend pool
backend pool
  server poolserver {HOST}:{backend_port} maxconn {THREADS} maxqueue {maxqueue}
""")
    proc = subprocess.Popen(["haproxy", "-q", "-db", "-f", str(conf)], preexec_fn=suite.raise_fd_limit)
    try:
        suite.wait_for(f"http://{HOST}:{port}/healthz", 10, pid=proc.pid)
        yield port
    finally:
        stop(proc, "haproxy")


@contextlib.contextmanager
def variant(name, capacity, tmp):
    """The server under test, `name` in VARIANTS: yields the port to load."""
    if name == "haproxy":
        # The queue holds what the pool runs within the queue timeout, at least THREADS.
        maxqueue = max(THREADS, round(capacity * HAPROXY_QUEUE_MS / 1000))
        with poolserver("static") as backend, haproxy(backend, maxqueue, tmp) as port:
            yield port
    else:
        with poolserver(name) as port:
            yield port


def loadgen(port, args, seconds, timeout_ms, seed=1):
    """One poolserver-loadgen run; its JSON result."""
    cmd = [str(LOADGEN), "--port", str(port), "--host", HOST, "--duration", f"{seconds:g}",
           "--timeout-ms", str(timeout_ms), "--seed", str(seed), *args]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True,
                         timeout=seconds + timeout_ms / 1000 + 60)
    return json.loads(out.stdout)


def shed_counts(port):
    """The server's refusals so far, by reason (summed over priorities), from /metrics."""
    text = suite.get(f"http://{HOST}:{port}/metrics", 10)[1]
    counts = dict.fromkeys(SHED_REASONS, 0.0)
    for line in text.splitlines():
        m = re.fullmatch(r'poolserver_shed_total\{reason="(\w+)",priority="\w+"\} (\S+)', line) \
            or re.fullmatch(r'poolserver_rejections_total\{reason="(queue_full)"\} (\S+)', line)
        if m and m.group(1) in counts:
            counts[m.group(1)] += float(m.group(2))
    return counts


def run_seconds(port):
    """The sum of the local workers' run times so far (poolserver_run_seconds), from /metrics."""
    text = suite.get(f"http://{HOST}:{port}/metrics", 10)[1]
    m = re.search(r"^poolserver_run_seconds_sum (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def summary(stream):
    """The numbers of one loadgen stream that the report uses (latencies in ms)."""
    st = stream["statuses"]

    def count(code):
        return st[code]["count"] if code in st else 0

    def latency(code, q):
        return st[code]["latency_ms"][q] if code in st else None

    return {
        "offered": stream["offered"],
        "offered_rate": stream["offered_rate"],
        "goodput": stream["goodput"],
        "ok": count("200"),
        "p50": latency("200", "p50"),
        "p99": latency("200", "p99"),
        "shed": count("503"),
        "p99_503": latency("503", "p99"),
        "n504": count("504"),
        "other": sum(v["count"] for k, v in st.items() if k not in ("200", "503", "504")),
        "lost": stream["lost"],
        "timed_out": stream["timed_out"],
        "not_sent": stream["not_sent"],
        "send_lag": stream["max_send_lag_ms"],
    }


def median_summary(runs):
    """Each number the median of the runs' (those that have it)."""
    out = {}
    for key in runs[0]:
        values = [r[key] for r in runs if r[key] is not None]
        out[key] = statistics.median(values) if values else None
    return out


def round_n(x):
    """n with two significant digits: readable paths."""
    digits = max(0, len(str(int(x))) - 2)
    return max(1, round(x / 10**digits) * 10**digits)


def time_single(port, n, samples):
    """Median seconds of GET /n, one at a time on one keep-alive connection."""
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    times = []
    try:
        for _ in range(samples):
            t0 = time.perf_counter()
            conn.request("GET", f"/{n}")
            r = conn.getresponse()
            r.read()
            times.append(time.perf_counter() - t0)
            if r.status != 200:
                raise RuntimeError(f"GET /{n}: {r.status}")
    finally:
        conn.close()
    return statistics.median(times)


class Overload:
    def __init__(self, args):
        self.plan = Plan(args.quick)
        self.runs = args.runs
        self.seed = 1
        self.loadavg = []  # the 1-minute load average before each run
        self.lag = 0.0  # the generator's largest send lag, over every run

    def next_seed(self):
        self.seed += 1
        return self.seed

    def run(self, port, args, seconds=None):
        self.loadavg.append(os.getloadavg()[0])
        r = loadgen(port, args, seconds or self.plan.load_s, self.plan.timeout_ms,
                    self.next_seed())
        self.lag = max([self.lag] + [s["max_send_lag_ms"] for s in r["streams"]])
        return r

    def warm(self, port, shape):
        """A fresh server's first jobs of the shape (the adaptive cost model learns them)."""
        loadgen(port, ["--closed", "2", *self.target(shape)], self.plan.warm_s, 10000)

    def target(self, shape, sep=","):
        mix = self.shapes[shape]
        if len(mix) == 1:
            return ["--path", mix[0][1]]
        return ["--mix", sep.join(f"{w}:{p}" for w, p in mix)]

    def stream_target(self, shape):
        mix = self.shapes[shape]
        return f"path={mix[0][1]}" if len(mix) == 1 else \
            "mix=" + "+".join(f"{w}:{p}" for w, p in mix)

    # --- calibration and capacity -------------------------------------------------------
    def calibrate(self):
        """n for ~1, 10 and 100 ms jobs, and each shape's idle latency, on an idle server."""
        log("calibrating n on an idle server (ADMISSION=static)")
        probe = 10_000_000
        with poolserver("static") as port:
            time_single(port, probe, 3)  # first touch
            overhead = time_single(port, 0, self.plan.samples)
            t = time_single(port, probe, self.plan.samples)
            per_n = max(t - overhead, 1e-6) / probe
            self.n = {ms: round_n(ms / 1000 / per_n) for ms in (1, 10, 100)}
            self.single_ms = {ms: time_single(port, n, max(3, self.plan.samples // (ms // 10 + 1)))
                              * 1000 for ms, n in self.n.items()}
            self.overhead_ms = overhead * 1000
            self.shapes = {
                "uniform": [(100, f"/{self.n[10]}")],
                "heavy-tailed": [(90, f"/{self.n[1]}"), (10, f"/{self.n[100]}")],
            }
            self.idle = {}
            for shape in self.shapes:
                r = loadgen(port, ["--closed", "1", *self.target(shape)], self.plan.idle_s,
                            30000)
                self.idle[shape] = summary(r["streams"][0])
                log(f"{shape}: idle p50 {self.idle[shape]['p50']:.2f} ms, "
                    f"p99 {self.idle[shape]['p99']:.2f} ms")
        log(f"n: {self.n} (GET /0 {self.overhead_ms:.2f} ms; /{probe} {t * 1000:.2f} ms)")

    def measure_capacity(self, shape, run):
        """200s per second of a closed loop against ADMISSION=static, just before the shape's
        load runs (so that drift on a shared machine hits both alike)."""
        with poolserver("static") as port:
            self.warm(port, shape)
            before, t0 = run_seconds(port), time.monotonic()
            r = self.run(port, ["--closed", str(CLOSED_CONNECTIONS), *self.target(shape)],
                         self.plan.capacity_s)
            busy = (run_seconds(port) - before) / (time.monotonic() - t0)
        cap = r["streams"][0]["goodput"]
        self.capacities.setdefault(shape, []).append(cap)
        self.busy.setdefault(shape, []).append(busy)
        log(f"run {run + 1}: {shape} capacity {cap:.1f}/s, workers busy {busy:.2f} of {THREADS}")
        return cap

    # --- the load grid ------------------------------------------------------------------
    def grid(self, tmp):
        """Per run and shape: the capacity, then each load against each server.
        results[(shape, load, variant)]: the median summary of the runs."""
        raw = {}
        self.capacities = {}
        self.busy = {}  # run seconds of the workers over wall seconds, while measuring capacity
        for run in range(self.runs):
            for shape in self.shapes:
                cap = self.measure_capacity(shape, run)
                for load in LOADS:
                    for name in VARIANTS:
                        with variant(name, cap, tmp) as port:
                            self.warm(port, shape)
                            before = shed_counts(port)
                            r = self.run(port, ["--rate", f"{load * cap:.1f}", "--arrivals",
                                                "poisson", *self.target(shape)])
                            after = shed_counts(port)
                        s = summary(r["streams"][0])
                        s["x_cap"] = s["goodput"] / cap
                        s.update({k: after[k] - before[k] for k in after})
                        raw.setdefault((shape, load, name), []).append(s)
                        log(f"run {run + 1}: {shape} {load}x {name}: goodput "
                            f"{s['goodput']:.1f}/s ({s['x_cap']:.2f}x), 200 p99 "
                            f"{fmt(s['p99'])} ms, 503 {s['shed']} (p99 {fmt(s['p99_503'])} ms; "
                            f"{reasons(s)}), 504 {s['n504']}, lost/timed out/not sent {s['lost']}/"
                            f"{s['timed_out']}/{s['not_sent']}")
        self.capacity = {shape: statistics.median(v) for shape, v in self.capacities.items()}
        self.results = {k: median_summary(v) for k, v in raw.items()}

    # --- priorities and fairness --------------------------------------------------------
    def priorities(self):
        """Per server: high alone at 0.2x, then low at 5x plus high at 0.2x (uniform jobs)."""
        shape = "uniform"
        cap = self.capacity[shape]
        high = f"name=high,rate={0.2 * cap:.1f},{self.stream_target(shape)},header=X-Priority: high"
        low = f"name=low,rate={5 * cap:.1f},{self.stream_target(shape)},header=X-Priority: low"
        raw = {}
        for run in range(self.runs):
            for name in ("adaptive", "static"):
                with poolserver(name) as port:
                    self.warm(port, shape)
                    alone = self.run(port, ["--arrivals", "poisson", "--stream", high])
                    before = shed_counts(port)
                    mixed = self.run(port, ["--arrivals", "poisson", "--stream", low,
                                            "--stream", high])
                    after = shed_counts(port)
                streams = {s["name"]: summary(s) for s in mixed["streams"]}
                streams["low"].update({k: after[k] - before[k] for k in after})
                entry = raw.setdefault(name, {"alone": [], "high": [], "low": []})
                entry["alone"].append(summary(alone["streams"][0]))
                entry["high"].append(streams["high"])
                entry["low"].append(streams["low"])
                log(f"run {run + 1}: priorities {name}: high alone p99 "
                    f"{fmt(entry['alone'][-1]['p99'])} ms, under load p99 "
                    f"{fmt(streams['high']['p99'])} ms, high 503 {streams['high']['shed']}")
        self.prio = {name: {k: median_summary(v) for k, v in e.items()} for name, e in raw.items()}

    def fairness(self):
        """Per server: client A at 5x capacity, client B at 0.3x (uniform jobs)."""
        shape = "uniform"
        cap = self.capacity[shape]
        a = f"name=A,rate={5 * cap:.1f},{self.stream_target(shape)},header=X-Client-Id: A"
        b = f"name=B,rate={0.3 * cap:.1f},{self.stream_target(shape)},header=X-Client-Id: B"
        raw = {}
        for run in range(self.runs):
            for name in ("adaptive", "static"):
                with poolserver(name) as port:
                    self.warm(port, shape)
                    before = shed_counts(port)
                    r = self.run(port, ["--arrivals", "poisson", "--stream", a, "--stream", b])
                    after = shed_counts(port)
                streams = {s["name"]: summary(s) for s in r["streams"]}
                streams["A"].update({k: after[k] - before[k] for k in after})
                for client, s in streams.items():
                    raw.setdefault((name, client), []).append(s)
                log(f"run {run + 1}: fairness {name}: B answered 200 "
                    f"{ok_share(streams['B']) * 100:.1f} %")
        self.fair = {k: median_summary(v) for k, v in raw.items()}

    # --- the report ---------------------------------------------------------------------
    def p99_bound(self, shape):
        return GOAL_P99_FACTOR * self.idle[shape]["p99"] + GOAL_P99_SLACK_MS

    def grid_goals(self, shape, s):
        """(name, passed, why-if-failed) of each goal for one adaptive row."""
        unanswered = s["lost"] + s["timed_out"] + s["not_sent"]
        bound = self.p99_bound(shape)
        p99_503 = s["p99_503"] or 0
        share504 = s["n504"] / s["offered"] if s["offered"] else 0
        return [
            ("lost", unanswered == 0,
             f"{s['lost']:g} lost, {s['timed_out']:g} timed out, {s['not_sent']:g} not sent"),
            ("goodput", s["x_cap"] >= GOAL_GOODPUT,
             f"goodput {s['goodput']:.1f}/s is {s['x_cap']:.2f}x the capacity measured "
             f"before it (goal >= {GOAL_GOODPUT})"),
            ("200 p99", s["p99"] is not None and s["p99"] <= bound,
             f"200 p99 {fmt(s['p99'])} ms > {bound:.1f} ms ({GOAL_P99_FACTOR}x the idle p99 "
             f"{self.idle[shape]['p99']:.2f} ms + {GOAL_P99_SLACK_MS} ms)"),
            ("503 p99", p99_503 <= GOAL_503_P99_MS,
             f"503 p99 {p99_503:.2f} ms > {GOAL_503_P99_MS} ms"),
            ("504", share504 <= GOAL_504_SHARE,
             f"504s {share504 * 100:.2f} % of offered > {GOAL_504_SHARE * 100:g} %"),
        ]

    def grid_table(self, shape, fails):
        goal_names = [g[0] for g in self.grid_goals(shape, self.results[(shape, LOADS[0],
                                                                           "adaptive")])]
        lines = [
            "| load | server | offered/s | goodput/s | x capacity | 200 p50 ms | 200 p99 ms | "
            "503 p99 ms | 503 % | 504 % | lost / timed out / not sent | "
            + " | ".join(goal_names) + " |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | "
            + " | ".join("---" for _ in goal_names) + " |",
        ]
        for load in LOADS:
            for name in VARIANTS:
                s = self.results[(shape, load, name)]
                off = s["offered"] or 1
                cells = [f"{load}x", name, f"{s['offered_rate']:.0f}", f"{s['goodput']:.0f}",
                         f"{s['x_cap']:.2f}", fmt(s["p50"]), fmt(s["p99"]),
                         fmt(s["p99_503"]), f"{s['shed'] / off * 100:.1f}",
                         f"{s['n504'] / off * 100:.2f}",
                         f"{s['lost']:g} / {s['timed_out']:g} / {s['not_sent']:g}"
                         + (f" (+{s['other']:g} other statuses)" if s["other"] else "")]
                if name == "adaptive":
                    for goal, ok, why in self.grid_goals(shape, s):
                        cells.append("PASS" if ok else "**FAIL**")
                        if not ok:
                            fails.append(f"{shape}, {load}x, {goal}: {why}.")
                else:
                    cells += ["" for _ in goal_names]
                lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        for load in LOADS:
            a = self.results[(shape, load, "adaptive")]
            parts = []
            for base in BASELINES:
                b = self.results[(shape, load, base)]
                parts.append(f"{ratio(a['goodput'], b['goodput'])} {base}'s goodput and "
                             f"{ratio(a['p99'], b['p99'])} its 200 p99")
            lines.append(f"At {load}x the adaptive server has " + "; ".join(parts) + ".")
            lines.append("")
        lines.append("503s by reason, from each server's /metrics (queue_full: a full mailbox; "
                     "the others are the adaptive sheds; HAProxy's own 503s, its queue full or timed out, are "
                     "not counted there): " + "; ".join(
                         f"{load}x {name}: {reasons(self.results[(shape, load, name)])}"
                         for load in LOADS for name in VARIANTS) + ".")
        lines.append("")
        return lines

    def priority_table(self, fails):
        lines = [
            "| server | high alone p99 ms | high under load p50 ms | high under load p99 ms | "
            "ratio to alone | high 503 | high lost / timed out | low goodput/s | low 503 % | "
            "high p99 goal | no high shed |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
        ]
        for name in ("adaptive", "static"):
            p = self.prio[name]
            alone, high, low = p["alone"], p["high"], p["low"]
            r = high["p99"] / alone["p99"] if high["p99"] and alone["p99"] else None
            cells = [name, fmt(alone["p99"]), fmt(high["p50"]), fmt(high["p99"]),
                     f"{r:.2f}" if r is not None else "-", f"{high['shed']:g}",
                     f"{high['lost'] + high['not_sent']:g} / {high['timed_out']:g}",
                     f"{low['goodput']:.0f}", f"{low['shed'] / (low['offered'] or 1) * 100:.1f}"]
            if name == "adaptive":
                ok_p99 = r is not None and r <= GOAL_HIGH_FACTOR
                lost = high["lost"] + high["timed_out"] + high["not_sent"]
                ok_shed = high["shed"] == 0 and lost == 0
                cells += [verdict(ok_p99), verdict(ok_shed)]
                if not ok_p99:
                    fails.append(f"priorities, high p99: {fmt(high['p99'])} ms under load is "
                                 f"{r or 0:.2f}x its {fmt(alone['p99'])} ms alone (goal <= "
                                 f"{GOAL_HIGH_FACTOR}x).")
                if not ok_shed:
                    fails.append(f"priorities, high shed: {high['shed']:g} high requests got "
                                 f"503, {lost:g} no answer (goal: none).")
            else:
                cells += ["", ""]
            lines.append("| " + " | ".join(cells) + " |")
        lines += ["", "503s by reason under load, from /metrics (both streams): " + "; ".join(
            f"{name}: {reasons(self.prio[name]['low'])}" for name in ("adaptive", "static")) + "."]
        return lines

    def fairness_table(self, fails):
        lines = [
            "| server | client | offered/s | 200 % | 200 p99 ms | 503 % | goodput/s | "
            "B >= 95 % 200 |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
        ]
        for name in ("adaptive", "static"):
            for client in ("A", "B"):
                s = self.fair[(name, client)]
                cells = [name, client, f"{s['offered_rate']:.0f}", f"{ok_share(s) * 100:.1f}",
                         fmt(s["p99"]), f"{s['shed'] / (s['offered'] or 1) * 100:.1f}",
                         f"{s['goodput']:.0f}", ""]
                if name == "adaptive" and client == "B":
                    ok = ok_share(s) >= GOAL_FAIR_OK
                    cells[-1] = verdict(ok)
                    if not ok:
                        fails.append(f"fairness: client B got {ok_share(s) * 100:.1f} % of its "
                                     f"requests answered 200 (goal >= {GOAL_FAIR_OK * 100:g} %).")
                lines.append("| " + " | ".join(cells) + " |")
        lines += ["", "503s by reason, from /metrics (both clients): " + "; ".join(
            f"{name}: {reasons(self.fair[(name, 'A')])}" for name in ("adaptive", "static")) + "."]
        return lines

    def write(self, out, command, started, elapsed):
        p = self.plan
        fails = []
        lines = [
            "# Overload: admission control bounded in time",
            "",
            f"Written by `{command}` on {started:%Y-%m-%d %H:%M} UTC at commit "
            f"{suite.git_commit()} in {elapsed / 60:.1f} minutes; {machine()}. The 1-minute "
            f"load average before each run was {min(self.loadavg):.1f}-{max(self.loadavg):.1f} "
            f"(the server, the load generator and HAProxy share the {os.cpu_count()} cores; "
            "anything else running shows here). The load generator's largest send lag was "
            f"{self.lag:.1f} ms.",
            "",
            f"Every server has THREADS={THREADS} and default settings otherwise: `adaptive` "
            "(ADMISSION=adaptive, the default), `static` (ADMISSION=static: a full mailbox is "
            f"the only limit) and `haproxy` (HAProxy {haproxy_version()} in front of a static "
            f"poolserver: `maxconn {THREADS}` on its one server line, `maxqueue` the jobs of "
            f"{HAPROXY_QUEUE_MS} ms at capacity, `timeout queue {HAPROXY_QUEUE_MS}ms`, "
            "`http-reuse always`). Each measurement starts fresh servers and warms them for "
            f"{p.warm_s:g} s (closed loop, 2 connections). Load: `poolserver-loadgen` open loop, "
            f"Poisson arrivals, {p.load_s:g} s per run; a request not answered within "
            f"{p.timeout_ms / 1000:g} s of its scheduled time counts as timed out. Latency runs "
            "from the scheduled time. "
            + (f"Each cell is the median of {self.runs} runs. " if self.runs > 1 else "")
            + "Goals are checked on the adaptive rows; static and haproxy are the baselines.",
            "",
            "## Calibration and capacity",
            "",
            f"On an idle static server, one request at a time (median of {p.samples}): GET /0 "
            f"takes {self.overhead_ms:.2f} ms, so GET /n runs "
            + ", ".join(f"about {ms} ms at n={n} ({self.single_ms[ms]:.2f} ms measured)"
                        for ms, n in self.n.items()) + ".",
            "",
            "| shape | targets | idle p50 ms | idle p99 ms | 200 p99 goal ms | capacity/s | "
            f"workers busy (of {THREADS}) |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for shape, mix in self.shapes.items():
            targets = ", ".join(f"{w} % {t}" for w, t in mix)
            lines.append(f"| {shape} | {targets} | {self.idle[shape]['p50']:.2f} | "
                         f"{self.idle[shape]['p99']:.2f} | {self.p99_bound(shape):.1f} | "
                         f"{self.capacity[shape]:.1f} | "
                         f"{statistics.median(self.busy[shape]):.2f} |")
        lines += [
            "",
            f"Idle latency: a closed loop of one connection for {p.idle_s:g} s (the p99 run "
            f"time of the goals, HTTP included). Capacity: 200s per second of a closed loop of "
            f"{CLOSED_CONNECTIONS} connections against ADMISSION=static for {p.capacity_s:g} s, "
            "measured just before the shape's loads; workers busy: their run seconds over "
            f"wall seconds meanwhile ({THREADS} when neither waits for work or for a core).",
            "",
            "Goals per row (adaptive): no request lost, timed out or not sent; goodput >= "
            f"{GOAL_GOODPUT}x capacity; 200 p99 <= {GOAL_P99_FACTOR}x the idle p99 + "
            f"{GOAL_P99_SLACK_MS} ms; 503 p99 <= {GOAL_503_P99_MS} ms; 504s <= "
            f"{GOAL_504_SHARE * 100:g} % of offered.",
            "",
        ]
        for shape in self.shapes:
            lines += [f"## {shape.capitalize()} jobs at {' and '.join(f'{x}x' for x in LOADS)} "
                      "capacity", ""]
            lines += self.grid_table(shape, fails)
        cap = self.capacity["uniform"]
        lines += [
            "## Priorities",
            "",
            f"Uniform jobs. First a `high` stream alone at 0.2x capacity ({0.2 * cap:.0f}/s); "
            f"then, on the same server, a `low` stream at 5x ({5 * cap:.0f}/s) with the `high` "
            f"stream at 0.2x (X-Priority). Goals (adaptive): high's p99 <= {GOAL_HIGH_FACTOR}x "
            "its p99 alone, and no high request shed or unanswered.",
            "",
        ]
        lines += self.priority_table(fails)
        lines += [
            "",
            "## Fairness",
            "",
            f"Uniform jobs, normal priority: client A (X-Client-Id: A) at 5x capacity "
            f"({5 * cap:.0f}/s), client B at 0.3x ({0.3 * cap:.0f}/s). Goal (adaptive): B gets "
            f">= {GOAL_FAIR_OK * 100:g} % of its requests answered 200.",
            "",
        ]
        lines += self.fairness_table(fails)
        lines += ["", "## Goals missed", ""]
        if fails:
            lines += [f"- FAIL: {f}" for f in fails]
            lines += [
                "",
                f"Context for every FAIL above: the load average before the runs was "
                f"{min(self.loadavg):.1f}-{max(self.loadavg):.1f} on {os.cpu_count()} cores, "
                f"and the server's {THREADS} compute threads share them with the load "
                "generator (and HAProxy): a load average above the core count means that "
                "jobs ran slower than at calibration, which both lowers the capacity reached "
                "and lengthens waits. Rerun on a quiet machine before reading a FAIL as the "
                "server's.",
            ]
        else:
            lines.append("None: every goal was met in this run.")
        lines.append("")
        Path(out).write_text("\n".join(lines))
        return fails


def fmt(x):
    return "-" if x is None else f"{x:.1f}" if x >= 100 else f"{x:.2f}"


def reasons(s):
    """'queue_delay 12, sojourn 3' from a summary with the shed counts."""
    return ", ".join(f"{k} {s[k]:g}" for k in SHED_REASONS if s.get(k)) or "none"


def ratio(a, b):
    return f"{a / b:.2f}x" if a is not None and b else "-"


def verdict(ok):
    return "PASS" if ok else "**FAIL**"


def ok_share(s):
    return s["ok"] / s["offered"] if s["offered"] else 0


def haproxy_version():
    out = subprocess.run(["haproxy", "-v"], capture_output=True, text=True).stdout
    return out.split()[2] if len(out.split()) > 2 else "unknown"


def machine():
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return f"{model}, nproc {os.cpu_count()}, Linux {platform.release()}"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="short runs: a smoke test (~1.5 min)")
    p.add_argument("--runs", type=int, default=1, help="runs of each measurement (median)")
    p.add_argument("--out", default=str(suite.ROOT / "docs" / "overload.md"))
    args = p.parse_args()
    if args.runs < 1:
        p.error("--runs must be at least 1")
    for binary in (suite.SERVER, LOADGEN):
        if not binary.exists():
            sys.exit(f"overload.py: {binary} is missing; build the release preset "
                     "(targets poolserver and poolserver-loadgen)")
    if not shutil.which("haproxy"):
        sys.exit("overload.py: haproxy is missing (apt-get install haproxy)")
    suite.raise_fd_limit()
    command = " ".join(["bench/overload.py"] + sys.argv[1:])
    started = datetime.datetime.now(datetime.timezone.utc)
    t0 = time.monotonic()
    o = Overload(args)
    o.calibrate()
    with tempfile.TemporaryDirectory(prefix="poolserver-overload-") as tmp:
        o.grid(tmp)
    o.priorities()
    o.fairness()
    fails = o.write(args.out, command, started, time.monotonic() - t0)
    log(f"wrote {args.out} in {(time.monotonic() - t0) / 60:.1f} min; "
        f"{len(fails)} goal(s) missed")
    print(Path(args.out).read_text())


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The benchmark suite: every number in docs/benchmarks.md, measured side by side.

Runs the kernel and mailbox micro-benchmarks, then starts its own servers on 127.0.0.1
(poolserver, and nginx as the ceiling for the request path) and drives them with wrk:
the trivial job against nginx `return 200`, the real job against the kernel's own compute
bound, memory at idle and with 1,000 keep-alive connections, the strategies under a
homogeneous and a heavy-tailed mix, and throughput against connections. Every comparison
is a ratio of medians from the same run. Writes the report and its PNG plots (gnuplot).

    bench/run.sh                     # installs what is missing, builds, runs this
    bench/suite.py [--runs N] [--quick] [--out DIR]

--quick shortens every measurement (for CI: the suite still runs end to end).
"""

import argparse
import datetime
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from loopback import free_port, get, wait_for  # noqa: E402  (tools/: the shared helpers)
from wrk import run as run_wrk  # noqa: E402

BUILD = ROOT / "build" / "release"
SERVER = BUILD / "server" / "poolserver"
KERNEL_BENCH = BUILD / "bench" / "poolserver_kernel_bench"
MAILBOX_BENCH = BUILD / "bench" / "poolserver_mailbox_bench"
HOST = "127.0.0.1"
STRATEGIES = ["roundrobin", "random", "leastbusy", "p2c"]
# Lua for wrk, ahead of wrk.DONE: a request() that picks a job per request.
WRK_MIX = r"""
-- 90% n=10^5, 10% n=10^7: a heavy tail (the long jobs take ~100x as long).
-- Built in init, once wrk.init has set the Host header (HTTP/1.1 requires it: 400 without).
local short, long
init = function(args)
  short = wrk.format("GET", "/100000")
  long = wrk.format("GET", "/10000000")
end
math.randomseed(os.time())
request = function()
  if math.random() < 0.1 then return long end
  return short
end
"""


def log(msg):
    print(f"[suite] {msg}", file=sys.stderr, flush=True)


def median(values):
    return statistics.median(values)


def spread(values, fmt="{:.0f}"):
    """'median (min-max)' of a list of numbers."""
    return f"{fmt.format(median(values))} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def ratio_rows(results, names, targets, baseline):
    """Markdown rows `| GET target | name | req/s | ratio | p99 ms | p99 ratio |` from
    results[(name, target)] (lists of wrk() results): medians (min-max), ratios of medians
    against `baseline`."""
    rows = []
    for t in targets:
        base_rps = median([r["rps"] for r in results[(baseline, t)]])
        base_p99 = median([r["p99"] for r in results[(baseline, t)]])
        for name in names:
            rps = [r["rps"] for r in results[(name, t)]]
            p99 = [r["p99"] / 1000 for r in results[(name, t)]]
            rows.append(
                f"| GET {t} | {name} | {spread(rps)} | {median(rps) / base_rps:.2f} | "
                f"{spread(p99, '{:.2f}')} | {median(p99) * 1000 / base_p99:.2f} |")
    return rows


def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))


class Poolserver:
    def __init__(self, **settings):
        self.port = free_port()
        # ADMISSION=static: these are closed-loop measurements of the request path, and
        # wrk's connections keep a standing queue that adaptive admission would refuse
        # (docs/admission.md); docs/overload.md measures admission itself.
        env = dict(os.environ, PORT=str(self.port), HOST=HOST, LOG_LEVEL="warn",
                   ADMISSION="static")
        env.update({k: str(v) for k, v in settings.items()})
        self.proc = subprocess.Popen([str(SERVER)], env=env, preexec_fn=raise_fd_limit)
        wait_for(self.url("/healthz"), 10)

    def url(self, path="/"):
        return f"http://{HOST}:{self.port}{path}"

    def metrics(self):
        return get(self.url("/metrics"), 10)[1]

    def rss_kib(self):
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1))

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise RuntimeError("poolserver did not stop within 15 s of SIGTERM")
        if code != 0:
            raise RuntimeError(f"poolserver exited {code}")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.stop()


class Nginx:
    """nginx from Debian, one worker, `return 200` on loopback: the request-path ceiling."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="poolserver-nginx-")
        self.port = free_port()
        conf = Path(self.dir) / "nginx.conf"
        conf.write_text(f"""
worker_processes 1;
daemon off;
pid {self.dir}/nginx.pid;
error_log {self.dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {self.dir};
  proxy_temp_path {self.dir};
  fastcgi_temp_path {self.dir};
  uwsgi_temp_path {self.dir};
  scgi_temp_path {self.dir};
  server {{
    listen {HOST}:{self.port};
    location / {{ return 200 "ok\\n"; }}
  }}
}}
""")
        self.proc = subprocess.Popen(["nginx", "-c", str(conf), "-p", self.dir],
                                     preexec_fn=raise_fd_limit)
        wait_for(self.url(), 10)

    def url(self, path="/"):
        return f"http://{HOST}:{self.port}{path}"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.send_signal(signal.SIGQUIT)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def wrk(url, connections, seconds, mix=False):
    """One wrk run (-t1): requests/s, latency percentiles in microseconds, error counts."""
    r = run_wrk(url, connections, seconds, timeout="10s", lua=WRK_MIX if mix else "",
                preexec_fn=raise_fd_limit)
    if r["non2xx"] or r["socket_errors"]:
        raise RuntimeError(f"wrk saw errors against {url}: {r}")
    return r


def google_benchmark(binary, runs, extra=()):
    """Runs a Google Benchmark binary; returns (console text, its ratio table, JSON)."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out_json = f.name
    try:
        out = subprocess.run([str(binary), f"--benchmark_repetitions={runs}",
                              f"--benchmark_out={out_json}", "--benchmark_out_format=json",
                              "--benchmark_color=false", *extra],
                             capture_output=True, text=True, check=True).stdout
        data = json.loads(Path(out_json).read_text())
    finally:
        os.unlink(out_json)
    table = out[out.index("####"):].strip() if "####" in out else ""
    return out, table, data


def per_worker(metrics_text, name):
    values = {}
    for m in re.finditer(rf'^{name}{{worker="(\d+)"}} (\S+)$', metrics_text, re.M):
        values[int(m.group(1))] = float(m.group(2))
    return [values[k] for k in sorted(values)]


def open_keepalive(port, count):
    """`count` connections, each with one GET /0 answered and left open (keep-alive)."""
    socks = []
    for _ in range(count):
        s = socket.create_connection((HOST, port))
        s.sendall(b"GET /0 HTTP/1.1\r\nHost: x\r\n\r\n")
        socks.append(s)
    for s in socks:
        data = b""
        while b"\r\n\r\n" not in data or not data.endswith(b"}"):
            chunk = s.recv(4096)
            if not chunk:
                raise RuntimeError("a keep-alive connection was closed")
            data += chunk
        if not data.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"unexpected answer: {data[:60]!r}")
    return socks


class Suite:
    def __init__(self, args):
        self.runs = args.runs
        self.quick = args.quick
        self.out = Path(args.out)
        self.seconds = 1 if args.quick else 5
        self.sections = []
        self.headline = {}

    def section(self, title, body):
        self.sections.append(f"## {title}\n\n{body.strip()}\n")

    # --- 1. kernel --------------------------------------------------------------------
    def kernel(self):
        log("kernel micro-benchmark")
        extra = ["--benchmark_filter=-square_sum_jobs", "--benchmark_min_time=0.05"] if self.quick \
            else ["--benchmark_filter=-square_sum_jobs"]
        _, table, data = google_benchmark(KERNEL_BENCH, self.runs, extra)
        self.headline["kernel"] = [(f"{subject} vs {baseline}", ratio, op, bound)
                                   for subject, baseline, ratio, op, bound in goal_bounds(table)]
        errors = {}
        for b in data["benchmarks"]:
            m = re.fullmatch(r"square_sum/(\d+)", b.get("run_name", ""))
            if m and "rel_error" in b and b.get("aggregate_name", "max") in ("max", "median"):
                errors[int(m.group(1))] = max(errors.get(int(m.group(1)), 0), b["rel_error"])
        self.headline["rel_error"] = errors
        error_text = ", ".join(f"n = {n:,}: {e:.1e}" for n, e in sorted(errors.items()))
        self.section("1. Kernel: square_sum against hand-vectorized reference loops", f"""
Command: `{KERNEL_BENCH.relative_to(ROOT)} --benchmark_repetitions={self.runs}`
(Google Benchmark, random interleaving; each row is a ratio of medians over {self.runs}
repetitions; time is per call).

`square_sum` is what the server runs (`{self.kernel_name()}` here): the kernel for the widest
instruction set this CPU has, with the square-root method that was faster on it when it
started. Both methods give the correctly rounded root, so every path gives the same sum to
the last bit (tests/square_sum_test.cpp checks every root of every path). `hardware` takes
the roots from the divider/sqrt unit (`vsqrtpd`); `fma` from an estimate of 1/sqrt
(`vrsqrt14pd`, or `vrsqrtps` in single precision for AVX2) refined by Goldschmidt steps
and a Markstein correction on the FMA units. The portable `scalar` path has only the
hardware method: without FMA the correction's residual `x - g*g` is not exact.

`reference_<isa>` is a plain loop written with intrinsics for that instruction set (four
vector accumulators, no compensation) with the hardware square root: the old ceiling.
`reference_rsqrt_<isa>` is the same loop with the FMA method's refinement: the ceiling of
that method. `square_sum_cancellable` looks at a cancel token every 262,144 terms, as every
server job does. Goals: the kernel within 10 % of the ceiling of its method; the FMA method
2.5x faster than the hardware loop on AVX-512 (ratio <= 0.40) and 2x on AVX2 (<= 0.50),
and within 10 % of its own reference. Where the FMA method is slower than the hardware on a
CPU, the kernel does not run it there: the rows say by how much.

{table}

Relative error of `square_sum` against the exact sum (the Euler-Maclaurin expansion in long
double), the largest over the repetitions: {error_text} (goal <= 1e-12; the reference loops
do no compensated summation and are not held to it).
""")

    def kernel_name(self):
        """The kernel square_sum runs, as the server's start-up line names it (avx512/fma)."""
        out = subprocess.run([str(KERNEL_BENCH), "--benchmark_filter=^square_sum/1000000$",
                              "--benchmark_min_time=0.01"], capture_output=True, text=True,
                             check=True).stdout
        m = re.search(r"square_sum kernel \(([\w/]+)\)", out)
        return m.group(1) if m else "unknown"

    # --- 2. mailbox --------------------------------------------------------------------
    def mailbox(self):
        log("mailbox micro-benchmark")
        extra = ["--benchmark_min_time=0.05"] if self.quick else []
        _, table, data = google_benchmark(MAILBOX_BENCH, self.runs, extra)
        wake = {}
        for b in data["benchmarks"]:
            # The median over repetitions; with one repetition, the run itself.
            if b["name"].startswith("wakeup/") and b.get("aggregate_name", "median") == "median":
                wake[b["name"].split("/")[1]] = (b["p50_us"], b["p99_us"])
        wake_rows = "\n".join(f"| {q} | {p50:.1f} | {p99:.1f} |" for q, (p50, p99) in wake.items())
        self.headline["mailbox"] = [
            (f"mailbox {subject.split('/')[2]} vs {baseline.split('/')[1]}", ratio)
            for subject, baseline, ratio in goal_ratios(table)]
        self.section("4. Mailbox against other queues", f"""
Command: `{MAILBOX_BENCH.relative_to(ROOT)} --benchmark_repetitions={self.runs}`.
Throughput moves 262,144 items from P producers to C consumers through a queue bounded at
1,024 (the default `QUEUE_CAPACITY`); every queue runs the same loop (try-push / try-pop,
yielding when full or empty) and every run checks that each item arrived exactly once.
`moodycamel` is `moodycamel::ConcurrentQueue` used as a bounded queue (`try_enqueue`);
`moodycamel_tokens_unbounded` is its fastest mode (per-thread tokens, `enqueue` allocating
when full): not a bounded mailbox (it never says "full", its memory grows instead), so it
has no goal; it is shown for scale. Its per-producer blocks also mean two producers never
contend for one ticket, where the mailbox's producers share one (`head_`). `wakeup` is the time from a push to
the return of a consumer that was asleep in a blocking pop (moodycamel's
`BlockingConcurrentQueue`, a `std::condition_variable`). Ratios below 1 mean the mailbox
is faster.

{table}

Wake-up latency, medians over the repetitions of each run's percentiles (µs):

| queue | p50 | p99 |
| --- | --- | --- |
{wake_rows}
""")

    # --- 3. request path, trivial job ----------------------------------------------------
    def trivial(self):
        log("request path: GET /0 against nginx return 200")
        ours, http_only, theirs = [], [], []
        with Nginx() as nginx, Poolserver(THREADS=2) as server:
            wrk(nginx.url(), 50, 1)  # warm both up
            wrk(server.url("/0"), 50, 1)
            for _ in range(self.runs):
                theirs.append(wrk(nginx.url(), 50, self.seconds))
                ours.append(wrk(server.url("/0"), 50, self.seconds))
                http_only.append(wrk(server.url("/healthz"), 50, self.seconds))
        ratio = lambda rs, key: median([r[key] for r in rs]) / median([r[key] for r in theirs])
        rps_ratio, p99_ratio = ratio(ours, "rps"), ratio(ours, "p99")
        self.headline["trivial"] = (rps_ratio, p99_ratio)
        self.headline["http_only"] = ratio(http_only, "rps")
        row = lambda name, rs: (
            f"| {name} | {spread([r['rps'] for r in rs])} | {spread([r['p50'] for r in rs])} | "
            f"{spread([r['p99'] for r in rs])} |")
        self.section("2. Request path, trivial job: GET /0 against nginx `return 200`", f"""
Command: `wrk -t1 -c50 -d{self.seconds}s` against each, alternating, {self.runs} runs each;
poolserver with `THREADS=2` and `ADMISSION=static` (its defaults otherwise: one IO thread), nginx {nginx_version()}
with one worker process and `return 200` (config written by the suite). `GET /healthz` is
answered by the IO thread itself: the HTTP side alone, without the hop to a worker and back
that every job makes. Latency in µs.

| server | requests/s | p50 | p99 |
| --- | --- | --- | --- |
{row("nginx return 200", theirs)}
{row("poolserver GET /healthz (no job)", http_only)}
{row("poolserver GET /0 (a job on the pool)", ours)}

Ratios: GET /0 requests/s **{rps_ratio:.2f}x** nginx (goal >= 0.8), p99 **{p99_ratio:.2f}x**
nginx (goal <= 2); GET /healthz requests/s {self.headline['http_only']:.2f}x nginx. The gap
between the two poolserver rows is the price of the pool: handing the job to a worker
thread and its result back to the IO thread (on a 2-core machine shared with wrk).
""")

    # --- 4. request path, real job ------------------------------------------------------
    def real_job(self):
        log("request path: GET /1000000 against the kernel's compute bound")
        bound, served = [], []
        with Poolserver(THREADS=2) as server:
            wrk(server.url("/1000000"), 50, 1)
            for _ in range(self.runs):
                _, _, data = google_benchmark(
                    KERNEL_BENCH, 1, ["--benchmark_filter=square_sum_jobs/.*threads:2$",
                                      f"--benchmark_min_time={self.seconds}"])
                bound.append(data["benchmarks"][0]["items_per_second"])
                served.append(wrk(server.url("/1000000"), 50, self.seconds))
        ratio = median([r["rps"] for r in served]) / median(bound)
        self.headline["real"] = ratio
        self.section("3. Request path, real job: GET /1000000 against the compute bound", f"""
Commands, alternating, {self.runs} runs each: `{KERNEL_BENCH.relative_to(ROOT)}
--benchmark_filter='square_sum_jobs/.*threads:2$' --benchmark_min_time={self.seconds}` (the
kernel alone, two threads calling `square_sum(1000000)` back to back: the pool's compute
bound) and `wrk -t1 -c50 -d{self.seconds}s http://127.0.0.1:PORT/1000000` against poolserver
with `THREADS=2`.

| | jobs/s |
| --- | --- |
| kernel alone, 2 threads | {spread(bound)} |
| poolserver, `THREADS=2`, GET /1000000 | {spread([r['rps'] for r in served])} |

Ratio: **{ratio:.3f}x** the compute bound (goal >= 0.85). Latency p50
{spread([r['p50'] for r in served])} µs, p99 {spread([r['p99'] for r in served])} µs.
""")

    # --- 5. memory ----------------------------------------------------------------------
    def memory(self):
        log("memory: idle and with 1,000 keep-alive connections")
        idle, warm, loaded = [], [], []
        for _ in range(self.runs):
            with Poolserver(THREADS=2) as server:
                time.sleep(0.2)
                idle.append(server.rss_kib() / 1024)
                wrk(server.url("/0"), 50, 1)
                warm.append(server.rss_kib() / 1024)
                socks = open_keepalive(server.port, 1000)
                loaded.append(server.rss_kib() / 1024)
                for s in socks:
                    s.close()
        self.headline["memory"] = (median(idle), median(loaded))
        f = "{:.1f}"
        self.section("5. Memory", f"""
RSS of poolserver (`THREADS=2 ADMISSION=static`, defaults otherwise) read from `/proc/PID/status`, {self.runs}
fresh servers: right after start, after a 1 s `wrk -c50` warm-up on GET /0, and with 1,000
keep-alive connections open at once, each having been answered one GET /0.

| state | RSS MiB: median (min-max) |
| --- | --- |
| idle, just started | {spread(idle, f)} |
| idle, after a warm-up | {spread(warm, f)} |
| 1,000 open keep-alive connections | {spread(loaded, f)} |

Goal: idle under 16 MiB with `THREADS=2`.
""")

    # --- 6. strategies ------------------------------------------------------------------
    def strategies(self):
        log("strategies under a homogeneous and a heavy-tailed mix")
        rows, plot_rows = [], []
        for mix in ("homogeneous", "heavy-tailed"):
            for strategy in STRATEGIES:
                results, shares = [], []
                for _ in range(self.runs):
                    with Poolserver(THREADS=2, STRATEGY=strategy) as server:
                        if mix == "homogeneous":
                            r = wrk(server.url("/1000000"), 16, self.seconds)
                        else:
                            r = wrk(server.url("/"), 16, self.seconds, mix=True)
                        jobs = per_worker(server.metrics(), "poolserver_worker_jobs_consumed_total")
                    results.append(r)
                    shares.append(100 * max(jobs) / sum(jobs))
                rows.append(
                    f"| {mix} | {strategy} | {spread([r['rps'] for r in results])} | "
                    f"{spread([r['p50'] for r in results])} | {spread([r['p99'] for r in results])} | "
                    f"{spread([r['p999'] for r in results])} | {spread(shares, '{:.1f}')} |")
                plot_rows.append((mix, strategy, *(median([r[k] for r in results]) / 1000
                                                   for k in ("p50", "p99", "p999"))))
        self.plot_strategies(plot_rows)
        table = "\n".join(rows)
        self.section("6. Strategies under a realistic mix", f"""
Commands: for each strategy, {self.runs} fresh servers (`THREADS=2 STRATEGY=<s>`), each driven
for {self.seconds} s by `wrk -t1 -c16`: homogeneous = every request GET /1000000; heavy-tailed
= 90% GET /100000 and 10% GET /10000000 (a wrk Lua script picks per request). Latency in
µs; "busiest worker" is its share of the jobs run (50% is an even split over two workers).

| mix | strategy | requests/s | p50 | p99 | p99.9 | busiest worker, % of jobs |
| --- | --- | --- | --- | --- | --- | --- |
{table}

![latency percentiles per strategy](benchmarks/strategies.png)
""")

    # --- 7. connections -----------------------------------------------------------------
    def connections(self):
        log("throughput against connections")
        counts = [1, 4, 16, 64, 256] if not self.quick else [1, 16]
        data = []
        with Nginx() as nginx, Poolserver(THREADS=2) as server:
            for c in counts:
                theirs, ours = [], []
                for _ in range(self.runs):
                    theirs.append(wrk(nginx.url(), c, max(1, self.seconds // 2))["rps"])
                    ours.append(wrk(server.url("/0"), c, max(1, self.seconds // 2))["rps"])
                data.append((c, median(ours), median(theirs)))
        self.plot_connections(data)
        rows = "\n".join(f"| {c} | {o:.0f} | {t:.0f} | {o / t:.2f} |" for c, o, t in data)
        self.section("7. Throughput against connections (GET /0)", f"""
Command: `wrk -t1 -c<C> -d{max(1, self.seconds // 2)}s`, alternating nginx and poolserver
(`THREADS=2`), medians of {self.runs} runs.

| connections | poolserver requests/s | nginx requests/s | ratio |
| --- | --- | --- | --- |
{rows}

![throughput against connections](benchmarks/connections.png)
""")

    # --- plots --------------------------------------------------------------------------
    def gnuplot(self, script):
        subprocess.run(["gnuplot"], input=script, text=True, check=True)

    def plot_strategies(self, rows):
        plots = self.out / "benchmarks"
        plots.mkdir(parents=True, exist_ok=True)
        dat = plots / "strategies.dat"
        dat.write_text("".join(f'"{m}\\n{s}" {p50} {p99} {p999}\n' for m, s, p50, p99, p999 in rows))
        self.gnuplot(f"""
set terminal pngcairo size 1000,500 font ",10"
set output "{plots / 'strategies.png'}"
set title "Latency per strategy (THREADS=2, wrk -c16; medians of {self.runs} runs)"
set style data histogram
set style histogram cluster gap 1
set style fill solid 0.8 border -1
set ylabel "latency (ms, log scale)"
set logscale y
set key top left
set bmargin 4
set xtics font ",8"
plot "{dat}" using 2:xtic(1) title "p50", "" using 3 title "p99", "" using 4 title "p99.9"
""")
        dat.unlink()

    def plot_connections(self, data):
        plots = self.out / "benchmarks"
        plots.mkdir(parents=True, exist_ok=True)
        dat = plots / "connections.dat"
        dat.write_text("".join(f"{c} {o} {t}\n" for c, o, t in data))
        self.gnuplot(f"""
set terminal pngcairo size 800,450 font ",10"
set output "{plots / 'connections.png'}"
set title "GET /0 throughput against connections (wrk -t1; medians of {self.runs} runs)"
set xlabel "connections (log scale)"
set ylabel "requests/s"
set logscale x 2
set yrange [0:*]
set key bottom right
set grid
plot "{dat}" using 1:2 with linespoints lw 2 title "poolserver THREADS=2", \\
     "{dat}" using 1:3 with linespoints lw 2 title "nginx return 200"
""")
        dat.unlink()

    # --- 8. idle workers help a big job ----------------------------------------------
    def sharing(self):
        log("sharing: one big job on an idle pool, and a busy pool, SHARE_JOBS=1 against 0")
        big = 10**9
        singles = {1: [], 0: []}  # seconds per GET /<big>, the median of 3 in a row
        busy = {1: [], 0: []}     # wrk results
        for _ in range(self.runs):
            for share in (1, 0):
                with Poolserver(THREADS=2, SHARE_JOBS=share, MAX_N=big) as server:
                    get(server.url("/1000000"), 10)  # warm
                    times = []
                    for _ in range(3):
                        t0 = time.perf_counter()
                        status, _ = get(server.url(f"/{big}"), 60)
                        times.append(time.perf_counter() - t0)
                        if status != 200:
                            raise RuntimeError(f"GET /{big} answered {status}")
                    singles[share].append(median(times))
                    busy[share].append(wrk(server.url("/10000000"), 8, self.seconds))
        single_ratio = median(singles[1]) / median(singles[0])
        busy_ratio = median([r["rps"] for r in busy[1]]) / median([r["rps"] for r in busy[0]])
        self.headline["sharing"] = (single_ratio, busy_ratio)
        ms = lambda xs: spread([x * 1000 for x in xs], "{:.1f}")
        rps = lambda rs: spread([r["rps"] for r in rs])
        p99 = lambda rs: spread([r["p99"] / 1000 for r in rs], "{:.1f}")
        self.section("8. Idle workers help a big job", f"""
The same binary with `SHARE_JOBS=1` (the default: idle workers take chunks of a big job)
and `SHARE_JOBS=0` (each job on one worker), `THREADS=2 ADMISSION=static MAX_N={big}`,
alternating, {self.runs} fresh servers each. Idle: three `GET /{big}` one after the other
on an otherwise idle server, the median of the three per server. Busy: `wrk -t1 -c8
-d{self.seconds}s` on `GET /10000000` (39 chunks: a job that may be shared), so both workers
always have jobs of their own.

| | SHARE_JOBS=1 | SHARE_JOBS=0 | ratio |
| --- | --- | --- | --- |
| idle: one GET /{big}, ms | {ms(singles[1])} | {ms(singles[0])} | **{single_ratio:.2f}** (goal <= 0.60) |
| busy: GET /10000000, jobs/s | {rps(busy[1])} | {rps(busy[0])} | **{busy_ratio:.3f}** (goal >= 0.97) |
| busy: p99 ms | {p99(busy[1])} | {p99(busy[0])} | |
""")

    # --- report -------------------------------------------------------------------------
    def write(self, started):
        h = self.headline
        rows = [goal_row(f"kernel: {name}", ratio, op, bound, "{:.3f}")
                for name, ratio, op, bound in h.get("kernel", [])]
        rows += [goal_row(f"kernel: relative error, n = {n:,}", e, "<=", 1e-12, "{:.1e}")
                 for n, e in sorted(h.get("rel_error", {}).items())]
        rows += [
            goal_row("request path GET /0: requests/s vs nginx", h["trivial"][0], ">=", 0.80),
            goal_row("request path GET /0: p99 vs nginx", h["trivial"][1], "<=", 2.00),
            goal_row("request path GET /1000000: jobs/s vs compute bound", h["real"], ">=", 0.85,
                     "{:.3f}"),
            goal_row(f"memory: idle RSS, MiB (1,000 connections: {h['memory'][1]:.1f})",
                     h["memory"][0], "<", 16, "{:.1f}"),
            goal_row("sharing: one GET /1000000000 on an idle pool, SHARE_JOBS=1 vs 0 (time)",
                     h["sharing"][0], "<=", 0.60),
            goal_row("sharing: jobs/s with both workers busy, SHARE_JOBS=1 vs 0",
                     h["sharing"][1], ">=", 0.97, "{:.3f}"),
        ]
        rows += [goal_row(f"{name}: time ratio", ratio, "<=", 1.00, "{:.3f}")
                 for name, ratio in h.get("mailbox", [])]
        summary = "\n".join(rows)
        text = f"""# Benchmarks

Written by `bench/run.sh` ({'quick mode, ' if self.quick else ''}{self.runs} runs per
measurement) on {started:%Y-%m-%d %H:%M} UTC in {(time.time() - started.timestamp()) / 60:.1f}
minutes, at commit `{git_commit()}`. Do not edit: run the script again.

Machine: {machine()}. Everything runs on this one machine: the load generator shares the
cores with the server, as it does for nginx. Medians with min-max; every ratio compares
numbers measured in the same run.

## Summary

| what (ratio of medians) | measured | goal | |
| --- | --- | --- | --- |
{summary}

{chr(10).join(sorted(self.sections))}
"""
        target = self.out / "benchmarks.md"
        target.write_text(text)
        log(f"wrote {target}")


def goal_ratios(table):
    """(subject, baseline, ratio) of each row with a goal in a ratio_reporter table."""
    for row in table.splitlines():
        cells = [c.strip() for c in row.strip("|").split("|")]
        if len(cells) == 6 and cells[5] and re.fullmatch(r"[\d.]+", cells[4]):
            yield cells[0], cells[2], float(cells[4])


def goal_bounds(table):
    """(subject, baseline, ratio, op, bound) of each row with a goal in a ratio_reporter table:
    the goal column reads like `<= 1.10 met`."""
    for row in table.splitlines():
        cells = [c.strip() for c in row.strip("|").split("|")]
        if len(cells) == 6 and re.fullmatch(r"[\d.]+", cells[4]):
            m = re.match(r"(<=|>=|<)\s*([\d.]+)", cells[5])
            if m:
                yield cells[0], cells[2], float(cells[4]), m.group(1), float(m.group(2))


def goal_row(what, value, op, bound, fmt="{:.2f}"):
    """A summary row: what, the value, the goal and whether it is met."""
    met = {"<=": value <= bound, ">=": value >= bound, "<": value < bound}[op]
    goal = f"{op} {bound}" if isinstance(bound, int) or bound < 0.01 else f"{op} {bound:.2f}"
    return f"| {what} | {fmt.format(value)} | {goal} | {'met' if met else 'MISSED'} |"


def nginx_version():
    out = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr
    return out.strip().split("/")[-1]


def git_commit():
    try:
        return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine():
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    cxx = subprocess.run(["c++", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    wrk_v = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split()[1]
    return (f"{model}, {os.cpu_count()} cores, {mem / 2**20:.0f} GiB, Linux "
            f"{platform.release()}; {cxx}; wrk {wrk_v}; nginx {nginx_version()}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=3, help="runs per measurement (median of them)")
    p.add_argument("--quick", action="store_true", help="short runs: check the suite works")
    p.add_argument("--out", default=str(ROOT / "docs"), help="where benchmarks.md goes")
    args = p.parse_args()
    if args.runs < 1:
        p.error("--runs must be at least 1")
    for tool in ("wrk", "nginx", "gnuplot"):
        if not shutil.which(tool):
            sys.exit(f"suite.py: {tool} is missing; bench/run.sh installs it")
    for binary in (SERVER, KERNEL_BENCH, MAILBOX_BENCH):
        if not binary.exists():
            sys.exit(f"suite.py: {binary} is missing; bench/run.sh builds it")
    raise_fd_limit()
    started = datetime.datetime.now(datetime.timezone.utc)
    suite = Suite(args)
    suite.kernel()
    suite.trivial()
    suite.real_job()
    suite.mailbox()
    suite.memory()
    suite.strategies()
    suite.connections()
    suite.sharing()
    suite.write(started)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""What ACCESS_LOG=1 costs: the same load with the access log off, as text and as JSON.

One poolserver per configuration (THREADS=2, IO_THREADS=1), its stderr going to a file as a
log collector would take it, measured in turn (interleaved, so that drift on a noisy machine
hits all of them alike): `off` (the baseline), `text` (ACCESS_LOG=1) and `json`
(ACCESS_LOG=1 LOG_FORMAT=json). Each is loaded with wrk on loopback at two targets: /0 (no
compute: the log line is most of the work) and /100000 (about 0.1 ms of compute). Checks that
each logging run wrote one access line per request wrk counted. Writes docs/access-log.md
with medians and ratios against `off`.

Usage: bench/access_log.py [--runs N] [--seconds S] [--out FILE]
"""

import argparse
import datetime
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import suite  # noqa: E402  (the helpers of the benchmark suite)

CONFIGS = {
    "off": {},
    "text": {"ACCESS_LOG": "1"},
    "json": {"ACCESS_LOG": "1", "LOG_FORMAT": "json"},
}
TARGETS = ["/0", "/100000"]
CONNECTIONS = 32


def serve(settings, log_path):
    """A poolserver whose stderr goes to log_path; returns (process, port)."""
    port = suite.free_port()
    env = dict(os.environ, PORT=str(port), HOST=suite.HOST, LOG_LEVEL="warn", THREADS="2",
               IO_THREADS="1", **settings)
    log = open(log_path, "w")
    proc = subprocess.Popen([str(suite.SERVER)], env=env, stderr=log,
                            preexec_fn=suite.raise_fd_limit)
    log.close()
    suite.wait_for(f"http://{suite.HOST}:{port}/healthz", 10)
    return proc, port


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--seconds", type=int, default=3)
    p.add_argument("--out", default=str(suite.ROOT / "docs" / "access-log.md"))
    args = p.parse_args()
    if not suite.SERVER.exists():
        sys.exit(f"access_log.py: {suite.SERVER} is missing; build the release preset")
    suite.raise_fd_limit()
    results = {(c, t): [] for c in CONFIGS for t in TARGETS}
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            for name, settings in CONFIGS.items():
                log_path = Path(tmp) / f"{name}.log"
                proc, port = serve(settings, log_path)
                try:
                    for t in TARGETS:
                        before = log_path.stat().st_size
                        r = suite.wrk(f"http://{suite.HOST}:{port}{t}", CONNECTIONS, args.seconds)
                        results[(name, t)].append(r)
                        suite.log(f"run {run + 1}: {name} {t}: {r['rps']:.0f} req/s, "
                                  f"p99 {r['p99'] / 1000:.2f} ms")
                        if settings:
                            with open(log_path, "rb") as f:
                                f.seek(before)
                                lines = f.read().count(b"\n")
                            # wrk counts the responses it read; a few more may have been
                            # answered as it stopped.
                            if not r["requests"] <= lines <= r["requests"] + CONNECTIONS:
                                sys.exit(f"access_log.py: {lines} access lines for "
                                         f"{r['requests']} requests ({name} {t})")
                finally:
                    proc.terminate()
                    if proc.wait(timeout=15) != 0:
                        sys.exit(f"access_log.py: poolserver exited {proc.returncode}")

    lines = [
        "# What the access log costs",
        "",
        f"Written by `bench/access_log.py --runs {args.runs} --seconds {args.seconds}` on "
        f"{datetime.date.today().isoformat()} at commit {suite.git_commit()}; {suite.machine()}.",
        "",
        "THREADS=2, IO_THREADS=1, stderr to a file. `off`: ACCESS_LOG=0 (the baseline); `text`: "
        "ACCESS_LOG=1; `json`: ACCESS_LOG=1 LOG_FORMAT=json. Load: "
        f"`wrk -t1 -c{CONNECTIONS} -d{args.seconds}s` on loopback; the three are measured in "
        f"turn, {args.runs} times, and each cell is the median (min-max) of the runs. Each "
        "logging run wrote one line per request wrk counted (checked).",
        "",
        "| target | access log | requests/s | ratio to off | p99 (ms) | p99 ratio to off |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    lines += suite.ratio_rows(results, CONFIGS, TARGETS, "off")
    lines.append("")
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()

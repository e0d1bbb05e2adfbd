#!/usr/bin/env python3
"""What remote actors cost and give: the same load against local workers and against actors.

Three pools of two compute threads each, measured in turn (interleaved, so that drift on a
noisy machine hits all of them alike): `local` (THREADS=2, the baseline), `mixed` (one local
worker and one poolactor with THREADS=1) and `actors` (THREADS=none, a pure dispatcher, and
two poolactors with THREADS=1). Each is loaded with wrk on loopback at two job sizes: n=1000
(microseconds of compute: the cost of the hop to an actor shows) and n=1000000 (about a
millisecond: compute dominates). Writes docs/actors.md with medians and ratios against
`local`.

Usage: bench/actors.py [--runs N] [--seconds S] [--out FILE]
"""

import argparse
import datetime
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import suite  # noqa: E402  (the helpers of the benchmark suite)

ACTOR = suite.BUILD / "actor" / "poolactor"
POOLS = {
    "local": {"threads": "2", "actors": 0},
    "mixed": {"threads": "1", "actors": 1},
    "actors": {"threads": "none", "actors": 2},
}
TARGETS = ["/1000", "/1000000"]
CONNECTIONS = 16


class Pool:
    """A poolserver and its poolactor processes."""

    def __init__(self, threads, actors):
        settings = {"THREADS": threads, "STRATEGY": "leastbusy"}
        if actors:
            settings.update(ACTOR_PORT=str(suite.free_port()), ACTOR_HOST=suite.HOST)
        self.server = suite.Poolserver(**settings)
        self.actors = []
        for _ in range(actors):
            env = dict(os.environ, THREADS="1", LOG_LEVEL="warn")
            self.actors.append(subprocess.Popen(
                [str(ACTOR), f"{suite.HOST}:{settings['ACTOR_PORT']}"], env=env))
        deadline = time.monotonic() + 10
        while actors and f"poolserver_actors {actors}\n" not in self.server.metrics():
            if time.monotonic() > deadline:
                raise RuntimeError("the actors did not join within 10 s")
            time.sleep(0.02)

    def close(self):
        self.server.stop()
        for a in self.actors:
            a.terminate()
            if a.wait(timeout=10) != 0:
                raise RuntimeError(f"poolactor exited {a.returncode}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--seconds", type=int, default=3)
    p.add_argument("--out", default=str(suite.ROOT / "docs" / "actors.md"))
    args = p.parse_args()
    for binary in (suite.SERVER, ACTOR):
        if not binary.exists():
            sys.exit(f"actors.py: {binary} is missing; build the release preset")
    suite.raise_fd_limit()
    results = {(pool, t): [] for pool in POOLS for t in TARGETS}
    for run in range(args.runs):
        for name, spec in POOLS.items():
            pool = Pool(spec["threads"], spec["actors"])
            try:
                for t in TARGETS:
                    r = suite.wrk(pool.server.url(t), CONNECTIONS, args.seconds)
                    results[(name, t)].append(r)
                    suite.log(f"run {run + 1}: {name} {t}: {r['rps']:.0f} req/s, "
                              f"p99 {r['p99'] / 1000:.2f} ms")
            finally:
                pool.close()

    lines = [
        "# Remote actors against local workers",
        "",
        f"Written by `bench/actors.py --runs {args.runs} --seconds {args.seconds}` on "
        f"{datetime.date.today().isoformat()} at commit {suite.git_commit()}; {suite.machine()}.",
        "",
        "Each pool has two compute threads: `local` is THREADS=2; `mixed` is THREADS=1 plus one "
        "poolactor (THREADS=1); `actors` is THREADS=none plus two poolactors (THREADS=1). "
        f"STRATEGY=leastbusy. Load: `wrk -t1 -c{CONNECTIONS} -d{args.seconds}s` on loopback; "
        f"the three pools are measured in turn, {args.runs} times, and each cell is the median "
        "(min-max) of the runs. Server, actors and wrk share the machine's cores.",
        "",
        "| job | pool | requests/s | ratio to local | p99 (ms) | p99 ratio to local |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    lines += suite.ratio_rows(results, POOLS, TARGETS, "local")
    lines.append("")
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()

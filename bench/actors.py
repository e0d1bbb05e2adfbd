#!/usr/bin/env python3
"""What remote actors cost and give: the same load against local workers and against actors.

Four pools of two compute threads each, measured in turn (interleaved, so that drift on a
noisy machine hits all of them alike): `local` (THREADS=2, the baseline), `mixed` (one local
worker and one poolactor with THREADS=1), `actors` (THREADS=none, a pure dispatcher, and
two poolactors with THREADS=1) and `actors-tls` (the same over mutual TLS, certificates from
scripts/make-actor-certs.sh: what TLS costs, against `actors`). Each is loaded with wrk on loopback at two job sizes: n=1000
(microseconds of compute: the cost of the hop to an actor shows) and n=1000000 (about a
millisecond: compute dominates). Writes docs/actors.md with medians and ratios against
`local`.

Usage: bench/actors.py [--runs N] [--seconds S] [--out FILE]
"""

import argparse
import datetime
import os
import shutil
import subprocess
import tempfile
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
    "actors-tls": {"threads": "none", "actors": 2, "tls": True},
}
TARGETS = ["/1000", "/1000000"]
CONNECTIONS = 16


class Pool:
    """A poolserver and its poolactor processes."""

    def __init__(self, threads, actors, tls=False, certs=None):
        settings = {"THREADS": threads, "STRATEGY": "leastbusy"}
        actor_tls = {}
        if actors:
            settings.update(ACTOR_PORT=str(suite.free_port()), ACTOR_HOST=suite.HOST)
        if tls:
            settings.update(ACTOR_TLS_CERT=f"{certs}/server.pem", ACTOR_TLS_KEY=f"{certs}/server.key",
                            ACTOR_TLS_CA=f"{certs}/ca.pem")
            actor_tls = dict(ACTOR_TLS_CERT=f"{certs}/actor.pem", ACTOR_TLS_KEY=f"{certs}/actor.key",
                             ACTOR_TLS_CA=f"{certs}/ca.pem")
        self.server = suite.Poolserver(**settings)
        self.actors = []
        for _ in range(actors):
            env = dict(os.environ, THREADS="1", LOG_LEVEL="warn", **actor_tls)
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
    certs = tempfile.mkdtemp(prefix="poolserver-bench-certs-")
    subprocess.run([str(suite.ROOT / "scripts" / "make-actor-certs.sh"), certs], check=True,
                   stdout=subprocess.DEVNULL)
    results = {(pool, t): [] for pool in POOLS for t in TARGETS}
    for run in range(args.runs):
        for name, spec in POOLS.items():
            pool = Pool(spec["threads"], spec["actors"], spec.get("tls", False), certs)
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
        "poolactor (THREADS=1); `actors` is THREADS=none plus two poolactors (THREADS=1); "
        "`actors-tls` is `actors` over mutual TLS (ECDSA P-256 certificates). "
        f"STRATEGY=leastbusy. Load: `wrk -t1 -c{CONNECTIONS} -d{args.seconds}s` on loopback; "
        f"the four pools are measured in turn, {args.runs} times, and each cell is the median "
        "(min-max) of the runs. Server, actors and wrk share the machine's cores.",
        "",
        "The lifecycle's goals are measured by tests and kept in docs/remote-actors.md: a "
        "rolling restart of two actors under load (none lost, none run twice), a job past its "
        "deadline freeing its actor's worker, and a drain with busy actors ending in time.",
        "",
        "| job | pool | requests/s | ratio to local | p99 (ms) | p99 ratio to local |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    lines += suite.ratio_rows(results, POOLS, TARGETS, "local")
    lines += [
        "",
        "## What TLS costs on the actor path",
        "",
        "The same runs, `actors-tls` against `actors` (the goal: at most 10 % fewer jobs/s at "
        "1 ms jobs, `/1000000`):",
        "",
        "| job | pool | requests/s | ratio to actors | p99 (ms) | p99 ratio to actors |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    tls_pools = {k: POOLS[k] for k in ("actors", "actors-tls")}
    lines += suite.ratio_rows(results, tls_pools, TARGETS, "actors")
    lines.append("")
    shutil.rmtree(certs, ignore_errors=True)
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()

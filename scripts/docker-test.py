#!/usr/bin/env python3
"""The Docker image for real, offline and on loopback (run by scripts/docker-test.sh).

Starts a dockerd of its own (its own socket, data and exec roots; no bridge, no iptables),
gives it a Debian bookworm base made by `debootstrap --variant=minbase` and `docker
import`ed (Docker Hub is not needed), builds the Dockerfile on it with `--network host`
(apt inside reaches Debian's mirrors), then runs the image with `--network host` on
127.0.0.1 and free ports:
  a. GET /1000 must answer 200 with square_sum(1000) = 21065.833110879048;
  b. the HEALTHCHECK must report `healthy` (checked every second here);
  c. poolactor from the same image joins the server's ACTOR_PORT and answers a job;
  d. `docker stop` on each: exit code 0 well within docker's 10 s grace, and the server's
     log shows it drained.
Every wait has a timeout; containers are removed and the dockerd it started (and the
containerd under it) stopped by PID on exit, failure included. Exits non-zero with
"docker: FAILED: <what>".

Cached between runs in $POOLSERVER_CACHE/docker (default ~/.cache/poolserver/docker): the
base tarball and dockerd's data root, so the base and the build stage's packages are made
once (delete the folder to start over). One run at a time per cache (a lock file).

Environment: POOLSERVER_CACHE, BUILD_TIMEOUT (seconds for `docker build`, default 1800).
"""

import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASE = "poolserver-base:bookworm"  # the imported Debian, passed as the Dockerfile's BASE
IMAGE = "poolserver:test"
BUILD_STAGE = "poolserver-build:test"  # tagged so that pruning keeps its cached layers
EXPECTED_1000 = 21065.833110879048  # square_sum(1000), as the other tests check it
# What Docker Hub's debian:bookworm lists (debootstrap writes only `bookworm main`).
DEBIAN_SOURCES = """\
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""


class Failure(Exception):
    pass


START = time.monotonic()


def say(*words):
    print(f"[docker {time.monotonic() - START:5.1f} s]", *words, file=sys.stderr, flush=True)


def run(*args, timeout, check=True, capture=True):
    """Runs a command (bounded); its output as text, or Failure naming it."""
    try:
        p = subprocess.run(args, timeout=timeout, text=True, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE if capture else None,
                           stderr=subprocess.STDOUT if capture else None)
    except subprocess.TimeoutExpired:
        raise Failure(f"{' '.join(args[:3])}... took over {timeout} s")
    if check and p.returncode != 0:
        raise Failure(f"{' '.join(args)} exited {p.returncode}:\n{(p.stdout or '')[-3000:]}")
    return p.stdout or ""


def succeeds(*args, timeout=30):
    return subprocess.run(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, timeout=timeout).returncode == 0


def until(what, check, timeout, step=0.2):
    end = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > end:
            raise Failure(f"{what}: not within {timeout} s")
        time.sleep(step)


def free_ports(n):
    """n distinct free ports on 127.0.0.1 (held together while chosen, so distinct)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def stop_pid(pid, grace):
    """SIGTERM, up to `grace` seconds, then SIGKILL (for a process not our child: a child
    would linger as a zombie, alive to kill(0), until waited for)."""
    if not alive(pid):
        return
    os.kill(pid, signal.SIGTERM)
    end = time.monotonic() + grace
    while alive(pid) and time.monotonic() < end:
        time.sleep(0.1)
    if alive(pid):
        os.kill(pid, signal.SIGKILL)


class Dockerd:
    """A dockerd of this script's own, on a containerd of its own (dockerd would otherwise
    use a system containerd whose socket it finds): data under `cache`, sockets and run
    state under a temp dir. Only containerd's shims use a global folder, /run/containerd/s,
    for sockets they remove on exit."""

    def __init__(self, cache):
        self.cache = cache
        self.pidfile = cache / "pids"
        self.procs = []
        self.stop_stale()
        # Short path: unix sockets live under it (108-byte limit).
        self.run_dir = Path(tempfile.mkdtemp(prefix="poolserver-docker.", dir="/tmp"))
        self.host = f"unix://{self.run_dir}/docker.sock"
        # DOCKER_BUILDKIT=0: the classic builder, which dockerd 20.10 has built in (BuildKit
        # needs the buildx plugin with newer clients).
        os.environ.update(DOCKER_HOST=self.host, DOCKER_CONFIG=str(self.run_dir / "cli"),
                          DOCKER_BUILDKIT="0")

    def stop_stale(self):
        # Daemons left by a run killed before its clean-up hold the data root: stop them, but
        # only those this script started (their command lines name this cache).
        try:
            pids = [int(p) for p in self.pidfile.read_text().split()]
        except (OSError, ValueError):
            return
        for pid in pids:
            try:
                mine = str(self.cache).encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if mine:
                say(f"stopping {pid}, left by an earlier run")
                stop_pid(pid, 20)

    def spawn(self, name, args):
        log = open(self.run_dir / f"{name}.log", "w")
        # Its own session: a ^C reaches this script, which then stops it in order.
        self.procs.append((name, subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log,
                                                  stderr=log, start_new_session=True)))
        self.pidfile.write_text(" ".join(str(p.pid) for _, p in self.procs) + "\n")

    def start(self):
        with open("/proc/self/mountinfo") as f:
            fs_types = {line.split(" - ")[1].split()[0] for line in f}
        if not fs_types & {"cgroup", "cgroup2"}:
            # Outside this project's reach: a booted Debian 12 mounts /sys/fs/cgroup; a chroot
            # with a plain (not recursive) bind of /sys, or some containers, do not show it.
            raise Failure("no cgroup file system is mounted here (none in /proc/self/mountinfo):"
                          " dockerd and runc need one (/sys/fs/cgroup)")
        data, run_dir = self.cache / "data", self.run_dir
        (run_dir / "containerd.toml").write_text(
            'version = 2\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n')
        self.spawn("containerd", [
            "containerd", "--config", str(run_dir / "containerd.toml"),
            "--root", str(data / "containerd"), "--state", str(run_dir / "containerd"),
            "--address", str(run_dir / "containerd.sock")])
        # Not /etc/docker/daemon.json, nor /etc/docker/key.json (the daemon's id).
        (run_dir / "daemon.json").write_text(
            json.dumps({"deprecated-key-path": str(run_dir / "key.json")}) + "\n")
        until("containerd's socket",
              lambda: self.check() and (run_dir / "containerd.sock").exists(), 30)
        self.spawn("dockerd", [
            "dockerd", "--config-file", str(run_dir / "daemon.json"), "--data-root", str(data),
            "--exec-root", str(run_dir / "exec"), "--pidfile", str(run_dir / "dockerd.pid"),
            "-H", self.host, "--containerd", str(run_dir / "containerd.sock"),
            "--bridge=none", "--iptables=false", "--ip6tables=false", "--shutdown-timeout=5"])
        until("dockerd answering on " + self.host,
              lambda: self.check() and succeeds("docker", "version", timeout=10), 60, 0.5)
        # Containers left by a run killed before its clean-up (this daemon is ours alone).
        left = run("docker", "ps", "-aq", timeout=30).split()
        if left:
            run("docker", "rm", "-f", *left, timeout=60)

    def check(self):
        for name, p in self.procs:
            if p.poll() is not None:
                raise Failure(f"{name} exited ({p.returncode})")
        return True

    def tail(self, name, lines=15):
        """The last lines of a daemon's log, without gRPC's chatter."""
        try:
            text = (self.run_dir / f"{name}.log").read_text()
        except OSError:
            return ""
        return "\n".join([line for line in text.splitlines() if "module=grpc" not in line][-lines:])

    def stop(self):
        """dockerd, then containerd (SIGTERM, then SIGKILL), then any container a killed
        containerd left behind (by the pid files of its shims), then the run folder."""
        for _, p in reversed(self.procs):
            p.terminate()
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for pidfile in sorted((self.run_dir / "containerd").glob("**/*.pid")):  # init, shim
            try:
                stop_pid(int(pidfile.read_text()), 5)
            except (OSError, ValueError):
                pass
        self.pidfile.unlink(missing_ok=True)
        # dockerd leaves its network namespace mounted (exec/netns/default) on exit.
        with open("/proc/self/mountinfo") as f:
            mounts = [line.split()[4] for line in f]
        for m in reversed(mounts):
            if m.startswith(f"{self.run_dir}/"):
                subprocess.run(["umount", "-l", m], timeout=30, check=False)
        shutil.rmtree(self.run_dir, ignore_errors=True)


def base_image(cache):
    """Imports the debootstrapped base unless this dockerd has it; makes the tarball if missing."""
    if succeeds("docker", "image", "inspect", BASE):
        return
    tarball = cache / "debian-bookworm-minbase.tar"
    if not tarball.exists():
        say("debootstrap --variant=minbase bookworm (once; cached in", tarball, ")")
        rootfs = cache / "rootfs.tmp"
        shutil.rmtree(rootfs, ignore_errors=True)
        run("debootstrap", "--variant=minbase", "bookworm", str(rootfs), timeout=1200)
        # Like Docker Hub's image: its apt sources, no package lists or downloaded packages.
        (rootfs / "etc/apt/sources.list").unlink(missing_ok=True)
        (rootfs / "etc/apt/sources.list.d/debian.sources").write_text(DEBIAN_SOURCES)
        for d in ("var/lib/apt/lists", "var/cache/apt/archives"):
            for f in (rootfs / d).glob("*"):
                if f.is_file():
                    f.unlink()
        run("tar", "-C", str(rootfs), "--numeric-owner", "-cf", f"{tarball}.tmp", ".", timeout=300)
        os.replace(f"{tarball}.tmp", tarball)
        shutil.rmtree(rootfs)
        say("base made")
    run("docker", "import", str(tarball), BASE, timeout=300)


def get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return r.status, json.loads(r.read())


def container_state(name):
    out = run("docker", "inspect", "-f", "{{json .State}}", name, timeout=30)
    return json.loads(out)


def answer(port, name):
    """The first answer to GET /1000, waiting while the container starts."""
    def attempt():
        if not container_state(name)["Running"]:
            raise Failure(f"{name} exited:\n{run('docker', 'logs', name, timeout=30, check=False)}")
        try:
            return get(port, "/1000")
        except OSError:
            return None
    return until(f"{name} answering on 127.0.0.1:{port}", attempt, 30)


def check_sum(what, status, body):
    if status != 200 or abs(body.get("sum", 0) - EXPECTED_1000) > 1e-6 or body.get("value") != 1000:
        raise Failure(f"{what}: {status} {body}, expected 200 with sum {EXPECTED_1000}")


def stop_container(name):
    """docker stop (SIGTERM, 10 s grace): must exit 0, in seconds; returns its log."""
    t0 = time.monotonic()
    run("docker", "stop", "-t", "10", name, timeout=40)
    took = time.monotonic() - t0
    code = container_state(name)["ExitCode"]
    logs = run("docker", "logs", name, timeout=30)
    if code != 0:
        raise Failure(f"{name} exited {code} on docker stop (137: killed after the grace):\n{logs}")
    if took > 5:
        raise Failure(f"{name} took {took:.1f} s to stop (docker's grace is 10 s)")
    return took, logs


def test_image(port, actor_port):
    server, actor = f"poolserver-test-{os.getpid()}", f"poolactor-test-{os.getpid()}"
    started = []
    try:
        started.append(server)
        run("docker", "run", "-d", "--name", server, "--network", "host", "--pull", "never",
            "-e", "HOST=127.0.0.1", "-e", f"PORT={port}", "-e", "THREADS=1",
            "-e", f"ACTOR_PORT={actor_port}", "--health-interval", "1s", IMAGE, timeout=60)
        check_sum("GET /1000", *answer(port, server))
        say(f"GET /1000 on 127.0.0.1:{port}: 200, sum {EXPECTED_1000}")
        until("health status 'healthy'",
              lambda: (container_state(server).get("Health") or {}).get("Status") == "healthy", 30)
        say("HEALTHCHECK: healthy")

        started.append(actor)
        run("docker", "run", "-d", "--name", actor, "--network", "host", "--pull", "never",
            "-e", "THREADS=1", "--entrypoint", "poolactor", IMAGE, f"127.0.0.1:{actor_port}",
            timeout=60)
        until("poolactor joining the pool",
              lambda: any(b["kind"] == "actor" for b in get(port, "/stats")[1]["backends"]), 15)
        # THREADS=1 and round robin: the actor has every other job.
        by_actor = until("a job answered by the actor",
                         lambda: next((r for r in (get(port, "/1000") for _ in range(4))
                                       if "actor" in r[1]), None), 10)
        check_sum("GET /1000 from the actor", *by_actor)
        took, _ = stop_container(actor)
        say(f"poolactor joined, answered a job, stopped with 0 in {took:.1f} s")

        took, logs = stop_container(server)
        if "draining" not in logs or "every accepted request answered" not in logs:
            raise Failure(f"{server}: no drain in its log:\n{logs}")
        say(f"docker stop: exit 0 in {took:.1f} s, drained:", logs.strip().splitlines()[-1])
    except Failure:
        for name in started:
            logs = run("docker", "logs", name, timeout=30, check=False)
            print(f"--- last lines of {name}'s log\n{logs[-2000:]}", file=sys.stderr)
        raise
    finally:
        if started:
            run("docker", "rm", "-f", *started, timeout=60, check=False)


def main():
    # A SIGTERM (a CI timeout, say) fails the run where it is: containers and daemons are
    # still removed and stopped on the way out.
    def terminated(*_):
        raise Failure("stopped by SIGTERM")
    signal.signal(signal.SIGTERM, terminated)
    cache = Path(os.environ.get("POOLSERVER_CACHE") or
                 Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "poolserver")
    cache = cache / "docker"
    cache.mkdir(parents=True, exist_ok=True)
    lock = open(cache / "lock", "w")

    def locked():
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False
    try:
        until(f"the lock {cache / 'lock'} (another docker test running)", locked, 900, 1)
    except Failure as e:
        print(f"docker: FAILED: {e}", file=sys.stderr)
        return 1
    dockerd = Dockerd(cache)
    try:
        dockerd.start()
        say("dockerd and containerd", *(p.pid for _, p in dockerd.procs), "on", dockerd.host)
        base_image(cache)
        say("docker build (the build stage, then the image)")
        build = ["docker", "build", "--network", "host", "--build-arg", f"BASE={BASE}", str(ROOT)]
        timeout = int(os.environ.get("BUILD_TIMEOUT", "1800"))
        # The build stage tagged on its own: pruning then keeps its package layer for next time.
        run(*build[:2], "--target", "build", "-t", BUILD_STAGE, *build[2:], timeout=timeout,
            capture=False)
        run(*build[:2], "-t", IMAGE, *build[2:], timeout=timeout, capture=False)
        run("docker", "image", "prune", "-f", timeout=120)
        size = int(run("docker", "image", "inspect", "-f", "{{.Size}}", IMAGE, timeout=30))
        say(f"built {IMAGE} ({size / 1e6:.0f} MB)")
        test_image(*free_ports(2))
    except (Failure, OSError, ValueError, KeyError) as e:
        print(f"docker: FAILED: {e!r}" if not isinstance(e, Failure) else f"docker: FAILED: {e}",
              file=sys.stderr)
        for name, p in dockerd.procs:
            if p.poll() is not None:
                print(f"--- last lines of {name}'s log\n{dockerd.tail(name)}", file=sys.stderr)
        return 1
    finally:
        dockerd.stop()
    say("dockerd stopped")
    print("docker: OK", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Servers on 127.0.0.1 seen from a client: free ports, plain GETs, waiting for an answer."""
import http.client
import os
import socket
import time
import urllib.error
import urllib.request

# Every URL here is on loopback: never sent through a proxy named in the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class WaitFailed(RuntimeError):
    """A server did not answer in time, or its process exited first."""


def get(url, timeout=2.0):
    """(status, body) of GET url; an error status is an answer here, not an exception."""
    try:
        with _OPENER.open(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def free_port(host="127.0.0.1"):
    """A port that is free on host now, picked by the kernel."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def alive(pid):
    """Whether process pid still exists (a zombie not yet waited for counts)."""
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def wait_for(url, seconds, pid=None, step=0.05, timeout=0.5):
    """Wait until GET url answers 200; WaitFailed after `seconds`, or as soon as process pid
    (when given) has exited."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if pid and not alive(pid):
            raise WaitFailed(f"process {pid} exited before {url} answered")
        try:
            if get(url, timeout)[0] == 200:
                return
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(step)
    raise WaitFailed(f"{url} did not answer 200 within {seconds} s")

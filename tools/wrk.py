"""wrk runs that report their numbers as JSON: requests/s, latency percentiles, errors."""
import json
import os
import subprocess
import tempfile

# Lua for wrk: a done() that prints one line `WRK_JSON {...}` (latencies in microseconds).
DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"p50":%d,"p99":%d,"p999":%d,"max":%d,' ..
    '"non2xx":%d,"socket_errors":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency:percentile(99.9), latency.max, e.status, e.connect + e.read + e.write + e.timeout))
end
"""


def run(url, connections, seconds, timeout="5s", lua="", preexec_fn=None):
    """One `wrk -t1` run against url, lua (a request() for a job mix, say) ahead of DONE;
    its numbers, as parse gives them."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(lua + DONE)
        script = f.name
    try:
        out = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", timeout, "-s",
             script, url], capture_output=True, text=True, check=True,
            preexec_fn=preexec_fn, timeout=seconds + 30).stdout
    finally:
        os.unlink(script)
    return parse(out)


def parse(output):
    """The numbers of DONE's WRK_JSON line in wrk's output, plus rps (requests/s)."""
    line = next(x for x in output.splitlines() if x.startswith("WRK_JSON "))
    r = json.loads(line[len("WRK_JSON "):])
    r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
    return r

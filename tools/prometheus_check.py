"""scripts/prometheus.sh's client side: the load, waits, Prometheus's HTTP API, the names."""
import argparse
import http.client
import json
import re
import sys
import time
import urllib.parse

from loopback import WaitFailed, alive, free_port, get, wait_for
from square_sum import body_problem


def cmd_port(a):
    """A free port on 127.0.0.1."""
    print(free_port())


def cmd_listening(a):
    """The port of poolserver's 'listening on http://127.0.0.1:PORT' log line."""
    deadline = time.monotonic() + a.seconds
    while time.monotonic() < deadline:
        with open(a.log, errors="replace") as f:
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", f.read())
        if m:
            print(m.group(1))
            return
        if not alive(a.pid):
            sys.exit("poolserver exited before it listened")
        time.sleep(0.05)
    sys.exit(f"no 'listening on' line within {a.seconds} s")


def cmd_load(a):
    """a.count GET /a.n on one keep-alive connection; each must be 200 with the right body."""
    host, port = a.target.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    ok, problems = 0, []
    for _ in range(a.count):
        conn.request("GET", f"/{a.n}")
        r = conn.getresponse()
        body = r.read().decode()
        problem = f"{r.status} {body[:80]}" if r.status != 200 else body_problem(body, a.n)
        if problem:
            problems.append(problem)
        else:
            ok += 1
        if r.will_close:
            conn.close()
    conn.close()
    if problems:
        sys.exit(f"{ok} of {a.count} answered 200 with the right sum; first problems: "
                 + "; ".join(problems[:3]))
    print(f"{ok} answered 200 with the right sum")


def scrape_names(path):
    """(sample names, family types) in a Prometheus text exposition."""
    samples, types = set(), {}
    with open(path) as f:
        for line in f:
            if line.startswith("# TYPE "):
                _, _, name, typ = line.split(None, 3)
                types[name] = typ.strip()
            elif line.strip() and not line.startswith("#"):
                samples.add(re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0))
    return samples, types


def cmd_scrape_value(a):
    """The value of an unlabelled sample in the scrape, and a short description of it."""
    samples, types = scrape_names(a.file)
    value = None
    with open(a.file) as f:
        for line in f:
            if line.startswith(a.name + " "):
                value = float(line.split()[1])
    if value is None:
        sys.exit(f"no {a.name} in the scrape")
    print(f"{value:g} {len(types)} {len(samples)}")


def api(prom, path, **params):
    url = f"{prom}/api/v1/{path}" + ("?" + urllib.parse.urlencode(params) if params else "")
    status, body = get(url, 5)
    doc = json.loads(body)
    if status != 200 or doc.get("status") != "success":
        raise RuntimeError(f"{path} {params}: {status} {doc.get('error', body[:200])}")
    return doc["data"]


def query(prom, expr):
    data = api(prom, "query", query=expr)
    return data["result"]


def cmd_wait_ready(a):
    """Wait for /-/ready; print the seconds since a.since (the Unix time it was started)."""
    try:
        wait_for(a.prom + "/-/ready", a.seconds, a.pid, step=0.1, timeout=1)
    except WaitFailed as e:
        sys.exit(str(e))
    print(f"{time.time() - a.since:.1f}")


def cmd_poll(a):
    """Poll an instant query until its single value equals a.want exactly."""
    deadline = time.monotonic() + a.seconds
    start = time.monotonic()
    seen = []
    while True:
        try:
            result = query(a.prom, a.expr)
        except (OSError, RuntimeError) as e:
            result, seen = [], seen + [repr(e)]
        value = float(result[0]["value"][1]) if len(result) == 1 else None
        if not seen or seen[-1] != value:
            seen.append(value)
        if value == a.want:
            print(f"{value:g} {time.monotonic() - start:.1f}")
            return
        if time.monotonic() >= deadline:
            sys.exit(f"{a.expr} did not reach {a.want:g} within {a.seconds} s; "
                     f"values seen: {seen}")
        time.sleep(0.2)


# --- metric names in PromQL ------------------------------------------------------------------
KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
            "group_right", "bool", "offset", "atan2", "inf", "nan", "sum", "min", "max", "avg",
            "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk",
            "quantile"}
BUILT_IN = {"up", "ALERTS", "ALERTS_FOR_STATE"}  # Prometheus's own series


def metric_names(expr):
    """The metric names a PromQL expression selects (Grafana variables allowed in it)."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    e = re.sub(r"\$\{[^}]*\}|\$\w+", " ", e)   # Grafana variables
    e = re.sub(r"\{[^}]*\}", " ", e)             # label matchers
    e = re.sub(r"\[[^\]]*\]", " ", e)            # range and subquery durations
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    names = set()
    for m in re.finditer(r"(?<![\w.:])[a-zA-Z_:][a-zA-Z0-9_:]*", e):
        if m.group(0) in KEYWORDS or e[m.end():].lstrip().startswith("("):
            continue  # an operator, or a function's name
        names.add(m.group(0))
    return names


def dashboard_queries(path):
    """[(where, expr, must have data)] of a Grafana dashboard JSON."""
    dash = json.load(open(path))
    out = []
    for p in dash.get("panels", []):
        for t in p.get("targets", []):
            out.append((f"panel '{p['title']}' {t.get('refId')}", t["expr"], True))
    for v in dash.get("templating", {}).get("list", []):
        if v.get("type") != "query":
            continue
        q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
        m = re.fullmatch(r"\s*label_values\((.*),\s*\w+\s*\)\s*", q)
        if not m:
            raise SystemExit(f"variable {v['name']}: no label_values(selector, label): {q}")
        out.append((f"variable ${v['name']}", m.group(1), True))
    for an in dash.get("annotations", {}).get("list", []):
        if "expr" in an:  # firing alerts: none while everything is calm
            out.append((f"annotation '{an['name']}'", an["expr"], False))
    return out


def grafana_to_promql(expr):
    """A dashboard query as Prometheus runs it for 'All' over the last minute."""
    return (expr.replace("$__rate_interval", "1m").replace("$__interval", "15s")
            .replace("$job", ".*").replace("$instance", ".*"))


def cmd_check(a):
    """c and d against the running Prometheus."""
    prom, deadline = a.prom, time.monotonic() + a.seconds
    # c. the target is up.
    up = query(prom, f'up{{job="{a.job}"}}')
    if [r["value"][1] for r in up] != ["1"]:
        sys.exit(f"c: up{{job=\"{a.job}\"}} is {[r['value'][1] for r in up]}, not [1]")
    # c. the rules: every alert of alerts.yml loaded and evaluated without error.
    expected = re.findall(r"^\s*-\s*alert:\s*(\S+)\s*$", open(a.alerts).read(), re.M)
    while True:
        rules = [r for g in api(prom, "rules")["groups"] for r in g["rules"]]
        loaded = {r["name"]: r for r in rules if r["type"] == "alerting"}
        missing = [n for n in expected if n not in loaded]
        if missing:
            sys.exit(f"c: alerts not loaded by Prometheus: {missing} (loaded: {sorted(loaded)})")
        bad = {n: r.get("lastError") or r["health"] for n, r in loaded.items()
               if r["health"] != "ok"}
        if not bad:
            break
        if time.monotonic() >= deadline or any(r["health"] == "err" for r in loaded.values()):
            sys.exit(f"c: rules not evaluated cleanly: {bad}")
        time.sleep(0.2)
    active = [f"{x['labels'].get('alertname')} {x['state']} {x['labels']}"
              for x in api(prom, "alerts")["alerts"]]
    if active:
        sys.exit(f"c: alerts active on a calm server: {active}")
    print(f"   up{{job=\"{a.job}\"}} = 1; alerts loaded and evaluated (health ok): "
          f"{', '.join(expected)}; firing or pending: none")

    # d. every metric name used exists in the scrape.
    samples, types = scrape_names(a.metrics)
    known = set(samples)
    for name, typ in types.items():
        known |= ({name + s for s in ("_bucket", "_sum", "_count")} if typ == "histogram"
                  else {name + s for s in ("_sum", "_count")} | {name} if typ == "summary"
                  else {name})
    used = {}
    for n, r in loaded.items():
        for name in metric_names(r["query"]):
            used.setdefault(name, []).append(f"alert {n}")
    queries = dashboard_queries(a.dashboard)
    for where, expr, _ in queries:
        for name in metric_names(expr):
            used.setdefault(name, []).append(where)
    unknown = {n: w for n, w in used.items() if n not in known and n not in BUILT_IN}
    if unknown:
        sys.exit("d: metric names not in poolserver's /metrics: "
                 + "; ".join(f"{n} (in {', '.join(sorted(set(w)))})" for n, w in unknown.items()))
    by_alerts = {n for n, w in used.items() if any(x.startswith("alert ") for x in w)}
    by_dashboard = {n for n, w in used.items() if not all(x.startswith("alert ") for x in w)}
    print(f"   names: the alerts use {len(by_alerts)} metric names, the dashboard "
          f"{len(by_dashboard)}; every one is in the scrape ({len(types)} families) or "
          f"Prometheus's own ({', '.join(sorted(n for n in used if n in BUILT_IN))})")

    # d. every dashboard query runs in Prometheus; panels and variables return data (rate()
    # needs two scrapes in its window: retried until the deadline).
    while True:
        failed, empty, with_data = [], [], 0
        for where, expr, needs_data in queries:
            try:
                result = query(prom, grafana_to_promql(expr))
            except RuntimeError as e:
                failed.append(f"{where}: {e}")
                continue
            if result:
                with_data += 1
            elif needs_data:
                empty.append(where)
        if failed:
            sys.exit("d: dashboard queries Prometheus refused: " + "; ".join(failed))
        if not empty:
            break
        if time.monotonic() >= deadline:
            sys.exit("d: dashboard queries without data: " + "; ".join(empty))
        time.sleep(0.3)
    print(f"   dashboard: {len(queries)} queries ran in Prometheus, {with_data} with data "
          f"({sum(1 for q in queries if not q[2])} annotation query, empty while nothing fires)")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(required=True)
    s = sub.add_parser("port"); s.set_defaults(f=cmd_port)
    s = sub.add_parser("listening"); s.add_argument("log"); s.add_argument("pid", type=int)
    s.add_argument("seconds", type=float); s.set_defaults(f=cmd_listening)
    s = sub.add_parser("load"); s.add_argument("target"); s.add_argument("count", type=int)
    s.add_argument("n", type=int); s.set_defaults(f=cmd_load)
    s = sub.add_parser("scrape-value"); s.add_argument("file"); s.add_argument("name")
    s.set_defaults(f=cmd_scrape_value)
    s = sub.add_parser("wait-ready"); s.add_argument("prom"); s.add_argument("pid", type=int)
    s.add_argument("seconds", type=float); s.add_argument("since", type=float)
    s.set_defaults(f=cmd_wait_ready)
    s = sub.add_parser("poll"); s.add_argument("prom"); s.add_argument("expr")
    s.add_argument("want", type=float); s.add_argument("seconds", type=float)
    s.set_defaults(f=cmd_poll)
    s = sub.add_parser("check"); s.add_argument("prom"); s.add_argument("--job", required=True)
    s.add_argument("--alerts", required=True); s.add_argument("--metrics", required=True)
    s.add_argument("--dashboard", required=True); s.add_argument("--seconds", type=float)
    s.set_defaults(f=cmd_check)
    a = p.parse_args()
    a.f(a)


if __name__ == "__main__":
    main()

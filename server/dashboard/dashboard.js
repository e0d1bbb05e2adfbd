// The live dashboard: polls /stats, draws the bars and the lines, shows the state.
// Everything it needs is in this page (Chart.js from Debian's libjs-chart.js is embedded
// next to it at build time), so it works with no network beyond the server itself.
(function () {
  "use strict";
  const params = new URLSearchParams(location.search);
  const interval = Math.max(200, Number(params.get("interval")) || 1000);  // ms between polls
  const historySeconds = Math.max(10, Number(params.get("history")) || 300);
  const statsUrl = "stats";  // relative: works behind a proxy that adds a path prefix

  const colors = { queue: "#0969da", inFlight: "#8250df", throughput: "#1a7f37",
                   producer: "#bf5b00", consumer: "#656d76", rejected: "#cf222e", shed: "#9a6700",
                   p50: "#0969da", p99: "#cf222e", refused: "#9a6700" };
  const $ = (id) => document.getElementById(id);

  // The state seen by tests and by curious people: window.poolDashboard.
  const dash = { updates: 0, errors: 0, first: null, last: null, asked: null, seen: new Set(),
                 charts: {} };
  window.poolDashboard = dash;

  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.font.size = 12;

  const timeAxis = {
    type: "linear",
    ticks: { maxRotation: 0, autoSkipPadding: 24,
             callback: (v) => new Date(v).toLocaleTimeString([], { hour12: false }) },
  };
  function lineChart(id, datasets, yTitle) {
    return new Chart($(id), {
      type: "line",
      data: { datasets: datasets.map((d) => ({ label: d.label, data: [], borderColor: d.color,
                                               backgroundColor: d.color, borderWidth: 2,
                                               pointRadius: 0, tension: 0.2, spanGaps: false })) },
      options: { parsing: false, normalized: true, interaction: { mode: "index", intersect: false },
                 scales: { x: timeAxis, y: { beginAtZero: true, title: { display: true, text: yTitle } } },
                 plugins: { legend: { position: "bottom" } } },
    });
  }

  dash.charts.backends = new Chart($("backends-chart"), {
    type: "bar",
    data: { labels: [], datasets: [
      { label: "queue depth", data: [], backgroundColor: colors.queue },
      { label: "in flight", data: [], backgroundColor: colors.inFlight },
    ] },
    options: { scales: { x: { ticks: { autoSkip: false, maxRotation: 60 } },
                         y: { beginAtZero: true, suggestedMax: 4, title: { display: true, text: "jobs" } } },
               plugins: { legend: { position: "bottom" } } },
  });
  dash.charts.throughput = lineChart("throughput-chart",
    [{ label: "jobs/s", color: colors.throughput }], "jobs/s");
  dash.charts.waits = lineChart("waits-chart",
    [{ label: "producer waits/s", color: colors.producer },
     { label: "consumer waits/s", color: colors.consumer },
     { label: "503/s", color: colors.rejected },
     { label: "shed/s", color: colors.shed }], "per second");
  dash.charts.latency = lineChart("latency-chart",
    [{ label: "200 p50", color: colors.p50 }, { label: "200 p99", color: colors.p99 },
     { label: "503 p99", color: colors.refused }], "ms");

  $("interval").textContent = interval >= 1000 ? `${interval / 1000} s` : `${interval} ms`;
  $("history").textContent = `${Math.round(historySeconds / 60 * 10) / 10} min`;

  // From a million up, 3 significant digits and a suffix (12.3M): a tile stays one line wide.
  const suffixes = [[1e12, "T"], [1e9, "G"], [1e6, "M"]];
  const number = (v, digits) => {
    if (v == null || !isFinite(v)) return "–";
    // Rounded first, so that 999,999,999 reads 1G, not 1,000M.
    const rounded = Number(v.toPrecision(3));
    for (const [scale, suffix] of suffixes)
      if (Math.abs(rounded) >= scale)
        return (rounded / scale).toLocaleString("en-US", { maximumSignificantDigits: 3 }) + suffix;
    return v.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
  };
  dash.number = number;  // for the browser test
  const ms = (seconds) => seconds == null ? null : seconds * 1000;

  // A short label per backend: "w3" for worker 3, "actor 10.0.0.7:51234" for an actor.
  function backendLabel(b) {
    return b.kind === "worker" ? "w" + b.name.replace(/^worker /, "") : "actor " + b.name;
  }

  function push(chart, t, values) {
    chart.data.datasets.forEach((d, i) => {
      d.data.push({ x: t, y: values[i] });
      while (d.data.length && d.data[0].x < t - historySeconds * 1000) d.data.shift();
    });
    // The lines fill the chart from the first poll until the history is full.
    chart.options.scales.x.min = Math.max(t - historySeconds * 1000, dash.first ?? t);
    chart.options.scales.x.max = t;
  }

  function setState(state, reason) {
    const el = $("state");
    el.textContent = state;
    el.className = state.replace(/ /g, "-");
    $("reason").textContent = reason || "";
    document.body.dataset.state = state;
  }

  function render(s, t) {
    const prev = dash.last;
    const dt = prev ? (t - prev.t) / 1000 : 0;
    const rate = (key) => prev && dt > 0 ? Math.max(0, (s.totals[key] - prev.s.totals[key]) / dt) : null;
    const producerWaits = rate("producer_waits");
    const consumerWaits = rate("consumer_waits");
    const rejected = rate("responses_503");
    const adaptive = s.admission.mode === "adaptive";
    const shed = prev && dt > 0 ? Math.max(0, (s.admission.shed - prev.s.admission.shed) / dt) : null;

    $("version").textContent = s.version;
    setState(s.state, s.reason);
    const config = [
      `strategy ${s.strategy}`,
      `${s.threads} worker${s.threads === 1 ? "" : "s"}`,
      `${s.actors} actor${s.actors === 1 ? "" : "s"}`,
      `${s.io_threads} IO thread${s.io_threads === 1 ? "" : "s"}`,
      `queue ${s.queue_capacity}/worker`,
      `backpressure ${s.backpressure}`,
      `admission ${s.admission.mode}`,
      `up ${Math.floor(s.uptime_seconds)} s`,
    ];
    $("config").replaceChildren(...config.map((c) => {
      const span = document.createElement("span");
      span.textContent = c;
      return span;
    }));
    $("throughput").textContent = number(s.throughput, 1);
    $("p50").textContent = number(ms(s.latency.p50), 2);
    $("p99").textContent = number(ms(s.latency.p99), 2);
    $("in-flight").textContent = number(s.totals.in_flight, 0);
    $("queued").textContent = number(s.totals.queue_depth, 0);
    $("producer-waits").textContent = number(producerWaits, 1);
    $("consumer-waits").textContent = number(consumerWaits, 1);
    $("rejected").textContent = number(rejected, 1);
    $("shed").textContent = adaptive ? number(shed, 1) : "off";
    // Since start, by reason: only the reasons seen, so that the tile stays short.
    const reasons = Object.entries(s.admission.shed_by_reason).filter(([, n]) => n > 0);
    $("shed-reasons").textContent = reasons.length
        ? "since start: " + reasons.map(([r, n]) => `${r.replace("_", " ")} ${number(n, 0)}`).join(", ")
        : adaptive ? "none since start" : "";
    $("target").textContent = adaptive ? number(s.admission.target_ms, 1) : "off";
    $("target-unit").textContent = adaptive ? "ms" : "";
    $("completed").textContent = number(s.totals.completed, 0);
    $("connections").textContent = number(s.connections, 0);

    const bars = dash.charts.backends;
    bars.data.labels = s.backends.map(backendLabel);
    bars.data.datasets[0].data = s.backends.map((b) => b.queue_depth);
    bars.data.datasets[1].data = s.backends.map((b) => b.in_flight);
    bars.update();

    push(dash.charts.throughput, t, [s.throughput]);
    if (prev) push(dash.charts.waits, t, [producerWaits, consumerWaits, rejected, shed]);
    push(dash.charts.latency, t,
         [ms(s.latency.p50), ms(s.latency.p99), ms(s.latency.refused_p99)]);
    dash.charts.throughput.update();
    dash.charts.waits.update();
    dash.charts.latency.update();
  }

  // A long poll: the server holds `stats?wait=` until the interval is over, or answers at
  // once when it starts draining, so the page sees "draining" before the listener closes.
  async function poll() {
    const asked = Date.now();
    const url = dash.last ? `${statsUrl}?wait=${interval}` : statsUrl;
    dash.asked = asked;  // when the request in flight was sent (null: none)
    try {
      const response = await fetch(url, { cache: "no-store" });
      dash.asked = null;
      if (!response.ok) throw new Error(`/stats answered ${response.status}`);
      const s = await response.json();
      const t = Date.now();
      dash.first ??= t;
      render(s, t);
      dash.last = { s, t };
      dash.updates += 1;
      dash.seen.add(s.state);
      document.body.dataset.updates = String(dash.updates);
      setTimeout(poll, 0);
    } catch (e) {
      dash.asked = null;
      dash.errors += 1;
      dash.seen.add("unreachable");
      // A stopped server, or one whose drain closed its listener: say so, keep the lines.
      const last = dash.last
          ? `last update ${new Date(dash.last.t).toLocaleTimeString([], { hour12: false })}` +
            (dash.last.s.state === "ok" ? "" : `, which said: ${dash.last.s.state}`)
          : "no update yet";
      setState("unreachable", `${e.message}; ${last}`);
      setTimeout(poll, Math.max(0, interval - (Date.now() - asked)));
    }
  }
  poll();
})();

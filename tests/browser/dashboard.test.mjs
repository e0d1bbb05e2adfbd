// The dashboard in a real browser: Debian's Chromium, driven by playwright-core.
//
// Starts poolserver (16 workers, mailboxes of 2, an actor port) and one poolactor on
// 127.0.0.1, opens /dashboard, and checks that it shows the pool (17 bars: 16 workers and
// the actor), that under load its four charts draw, its numbers move and its state turns
// "shedding" (admission control refuses what would wait too long) with the shed tiles
// filled, and that a stopped server shows "draining", then "unreachable". Saves a
// screenshot taken under load. Every process it starts is stopped on exit; the whole run is
// bounded.
//
//   node tests/browser/dashboard.test.mjs --server BIN --actor BIN [--screenshot FILE]
import { spawn } from "node:child_process";
import http from "node:http";
import { parseArgs } from "node:util";
import { chromium } from "playwright-core";

const { values: opts } = parseArgs({
  options: {
    server: { type: "string" },
    actor: { type: "string" },
    screenshot: { type: "string" },
    chromium: { type: "string", default: "/usr/bin/chromium" },
  },
});
if (!opts.server || !opts.actor) {
  console.error("usage: dashboard.test.mjs --server BIN --actor BIN [--screenshot FILE]");
  process.exit(2);
}

const children = [];
let browser = null;
const say = (...a) => console.error("[browser]", ...a);
async function cleanup() {
  if (browser) await browser.close().catch(() => {});
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
}
function fail(message) {
  console.error(`browser: FAILED: ${message}`);
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  process.exit(1);  // playwright-core closes the browser it launched on exit
}
const watchdog = setTimeout(() => fail("the whole test took over 90 s"), 90_000);
process.on("unhandledRejection", (e) => fail(e?.stack || String(e)));

// Starts a process and resolves with the first match of `pattern` in its output.
function start(bin, args, env, pattern, what) {
  const child = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let log = "";
  return new Promise((resolve, reject) => {
    const onData = (chunk) => {
      log += chunk;
      const m = pattern && log.match(pattern);
      if (m) resolve({ child, match: m, log: () => log });
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", (code) => reject(new Error(`${what} exited (${code}) before it was ready:\n${log}`)));
    if (!pattern) resolve({ child, match: null, log: () => log });
  });
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
function get(port, path) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path, agent }, (res) => {
      let body = "";
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode, body }));
    });
    req.on("error", reject);
  });
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(what, check, timeoutMs) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > end) fail(`${what}: not within ${timeoutMs} ms`);
    await sleep(100);
  }
}

// --- the server and an actor -------------------------------------------------------------
const server = await start(opts.server, [], {
  PORT: "0", HOST: "127.0.0.1", THREADS: "16", QUEUE_CAPACITY: "2", ACTOR_PORT: "0",
  ACTOR_MAX_IN_FLIGHT: "4",
  LOG_LEVEL: "info", DRAIN_TIMEOUT_MS: "5000",
}, /listening on http:\/\/127\.0\.0\.1:(\d+)/, "poolserver");
const port = Number(server.match[1]);
const actorPort = server.log().match(/actors connect to 127\.0\.0\.1:(\d+)/)[1];
await start(opts.actor, [`127.0.0.1:${actorPort}`], { THREADS: "1", LOG_LEVEL: "warn" }, null, "poolactor");
await until("the actor joins", async () => JSON.parse((await get(port, "/stats")).body).actors === 1, 10_000);
say(`poolserver on 127.0.0.1:${port}, one actor joined`);

// --- the page -----------------------------------------------------------------------------
browser = await chromium.launch({
  executablePath: opts.chromium,
  headless: true,
  // This machine has no network beyond loopback: keep Chromium from reaching out.
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const page = await browser.newPage({ viewport: { width: 1400, height: 1050 } });
const pageErrors = [];
page.on("pageerror", (e) => pageErrors.push(String(e)));
page.on("console", (m) => { if (m.type() === "error") pageErrors.push(m.text()); });
await page.goto(`http://127.0.0.1:${port}/dashboard?interval=500`);
const updates = () => page.evaluate(() => window.poolDashboard.updates);
await until("the first two updates", async () => (await updates()) >= 2, 10_000);

const idle = await page.evaluate(() => ({
  state: document.getElementById("state").textContent,
  labels: window.poolDashboard.charts.backends.data.labels,
  config: document.getElementById("config").textContent,
}));
if (idle.state !== "ok") fail(`state before load is '${idle.state}', expected 'ok'`);
if (idle.labels.length !== 17) fail(`${idle.labels.length} bars, expected 16 workers + 1 actor: ${idle.labels}`);
if (idle.labels[0] !== "w0" || idle.labels[15] !== "w15" || !/^actor \S+$/.test(idle.labels[16]))
  fail(`bar labels: ${idle.labels}`);
for (const want of ["strategy roundrobin", "16 workers", "1 actor", "admission adaptive"])
  if (!idle.config.includes(want)) fail(`the header lacks '${want}': ${idle.config}`);
say(`idle: state ok, bars ${idle.labels[0]}..${idle.labels[15]}, ${idle.labels[16]}`);

// At 1024 px, the largest numbers a long-lived server shows stay inside their tiles.
await page.setViewportSize({ width: 1024, height: 900 });
const overflow = await page.evaluate(() => {
  const { number } = window.poolDashboard;
  const shown = number(98765432109876, 0);
  // 3 significant digits from a million up, rounded before the suffix is picked.
  const samples = [number(999999999, 0), number(1234567, 0), number(999999, 0), number(12.5, 1)];
  if (samples.join(" ") !== "1G 1.23M 1M 12.5") return { shown, out: [`number(): ${samples}`] };
  const out = [];
  for (const tile of document.querySelectorAll(".tile")) {
    const value = tile.querySelector(".value");
    const before = value.textContent;
    value.textContent = shown;
    const past = value.getBoundingClientRect().right > tile.getBoundingClientRect().right;
    if (tile.scrollWidth > tile.clientWidth || past)
      out.push(`${tile.textContent} (${tile.scrollWidth} > ${tile.clientWidth})`);
    value.textContent = before;
  }
  return { shown, out };
});
if (overflow.out.length) fail(`at 1024 px, '${overflow.shown}' overflows: ${overflow.out.join("; ")}`);
say(`1024 px: '${overflow.shown}' fits every tile`);
await page.setViewportSize({ width: 1400, height: 1050 });

// --- load: 48 keep-alive clients on /3000000 (a few ms each) for 7 s ---------------------
const statuses = {};
let loadDone = false;
const loadEnd = Date.now() + 7_000;
const clients = Array.from({ length: 48 }, async () => {
  while (Date.now() < loadEnd) {
    const r = await get(port, "/3000000");
    statuses[r.status] = (statuses[r.status] || 0) + 1;
  }
});
const load = Promise.all(clients).then(() => (loadDone = true));

// ADMISSION=adaptive (the default) names its 503s "shedding"; "overloaded" is ADMISSION=static's.
await until("state 'shedding' under load", () =>
  page.evaluate(() => document.body.dataset.state === "shedding"), 6_000);
const read = () => page.evaluate(() => ({
  completed: document.getElementById("completed").textContent,
  throughput: document.getElementById("throughput").textContent,
  p99: document.getElementById("p99").textContent,
  target: document.getElementById("target").textContent,
  reasons: document.getElementById("shed-reasons").textContent,
  updates: window.poolDashboard.updates,
}));
const first = await read();
await sleep(1500);
const second = await read();
const asNumber = (s) => Number(s.replace(/,/g, ""));
if (!(asNumber(second.completed) > asNumber(first.completed)))
  fail(`'Completed' did not grow: ${first.completed} then ${second.completed}`);
if (!(second.updates > first.updates)) fail("no update in 1.5 s");
if (!(asNumber(second.throughput) > 0)) fail(`throughput shows ${second.throughput} under load`);
if (!isFinite(asNumber(second.p99))) fail(`p99 shows '${second.p99}' under load`);
if (!(asNumber(second.target) >= 5)) fail(`the admission target shows '${second.target}', expected at least 5 ms`);
if (!/^since start: .*\d/.test(second.reasons)) fail(`the shed tile names no reason under load: '${second.reasons}'`);
say(`under load: completed ${first.completed} -> ${second.completed}, throughput ${second.throughput}/s, p99 ${second.p99} ms, target ${second.target} ms, shed ${second.reasons}`);

// Each chart drew: enough coloured pixels on its canvas, and data behind the lines.
const drawn = await page.evaluate(() => {
  const out = {};
  for (const [name, chart] of Object.entries(window.poolDashboard.charts)) {
    const c = chart.canvas;
    const pixels = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    let painted = 0;
    for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) painted++;
    out[name] = { share: painted / (c.width * c.height),
                  points: chart.data.datasets.map((d) => d.data.length),
                  max: Math.max(...chart.data.datasets.flatMap((d) => d.data.map((p) => (typeof p === "number" ? p : p.y) || 0))) };
  }
  return out;
});
for (const [name, d] of Object.entries(drawn)) {
  if (!(d.share > 0.02)) fail(`chart '${name}' painted only ${(d.share * 100).toFixed(2)}% of its canvas`);
  if (name !== "backends" && Math.min(...d.points) < 3) fail(`chart '${name}' has too few points: ${d.points}`);
}
if (!(drawn.throughput.max > 0)) fail("the throughput line never left 0");
if (!(drawn.waits.max > 0)) fail("the waits/503 lines never left 0 under overload");
say("charts:", Object.entries(drawn).map(([n, d]) => `${n} ${(d.share * 100).toFixed(1)}% painted`).join(", "));

await sleep(2000);  // a little more history on the lines before the picture
if (opts.screenshot) {
  await page.screenshot({ path: opts.screenshot, fullPage: true });
  say(`screenshot: ${opts.screenshot}`);
}
await load;
const total = Object.values(statuses).reduce((a, b) => a + b, 0);
const others = Object.keys(statuses).filter((s) => s !== "200" && s !== "503");
if (others.length) fail(`load got statuses other than 200 and 503: ${JSON.stringify(statuses)}`);
if (!statuses[200] || !statuses[503]) fail(`expected both 200s and 503s: ${JSON.stringify(statuses)}`);
say(`load: ${total} requests, ${JSON.stringify(statuses)}`);

// --- a stopped server shows draining, then unreachable ---------------------------------
agent.destroy();
// SIGTERM while the server holds one of the page's long polls (500 ms each): sent 100 to
// 300 ms ago, so the server has read it and has not answered it yet.
await until("a long poll held by the server", () => page.evaluate(() => {
  const asked = window.poolDashboard.asked;
  const age = asked === null ? -1 : Date.now() - asked;
  return age >= 100 && age <= 300;
}), 5_000);
const exited = new Promise((r) => server.child.on("exit", (code, signal) => r({ code, signal })));
server.child.kill("SIGTERM");
const end = await exited;
if (end.code !== 0) fail(`poolserver exited with ${end.code ?? end.signal} after SIGTERM`);
await until("state 'unreachable' once the server stopped", () =>
  page.evaluate(() => document.body.dataset.state === "unreachable"), 5_000);
// The long poll held at the SIGTERM was answered at once, saying so.
const seen = await page.evaluate(() => [...window.poolDashboard.seen]);
if (!seen.includes("draining")) fail(`the page never showed 'draining' (states seen: ${seen})`);
const reason = await page.evaluate(() => document.getElementById("reason").textContent);
if (!reason.includes("which said: draining")) fail(`the unreachable state does not say it was draining: ${reason}`);
// The failed polls are logged by the browser as errors; anything else is a page bug.
const real = pageErrors.filter((e) => !/Failed to load resource|Failed to fetch|ERR_CONNECTION_REFUSED/.test(e));
if (real.length) fail(`errors in the page: ${real.join(" | ")}`);
say(`stopped server: states seen ${seen.join(", ")}; then '${reason}'; no script errors`);

clearTimeout(watchdog);
await cleanup();
console.error("browser: OK");

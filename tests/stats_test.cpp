// /stats and /dashboard on the real server (ephemeral loopback port), and the pieces behind
// /stats: histogram quantiles and the live window.

#include <utility>

#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "observability/live_window.hpp"
#include "test_server.hpp"

using json = nlohmann::json;
using namespace std::chrono_literals;
namespace http = boost::beast::http;

using test::body_of;
using test::running_server;

TEST_CASE("quantile: interpolates within the bucket, like histogram_quantile()") {
  pool::histogram h;
  // 100 observations: 50 in (0.5ms, 1ms], 49 in (1ms, 2.5ms], 1 in (5s, 10s].
  for (int i = 0; i < 50; ++i) h.observe(800us);
  for (int i = 0; i < 49; ++i) h.observe(2ms);
  h.observe(7s);
  const auto s = h.read();
  // The 50th of 100 is the last of the first bucket that holds any: its upper bound.
  CHECK(pool::quantile(s, 0.5) == doctest::Approx(0.001));
  // The 75th: 25 of 49 into (0.001, 0.0025].
  CHECK(pool::quantile(s, 0.75) == doctest::Approx(0.001 + 0.0015 * 25.0 / 49.0));
  // The 99th is the last of the second bucket; the 99.5th lies in (5, 10].
  CHECK(pool::quantile(s, 0.99) == doctest::Approx(0.0025));
  CHECK(pool::quantile(s, 0.995) == doctest::Approx(7.5));
  CHECK(std::isnan(pool::quantile(pool::histogram::snapshot{}, 0.5)));
  pool::histogram slow;
  slow.observe(60s);  // beyond the last bound: the +Inf bucket reports the last bound
  CHECK(pool::quantile(slow.read(), 0.5) == pool::latency_buckets.back());
}

TEST_CASE("live window: the change over the last few seconds, from samples") {
  observability::live_window w;
  const auto t0 = pool::clock::now();
  pool::histogram h;  // jobs answered 200
  pool::histogram r;  // jobs answered 503
  const auto at = [&](std::chrono::milliseconds after, std::uint64_t rejected) {
    return observability::live_window::point{t0 + after, h.read(), rejected, r.read()};
  };
  // Before any sample: everything so far, over no time.
  h.observe(1ms);
  auto d = w.since(at(0ms, 2));
  CHECK(d.seconds == 0);
  CHECK(d.answered.count() == 1);
  CHECK(d.rejected == 2);

  w.sample(at(0ms, 2));
  for (int i = 0; i < 3; ++i) h.observe(1ms);
  w.sample(at(3000ms, 5));
  h.observe(1ms);
  r.observe(10us);
  d = w.since(at(4000ms, 6));
  CHECK(d.seconds == doctest::Approx(4.0));
  CHECK(d.answered.count() == 4);
  CHECK(d.rejected == 4);
  CHECK(d.refused.count() == 1);

  // Once a sample is `span` old, the ones before it drop out of the window.
  w.sample(at(5000ms, 6));
  w.sample(at(8500ms, 6));
  d = w.since(at(9000ms, 6));
  CHECK(d.seconds == doctest::Approx(6.0));  // from the 3000 ms sample
  CHECK(d.answered.count() == 1);
  CHECK(d.rejected == 1);
  CHECK(d.refused.count() == 1);  // observed after the 3000 ms sample
}

TEST_CASE("stats: /stats is one JSON object with the pool, its backends and its state") {
  running_server s(3, 64);
  test::http_client c(s.port);
  const auto before = body_of(c.get("/stats"));
  constexpr int jobs = 7;
  for (int i = 0; i < jobs; ++i) CHECK(c.get("/5000").result_int() == 200);
  const auto r = c.get("/stats");
  CHECK(r.result_int() == 200);
  CHECK(r[http::field::cache_control] == "no-store");
  const auto after = body_of(r);

  CHECK(after["version"] == POOLSERVER_VERSION);
  CHECK(after["state"] == "ok");
  CHECK(after["reason"] == "");
  CHECK(after["strategy"] == "roundrobin");
  CHECK(after["threads"] == 3);
  CHECK(after["actors"] == 0);
  CHECK(after["queue_capacity"] == 64);
  CHECK(after["connections"] == 1);
  CHECK(after["uptime_seconds"].get<double>() > before["uptime_seconds"].get<double>());
  // Throughput is sampled every 500 ms: within a few samples it shows the jobs just finished.
  double throughput = after["throughput"].get<double>();
  for (int i = 0; i < 40 && throughput == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    throughput = body_of(c.get("/stats"))["throughput"].get<double>();
  }
  CHECK(throughput > 0);
  for (const char* key : {"produced", "consumed", "completed"})
    CHECK(after["totals"][key].get<int>() - before["totals"][key].get<int>() == jobs);
  CHECK(after["totals"]["in_flight"] == 0);
  CHECK(after["totals"]["queue_depth"] == 0);
  // The latency window reaches back at least 5 s (to start-up, this early): it holds the 7
  // jobs, and no other request (the /stats before them is no job).
  CHECK(after["latency"]["jobs"] == jobs);
  CHECK(after["latency"]["refused"] == 0);
  CHECK(after["latency"]["refused_p99"].is_null());
  const double p50 = after["latency"]["p50"].get<double>();
  const double p99 = after["latency"]["p99"].get<double>();
  CHECK(p50 > 0);
  CHECK(p99 >= p50);

  const auto& backends = after["backends"];
  REQUIRE(backends.size() == 3);
  int produced = 0;
  for (int k = 0; k < 3; ++k) {
    CHECK(backends[k]["name"] == "worker " + std::to_string(k));
    CHECK(backends[k]["kind"] == "worker");
    CHECK(backends[k]["capacity"] == 64);
    CHECK(backends[k]["queue_depth"] == 0);
    produced += backends[k]["produced"].get<int>();
  }
  CHECK(produced == after["totals"]["produced"].get<int>());

  // HEAD: the headers of GET, no body.
  const auto head = c.request(http::verb::head, "/stats");
  CHECK(head.result_int() == 200);
  CHECK(head.body().empty());
  const auto post = c.request(http::verb::post, "/stats", "{}");
  CHECK(post.result_int() == 405);
  CHECK(post[http::field::allow] == "GET, HEAD");
}

TEST_CASE("stats: a full mailbox, then 503s, read as overloaded and say why") {
  running_server s(1, 1);  // one worker, a mailbox of one
  test::http_client running(s.port), queued(s.port), refused(s.port), look(s.port);
  test::occupy_worker_and_mailbox(s, running, queued);

  auto st = body_of(look.get("/stats"));
  CHECK(st["state"] == "overloaded");
  CHECK(st["reason"] == "worker 0's mailbox is 100% full");
  CHECK(st["backends"][0]["queue_depth"] == 1);
  CHECK(st["backends"][0]["in_flight"] == 2);

  CHECK(refused.get("/block?n=3").result_int() == 503);
  st = body_of(look.get("/stats"));
  CHECK(st["state"] == "overloaded");
  CHECK(st["reason"].get<std::string>().starts_with("1 request(s) answered 503 in the last"));
  CHECK(st["totals"]["responses_503"] == 1);
  CHECK(st["totals"]["rejected"] == 1);
  CHECK(st["totals"]["producer_waits"] == 1);

  s.blocker->release();
  CHECK(body_of(running.read())["value"] == 1);
  CHECK(body_of(queued.read())["value"] == 2);
}

TEST_CASE("stats: a draining server says so") {
  running_server s(1, 4);
  CHECK(json::parse(s.srv->stats_json())["state"] == "ok");
  test::http_client running(s.port);
  running.send(http::verb::get, "/block?n=1");  // keeps the drain from finishing
  test::wait_until([&] { return s.srv->workers().stats(0).consumed == 1; });
  s.srv->stop();
  test::wait_until([&] { return s.srv->draining(); });
  const auto st = json::parse(s.srv->stats_json());
  CHECK(st["state"] == "draining");
  CHECK(st["reason"].get<std::string>().find("stopping") != std::string::npos);
  s.blocker->release();
  CHECK(body_of(running.read())["value"] == 1);
}

TEST_CASE("stats: /dashboard is one self-contained HTML page") {
  running_server s;
  test::http_client c(s.port);
  const auto r = c.get("/dashboard");
  CHECK(r.result_int() == 200);
  CHECK(r[http::field::content_type] == "text/html; charset=utf-8");
  const auto& page = r.body();
  CHECK(page.starts_with("<!doctype html>"));
  CHECK(page.find("</html>") != std::string::npos);
  // Chart.js and the page's script are inlined: no @NAME@ marker of embed.cmake is left.
  CHECK(page.find("Chart.js v") != std::string::npos);
  CHECK(page.find("poolDashboard") != std::string::npos);
  CHECK(page.find("@CHART_JS@") == std::string::npos);
  CHECK(page.find("@DASHBOARD_JS@") == std::string::npos);
  // Nothing is loaded from elsewhere: no external script, stylesheet or font.
  CHECK(page.find("<script src") == std::string::npos);
  CHECK(page.find("<link") == std::string::npos);
  CHECK(page.find("https://cdn") == std::string::npos);
  CHECK(c.request(http::verb::head, "/dashboard").result_int() == 200);
}

TEST_CASE("stats: ?wait= holds the answer for that long, and a drain answers it at once") {
  running_server s(1, 4);
  test::http_client c(s.port);
  auto t0 = std::chrono::steady_clock::now();
  auto r = c.get("/stats?wait=150");
  CHECK(r.result_int() == 200);
  CHECK(std::chrono::steady_clock::now() - t0 >= 150ms);
  CHECK(body_of(r)["state"] == "ok");
  CHECK(r.keep_alive());

  CHECK(c.get("/stats?wait=abc").result_int() == 400);
  CHECK(c.get("/stats?wait=10001").result_int() == 400);
  CHECK(c.get("/stats?wait=1&wait=2").result_int() == 400);
  CHECK(c.get("/stats?wait=0").result_int() == 200);

  // A watcher waiting 10 s hears of the drain at once, and the server still stops.
  test::http_client watcher(s.port);
  watcher.send(http::verb::get, "/stats?wait=10000");
  test::wait_until([&] { return json::parse(s.srv->stats_json())["connections"] == 2; });
  t0 = std::chrono::steady_clock::now();
  s.srv->stop();
  r = watcher.read();
  CHECK(std::chrono::steady_clock::now() - t0 < 2s);
  CHECK(r.result_int() == 200);
  CHECK(body_of(r)["state"] == "draining");
  CHECK_FALSE(r.keep_alive());
}

TEST_CASE("stats: long polls of /stats are in no latency, not in /metrics and not in /stats") {
  running_server s(1, 8);
  test::http_client c(s.port);
  for (int i = 0; i < 3; ++i) CHECK(c.get("/stats?wait=300").result_int() == 200);
  const auto text = s.metrics();
  // The /metrics request itself is counted once its answer is written, after this text.
  CHECK(test::metric(text, "poolserver_request_seconds_count") == 0);
  CHECK(test::metric(text, "poolserver_request_seconds_sum") == 0);
  CHECK(test::metric(text, "poolserver_http_responses_total{code=\"200\"}") == 3);
  const auto stats = body_of(c.get("/stats"));
  CHECK(stats["latency"]["jobs"] == 0);
  CHECK(stats["latency"]["p50"].is_null());
  CHECK(stats["latency"]["p99"].is_null());
  CHECK(test::metric(s.metrics(), "poolserver_request_seconds_bucket{le=\"0.25\"}") == 2);
}

TEST_CASE("stats: jobs answered 200 and jobs refused 503 are timed apart") {
  running_server s(1, 1);  // one worker, a mailbox of one
  test::http_client running(s.port), queued(s.port), refused(s.port), probe(s.port);
  test::occupy_worker_and_mailbox(s, running, queued);
  for (int i = 0; i < 3; ++i) CHECK(refused.get("/block?n=7").result_int() == 503);
  CHECK(probe.get("/healthz").result_int() == 200);  // a request, not a job
  s.blocker->release();
  CHECK(running.read().result_int() == 200);
  CHECK(queued.read().result_int() == 200);
  CHECK(refused.get("/square_sum?n=x").result_int() == 400);  // refused by the router: no job
  CHECK(refused.get("/fail?n=1").result_int() == 500);

  const auto text = s.metrics();
  const auto count = [&](std::string_view outcome) {
    return test::metric(
        text, "poolserver_job_request_seconds_count{outcome=\"" + std::string(outcome) + "\"}");
  };
  CHECK(count("ok") == 2);
  CHECK(count("refused") == 3);
  CHECK(count("error") == 1);
  // The two accepted jobs waited for the blocker; the refusals did not wait for anything.
  CHECK(*test::metric(text, "poolserver_job_request_seconds_sum{outcome=\"ok\"}") >
        *test::metric(text, "poolserver_job_request_seconds_sum{outcome=\"refused\"}"));
  CHECK(test::metric(text, "poolserver_request_seconds_count") == 8);

  const auto latency = body_of(probe.get("/stats"))["latency"];
  CHECK(latency["jobs"] == 2);
  CHECK(latency["refused"] == 3);
  CHECK(latency["p99"].get<double>() >= latency["refused_p99"].get<double>());
}

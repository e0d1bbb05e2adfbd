// The server binary under load far above its capacity, and stopped in the middle of load.
// Every request sent is accounted for; nothing accepted is lost.

#include <utility>

#include <doctest/doctest.h>

#include <signal.h>

#include "child_process.hpp"
#include "http_client.hpp"
#include "load_client.hpp"
#include "prometheus_check.hpp"

namespace {

// A functional bound, not a benchmark: a 503 must not wait behind jobs. The 5 ms goal is
// measured (medians of several runs) by scripts/reliability.sh; on this noisy 2-core machine
// a single run's p99 ranges from 1 to 9 ms, so a CI assertion at 5 ms would be flaky.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr double fast_503_ms = 100;  // sanitizers slow every step several times over
#else
constexpr double fast_503_ms = 25;
#endif
constexpr long rss_bound_kib = 64 * 1024;

}  // namespace

TEST_CASE(
    "overload: far above capacity every request gets one answer, 503s come fast, memory stays "
    "bounded") {
  test::server_process srv({"THREADS=2", "QUEUE_CAPACITY=4"});
  test::load_options o;
  o.port = srv.port;
  o.connections = 32;  // against 2 workers with 4 slots each: 3x what fits
  o.requests_per_connection = 50;
  o.target = "/2000000";
  const auto r = test::run_load(o);

  CHECK(r.sent == o.connections * o.requests_per_connection);
  CHECK(r.answered == r.sent);
  CHECK(r.lost == 0);
  CHECK(r.refused == 0);
  int ok_or_busy = 0;
  for (const auto& [status, n] : r.by_status)
    ok_or_busy += (status == 200 || status == 503) ? n : 0;
  CHECK(ok_or_busy == r.answered);
  REQUIRE(r.by_status.count(503));
  CHECK(r.by_status.at(503) > r.sent / 4);  // truly overloaded
  const double p99 = test::load_result::percentile(r.latency_503_ms, 99);
  MESSAGE("503 p99 " << p99 << " ms over " << r.latency_503_ms.size() << " rejections");
  CHECK(p99 < fast_503_ms);
  CHECK(srv.proc.peak_rss_kib() > 0);
  CHECK(srv.proc.peak_rss_kib() < rss_bound_kib);

  // The server's own counters agree with what the clients saw.
  const auto metrics = test::http_client(srv.port).get("/metrics").body();
  CHECK(test::metric(metrics, "poolserver_jobs_completed_total") == r.by_status.at(200));
  CHECK(test::metric(metrics, "poolserver_rejections_total{reason=\"queue_full\"}") ==
        r.by_status.at(503));

  srv.proc.signal(SIGTERM);
  CHECK(srv.proc.wait_exit() == 0);
}

TEST_CASE("drain: SIGTERM in the middle of load answers every accepted request and exits 0") {
  test::server_process srv({"THREADS=2"});
  test::load_options o;
  o.port = srv.port;
  o.connections = 32;
  o.requests_per_connection = 40;
  o.target = "/500000";
  o.trigger_after = 200;
  o.trigger = [&] { srv.proc.signal(SIGTERM); };
  const auto r = test::run_load(o);

  MESSAGE("sent " << r.sent << ", answered " << r.answered << ", refused before reading "
                  << r.refused << ", lost " << r.lost);
  CHECK(r.answered >= 200);
  CHECK(r.lost == 0);  // no reset or broken answer after a request was sent
  CHECK(r.answered + r.refused == r.sent);
  int ok_or_draining = 0;
  for (const auto& [status, n] : r.by_status)
    ok_or_draining += (status == 200 || status == 503) ? n : 0;
  CHECK(ok_or_draining == r.answered);
  CHECK(srv.proc.wait_exit() == 0);
  CHECK(srv.proc.output().find("draining") != std::string::npos);
}

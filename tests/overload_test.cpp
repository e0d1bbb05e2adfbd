// The server binary under load far above its capacity, and stopped in the middle of load.
// Every request sent is accounted for; nothing accepted is lost.

#include <utility>

#include <doctest/doctest.h>

#include <signal.h>

#include "pool/admission.hpp"
#include "prometheus_check.hpp"
#include "scenarios.hpp"

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
  const auto out = test::run_overload();
  const auto& r = out.load;
  CHECK(r.sent == 32 * 50);
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
  CHECK(out.peak_rss_kib > 0);
  CHECK(out.peak_rss_kib < rss_bound_kib);
  // The server's own counters agree with what the clients saw.
  CHECK(test::metric(out.metrics, "poolserver_jobs_completed_total") == r.by_status.at(200));
  // Every 503 is a full mailbox or a refusal of admission's, each counted once.
  double refusals =
      test::metric(out.metrics, "poolserver_rejections_total{reason=\"queue_full\"}").value_or(-1);
  for (const auto reason : pool::shed_reason_names)
    for (const auto prio : pool::priority_names)
      refusals +=
          test::metric(out.metrics, "poolserver_shed_total{reason=\"" + std::string(reason) +
                                        "\",priority=\"" + std::string(prio) + "\"}")
              .value_or(-1);
  CHECK(refusals == r.by_status.at(503));
  CHECK(out.exit_status == 0);
}

TEST_CASE("drain: SIGTERM in the middle of load answers every accepted request and exits 0") {
  const auto out = test::run_drain_under_load();
  const auto& r = out.load;
  MESSAGE("sent " << r.sent << ", answered " << r.answered << ", refused before reading "
                  << r.refused << ", lost " << r.lost);
  CHECK(r.answered >= 200);
  CHECK(r.lost == 0);  // no reset or broken answer after a request was sent
  CHECK(r.answered + r.refused == r.sent);
  int ok_or_draining = 0;
  for (const auto& [status, n] : r.by_status)
    ok_or_draining += (status == 200 || status == 503) ? n : 0;
  CHECK(ok_or_draining == r.answered);
  CHECK(out.exit_status == 0);
  CHECK(out.output.find("draining") != std::string::npos);
}

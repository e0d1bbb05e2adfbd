// Admission control against the real binary (THREADS=2) under open-loop overload
// (bench/loadgen.hpp), each run a few seconds: every request is answered once, what is
// accepted waits a bounded time, refusals are fast and counted, high priority gets through
// a flood of low, and a light client gets through a heavy one's flood.
//
// The bounds derive from the job time and capacity measured first on the same server, so
// they hold on a slow or shared machine and in sanitizer builds; they are functional bounds
// (an unbounded queue misses them by orders of magnitude), not benchmarks.

#include <utility>

#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "bench/loadgen.hpp"
#include "child_process.hpp"
#include "http_client.hpp"
#include "pool/admission.hpp"
#include "prometheus_check.hpp"

namespace admission_load {

// About 3 ms of work in a release build.
constexpr const char* job = "/10000000";

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr double fast_503_ms = 100;  // sanitizers slow every step several times over
// Jobs ten times slower: the light client sends about 45 requests, each 2 % of its count.
constexpr int light_client_percent = 80;
#else
constexpr double fast_503_ms = 25;  // as tests/overload_test.cpp, for the same reasons
constexpr int light_client_percent = 90;
#endif

/// What one server does with one job at a time, measured in a closed loop.
struct capacity {
  double job_ms = 0;  ///< p50 latency of one connection: a job's run plus the round trip
  double per_s = 0;   ///< 200s per second with more connections than workers
};

std::uint64_t count_of(const loadgen::stream_result& s, unsigned status) {
  return s.by_status.count(status) ? s.by_status.at(status) : 0;
}

double p99(const loadgen::stream_result& s, unsigned status) {
  return s.latency_ms.count(status) ? loadgen::percentile(s.latency_ms.at(status), 99) : 0;
}

/// One outcome per offered request, and only 200 or 503 among the answers.
void check_every_request_answered(const loadgen::stream_result& s) {
  CAPTURE(s.name);
  CHECK(s.offered > 0);
  CHECK(s.answered == s.offered);
  CHECK(s.lost == 0);
  CHECK(s.timed_out == 0);
  CHECK(s.not_sent == 0);
  CHECK(count_of(s, 200) + count_of(s, 503) == s.answered);
}

capacity measure(unsigned short port) {
  loadgen::options o;
  o.port = port;
  o.streams.push_back({"measure", 0, {{1.0, job}}, {}});
  o.duration = std::chrono::milliseconds(400);
  o.closed = 1;
  const auto one = loadgen::run(o).streams.at(0);
  REQUIRE(count_of(one, 200) == one.offered);
  // One connection per worker (admission may refuse a few where two land on one worker).
  o.closed = 2;
  const auto two = loadgen::run(o).streams.at(0);
  capacity c;
  c.job_ms = loadgen::percentile(one.latency_ms.at(200), 50);
  c.per_s = static_cast<double>(count_of(two, 200)) / two.schedule_seconds;
  MESSAGE("job " << c.job_ms << " ms (p50, one connection), capacity " << c.per_s << "/s");
  REQUIRE(c.per_s > 20);
  return c;
}

loadgen::stream_spec stream(std::string name, double rate,
                            std::vector<std::pair<std::string, std::string>> headers = {}) {
  return {std::move(name), rate, {{1.0, job}}, std::move(headers)};
}

loadgen::result overload(unsigned short port, std::vector<loadgen::stream_spec> streams,
                         std::chrono::milliseconds duration) {
  loadgen::options o;
  o.port = port;
  o.streams = std::move(streams);
  o.how = loadgen::arrivals::poisson;
  o.duration = duration;
  o.timeout = std::chrono::milliseconds(20000);
  return loadgen::run(o);
}

void report(const loadgen::stream_result& s) {
  MESSAGE(s.name << ": offered " << s.offered << " at " << s.rate << "/s, 200 x" << count_of(s, 200)
                 << " (p50 "
                 << (s.latency_ms.count(200) ? loadgen::percentile(s.latency_ms.at(200), 50) : 0)
                 << ", p99 " << p99(s, 200) << " ms), 503 x" << count_of(s, 503) << " (p99 "
                 << p99(s, 503) << " ms), lost " << s.lost << ", timed out " << s.timed_out
                 << ", not sent " << s.not_sent << ", send lag " << s.max_send_lag_ms << " ms");
}

/// Every poolserver_shed_total series plus the full mailboxes: each refusal, counted once.
double refusals_counted(const std::string& metrics) {
  double n =
      test::metric(metrics, "poolserver_rejections_total{reason=\"queue_full\"}").value_or(-1);
  for (const auto reason : pool::shed_reason_names)
    for (const auto prio : pool::priority_names)
      n += test::metric(metrics, "poolserver_shed_total{reason=\"" + std::string(reason) +
                                     "\",priority=\"" + std::string(prio) + "\"}")
               .value_or(-1);
  return n;
}

/// The server's counters, read before and after a run.
struct counters {
  double refusals = 0, completed = 0, responses_503 = 0;
  std::string sheds;  ///< the non-zero poolserver_shed_total series, for the report
  explicit counters(unsigned short port) {
    const auto m = test::http_client(port).get("/metrics").body();
    refusals = refusals_counted(m);
    for (const auto reason : pool::shed_reason_names)
      for (const auto prio : pool::priority_names) {
        const auto n = test::metric(m, "poolserver_shed_total{reason=\"" + std::string(reason) +
                                           "\",priority=\"" + std::string(prio) + "\"}");
        if (n.value_or(0) > 0)
          sheds += std::string(reason) + "/" + std::string(prio) + " " + std::to_string(*n) + "; ";
      }
    completed = test::metric(m, "poolserver_jobs_completed_total").value_or(-1);
    responses_503 = test::metric(m, "poolserver_http_responses_total{code=\"503\"}").value_or(0);
  }
};

}  // namespace admission_load

TEST_CASE("admission load: far over capacity, every request answered, the accepted wait bounded") {
  test::server_process srv({"THREADS=2"});
  const auto cap = admission_load::measure(srv.port);
  const admission_load::counters before(srv.port);
  const auto r = admission_load::overload(
      srv.port, {admission_load::stream("flood", 4 * cap.per_s)}, std::chrono::milliseconds(2500));
  const auto& s = r.streams.at(0);
  admission_load::report(s);
  admission_load::check_every_request_answered(s);
  const auto ok = admission_load::count_of(s, 200), busy = admission_load::count_of(s, 503);
  CHECK(busy > s.offered / 2);  // truly overloaded: 3 in 4 refused, about
  CHECK(ok > 0);

  // The wait of what was accepted is a few jobs long, not the mailbox's 1024 jobs (seconds).
  const double bound_200 = 20 * cap.job_ms + 100;
  CHECK(admission_load::p99(s, 200) < bound_200);
  // A refusal waits behind no job.
  CHECK(admission_load::p99(s, 503) < admission_load::fast_503_ms);

  // The server counted the same: each 503 once, as a refusal; each 200 once, as a job done.
  const admission_load::counters after(srv.port);
  MESSAGE("shed: " << after.sheds);
  CHECK(after.refusals - before.refusals == static_cast<double>(busy));
  CHECK(after.completed - before.completed == static_cast<double>(ok));
  CHECK(after.responses_503 - before.responses_503 == static_cast<double>(busy));
}

TEST_CASE("admission load: high priority gets through a flood of low priority") {
  test::server_process srv({"THREADS=2"});
  const auto cap = admission_load::measure(srv.port);
  const admission_load::counters before(srv.port);
  const auto r = admission_load::overload(
      srv.port,
      {admission_load::stream("low", 3 * cap.per_s, {{"X-Priority", "low"}}),
       admission_load::stream("high", 0.2 * cap.per_s, {{"X-Priority", "high"}})},
      std::chrono::milliseconds(2500));
  const auto& low = r.streams.at(0);
  const auto& high = r.streams.at(1);
  admission_load::report(low);
  admission_load::report(high);
  admission_load::check_every_request_answered(low);
  admission_load::check_every_request_answered(high);

  CHECK(admission_load::count_of(low, 503) > low.offered / 2);  // low was refused a lot
  // High: none refused, bar a stray one in a hundred on a noisy machine.
  CHECK(admission_load::count_of(high, 503) * 100 <= high.offered);
  // And its wait is bounded as in the overload test (a few jobs, on a noisy machine).
  CHECK(admission_load::p99(high, 200) < 20 * cap.job_ms + 100);

  const admission_load::counters after(srv.port);
  MESSAGE("shed: " << after.sheds);
  CHECK(after.refusals - before.refusals ==
        static_cast<double>(admission_load::count_of(low, 503) +
                            admission_load::count_of(high, 503)));
}

TEST_CASE("admission load: a light client gets through a heavy client's flood") {
  test::server_process srv({"THREADS=2"});
  const auto cap = admission_load::measure(srv.port);
  const admission_load::counters before(srv.port);
  const auto r = admission_load::overload(
      srv.port,
      {admission_load::stream("a", 5 * cap.per_s, {{"X-Client-Id", "a"}}),
       admission_load::stream("b", 0.3 * cap.per_s, {{"X-Client-Id", "b"}})},
      std::chrono::milliseconds(2500));
  const auto& a = r.streams.at(0);
  const auto& b = r.streams.at(1);
  admission_load::report(a);
  admission_load::report(b);
  admission_load::check_every_request_answered(a);
  admission_load::check_every_request_answered(b);

  // The goal is 95 % for b; 90 % here leaves room for a noisy machine.
  CHECK(admission_load::count_of(b, 200) * 100 >= b.offered * admission_load::light_client_percent);
  CHECK(admission_load::count_of(a, 503) * 2 > a.offered);  // a is mostly refused

  const admission_load::counters after(srv.port);
  MESSAGE("shed: " << after.sheds);
  CHECK(after.refusals - before.refusals ==
        static_cast<double>(admission_load::count_of(a, 503) + admission_load::count_of(b, 503)));
}

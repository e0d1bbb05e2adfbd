#include "pool/metrics.hpp"
#include "observability/pool_metrics.hpp"
#include "observability/prometheus_writer.hpp"

#include <doctest/doctest.h>

#include "pool/worker_pool.hpp"
#include "prometheus_check.hpp"

using namespace std::chrono_literals;

TEST_CASE("histogram: observations land in the right bucket - sum in nanoseconds") {
  pool::histogram h;
  h.observe(300us);  // <= 0.0005
  h.observe(2ms);    // <= 0.0025
  h.observe(100s);   // +Inf
  h.observe(50us);   // <= 0.00005 exactly on the bound
  const auto s = h.read();
  CHECK(s.count() == 4);
  CHECK(s.buckets[0] == 1);
  CHECK(s.buckets[3] == 1);
  CHECK(s.buckets[5] == 1);
  CHECK(s.buckets[pool::histogram::bucket_count - 1] == 1);
  CHECK(s.sum_ns == 100'002'350'000ull);
}

TEST_CASE("prometheus writer: families, labels with escapes, cumulative histograms") {
  std::string out;
  observability::prometheus_writer w(out);
  w.family("x_total", "counter", "A help line with a \\ and\na newline.");
  w.sample("x_total", {{"a", "q\"uote"}, {"b", "back\\slash\nnl"}}, std::uint64_t{7});
  w.sample("x_total", {}, 1.5);
  pool::histogram h;
  h.observe(1ms);
  h.observe(1ms);
  h.observe(20s);
  w.family("lat_seconds", "histogram", "Latency.");
  w.histogram("lat_seconds", {{"w", "0"}}, h.read());

  CHECK(out.find(
            "# HELP x_total A help line with a \\\\ and\\na newline.\n# TYPE x_total counter\n") ==
        0);
  CHECK(out.find("x_total{a=\"q\\\"uote\",b=\"back\\\\slash\\nnl\"} 7\n") != std::string::npos);
  CHECK(out.find("\nx_total 1.5\n") != std::string::npos);
  CHECK(out.find("lat_seconds_bucket{w=\"0\",le=\"0.0005\"} 0\n") != std::string::npos);
  CHECK(out.find("lat_seconds_bucket{w=\"0\",le=\"0.001\"} 2\n") != std::string::npos);
  CHECK(out.find("lat_seconds_bucket{w=\"0\",le=\"10\"} 2\n") != std::string::npos);
  CHECK(out.find("lat_seconds_bucket{w=\"0\",le=\"30\"} 3\n") != std::string::npos);
  CHECK(out.find("lat_seconds_bucket{w=\"0\",le=\"+Inf\"} 3\n") != std::string::npos);
  CHECK(out.find("lat_seconds_sum{w=\"0\"} 20.002\n") != std::string::npos);
  CHECK(out.find("lat_seconds_count{w=\"0\"} 3\n") != std::string::npos);
  CHECK(test::format_problems(out) == "");
}

TEST_CASE("pool metrics: every family is well formed, per worker and pool-wide") {
  pool::worker_pool p({3, 8, pool::strategy_kind::leastbusy});
  std::string out;
  observability::prometheus_writer w(out);
  observability::write_pool_metrics(w, observability::view_of(p, pool::clock::now()));
  CHECK(test::format_problems(out) == "");
  for (const char* name : {"jobs_produced_total", "jobs_consumed_total", "producer_waits_total",
                           "consumer_waits_total", "jobs_completed_total", "jobs_failed_total",
                           "queue_depth", "in_flight", "throughput_jobs_per_second"}) {
    CAPTURE(name);
    CHECK(test::metric(out, std::string("poolserver_") + name).has_value());
    for (int k = 0; k < 3; ++k)
      CHECK(test::metric(out, "poolserver_worker_" + std::string(name) + "{worker=\"" +
                                  std::to_string(k) + "\"}")
                .has_value());
  }
  CHECK(test::metric(out, "poolserver_queue_capacity") == 24);
  CHECK(test::metric(out, "poolserver_worker_queue_capacity{worker=\"2\"}") == 8);
  CHECK(test::metric(out, "poolserver_rejections_total{reason=\"queue_full\"}") == 0);
  CHECK(test::metric(out, "poolserver_queue_wait_seconds_count") == 0);
  CHECK(test::metric(out, "poolserver_run_seconds_count") == 0);
}

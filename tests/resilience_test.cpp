// Deadlines, cancellation, backpressure policies, connection limits and drain, against the
// real server on loopback. Every wait is bounded; nothing here asserts a speed.

#include <utility>

#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <thread>

#include "test_server.hpp"
#include "workers/square_sum.hpp"

using namespace std::chrono_literals;
namespace http = boost::beast::http;
using test::body_of;
using test::running_server;

namespace {

std::string cancelled(const char* reason, const char* stage) {
  return std::string("poolserver_jobs_cancelled_total{reason=\"") + reason + "\",stage=\"" + stage +
         "\"}";
}

}  // namespace

TEST_CASE("square_sum stops between chunks when its token says so") {
  const std::uint64_t n = 100 * workers::check_interval;
  CHECK(workers::square_sum(n, pool::cancel_token{}) == workers::square_sum(n));

  pool::cancel_token expired(pool::clock::now() - 1s);
  CHECK_THROWS_AS(workers::square_sum(n, expired), pool::job_cancelled);

  pool::cancel_token token;
  token.cancel(pool::stop_reason::client_gone);
  token.cancel(pool::stop_reason::deadline);  // the first reason wins
  try {
    workers::square_sum(n, token);
    FAIL("not cancelled");
  } catch (const pool::job_cancelled& c) {
    CHECK(c.reason == pool::stop_reason::client_gone);
  }
  // Short sums never reach a check point, so they finish even when cancelled.
  CHECK(workers::square_sum(1000, token) == workers::square_sum(1000));
}

TEST_CASE("deadline: a running job past REQUEST_TIMEOUT_MS is answered 504 and its worker freed") {
  auto cfg = test::test_settings();
  cfg.threads = 1;
  cfg.request_timeout = 150ms;
  running_server s(cfg);
  test::http_client c(s.port);
  const auto r = c.get("/spin?n=1");  // runs until cancelled
  CHECK(r.result_int() == 504);
  CHECK(body_of(r)["error"].get<std::string>().find("deadline") != std::string::npos);
  CHECK(r.keep_alive());
  // The one worker stops the job between chunks and is free for the next request.
  CHECK(c.get("/1000").result_int() == 200);
  CHECK(s.metric(cancelled("deadline", "running")) == 1);
  CHECK(s.metric("poolserver_http_responses_total{code=\"504\"}") == 1);
}

TEST_CASE("deadline: a job still queued at its deadline is answered 504 and never runs") {
  auto cfg = test::test_settings();
  cfg.threads = 1;
  cfg.request_timeout = 150ms;
  running_server s(cfg);
  test::http_client busy(s.port), waiting(s.port);
  busy.send(http::verb::get, "/block?n=1");
  test::wait_until([&] { return s.srv->workers().stats(0).consumed == 1; });
  const auto r = waiting.get("/1000");  // queued behind the blocked job
  CHECK(r.result_int() == 504);
  CHECK(busy.read().result_int() == 504);  // the blocked one's deadline passed too
  s.blocker->release();
  test::wait_until([&] { return s.srv->workers().in_flight() == 0; });
  CHECK(s.metric(cancelled("deadline", "queued")) == 1);
  CHECK(s.metric("poolserver_jobs_completed_total") == 1);  // only the blocked job ran
}

TEST_CASE("vanishing client: its running job is cancelled and the worker is free") {
  running_server s(1, 8);
  {
    test::http_client gone(s.port);
    gone.send(http::verb::get, "/spin?n=1");
    test::wait_until([&] { return s.srv->workers().stats(0).consumed == 1; });
  }  // closed while its job runs
  test::wait_until([&] { return s.srv->workers().in_flight() == 0; });
  CHECK(s.metric(cancelled("client_gone", "running")) == 1);
  test::http_client next(s.port);
  CHECK(next.get("/1000").result_int() == 200);
}

TEST_CASE("vanishing client: its queued job is dropped without running") {
  running_server s(1, 8);
  test::http_client busy(s.port);
  busy.send(http::verb::get, "/block?n=1");
  test::wait_until([&] { return s.srv->workers().stats(0).consumed == 1; });
  {
    test::http_client gone(s.port);
    gone.send(http::verb::get, "/spin?n=2");
    test::wait_until([&] { return s.srv->workers().stats(0).produced == 2; });
  }
  std::this_thread::sleep_for(50ms);  // let the server see the EOF before the worker is free
  s.blocker->release();
  CHECK(busy.read().result_int() == 200);
  test::wait_until([&] { return s.srv->workers().in_flight() == 0; });
  CHECK(s.metric(cancelled("client_gone", "queued")) == 1);
}

TEST_CASE("backpressure wait: a request waits for room instead of failing") {
  auto cfg = test::test_settings();
  cfg.threads = 1;
  cfg.queue_capacity = 1;
  cfg.backpressure = config::backpressure_policy::wait;
  cfg.queue_timeout = 10s;
  cfg.admission = pool::admission_mode::fixed;  // room in the mailbox is all that counts
  running_server s(cfg);
  test::http_client running(s.port), queued(s.port), waiting(s.port);
  test::occupy_worker_and_mailbox(s, running, queued);
  waiting.send(http::verb::get, "/1000");
  test::wait_until([&] { return s.srv->workers().stats(0).producer_waits >= 2; });  // retrying
  s.blocker->release();
  CHECK(running.read().result_int() == 200);
  CHECK(queued.read().result_int() == 200);
  const auto r = waiting.read();
  CHECK(r.result_int() == 200);
  CHECK(body_of(r)["value"] == 1000);
  CHECK(s.metric("poolserver_rejections_total{reason=\"queue_full\"}") >= 2);
}

TEST_CASE("backpressure wait: past QUEUE_TIMEOUT_MS the answer is 503") {
  auto cfg = test::test_settings();
  cfg.threads = 1;
  cfg.queue_capacity = 1;
  cfg.backpressure = config::backpressure_policy::wait;
  cfg.queue_timeout = 100ms;
  running_server s(cfg);
  test::http_client running(s.port), queued(s.port), waiting(s.port);
  test::occupy_worker_and_mailbox(s, running, queued);
  const auto r = waiting.get("/1000");
  CHECK(r.result_int() == 503);
  CHECK(r[http::field::retry_after] == "1");
  s.blocker->release();
  CHECK(running.read().result_int() == 200);
  CHECK(queued.read().result_int() == 200);
}

TEST_CASE("redispatch: a full mailbox hands the job to the least busy other worker") {
  running_server s(2, 1, pool::strategy_kind::roundrobin);
  test::http_client blocked(s.port), queued(s.port), c(s.port);
  blocked.send(http::verb::get, "/block?n=1");  // roundrobin: worker 0
  test::wait_until([&] { return s.srv->workers().stats(0).consumed == 1; });
  CHECK(c.get("/10").result_int() == 200);     // worker 1
  queued.send(http::verb::get, "/block?n=2");  // worker 0's mailbox, now full
  test::wait_until([&] { return s.srv->workers().stats(0).produced == 2; });
  CHECK(c.get("/11").result_int() == 200);  // worker 1
  const auto r = c.get("/12");              // roundrobin picks worker 0: full, so worker 1 takes it
  CHECK(r.result_int() == 200);
  CHECK(body_of(r)["worker"] == 1);
  CHECK(s.metric("poolserver_redispatches_total") == 1);
  CHECK(s.metric("poolserver_worker_producer_waits_total{worker=\"0\"}") == 1);
  CHECK(s.metric("poolserver_rejections_total{reason=\"queue_full\"}") == 0);
}

TEST_CASE("MAX_CONNECTIONS: one connection too many is answered 503 and closed, others go on") {
  auto cfg = test::test_settings();
  cfg.max_connections = 2;
  running_server s(cfg);
  test::http_client a(s.port), b(s.port);
  CHECK(a.get("/1").result_int() == 200);
  CHECK(b.get("/2").result_int() == 200);
  {
    test::http_client extra(s.port);
    const auto r = extra.read();  // answered without being asked
    CHECK(r.result_int() == 503);
    CHECK(body_of(r)["error"].get<std::string>().find("too many connections") != std::string::npos);
    CHECK(extra.closed_by_server());
  }
  CHECK(a.get("/3").result_int() == 200);
  b.socket().close();
  test::wait_until([&] {
    return s.srv->metrics_text().find("poolserver_http_connections 1\n") != std::string::npos;
  });
  test::http_client later(s.port);
  CHECK(later.get("/4").result_int() == 200);
  CHECK(*test::metric(s.srv->metrics_text(), "poolserver_http_connections_rejected_total") == 1);
}

TEST_CASE("slowloris: a request trickling in is dropped at HEADER_TIMEOUT_MS, others are served") {
  auto cfg = test::test_settings();
  cfg.header_timeout = 300ms;
  running_server s(cfg);
  test::http_client slow(s.port), normal(s.port);
  const std::string request = "GET /1000 HTTP/1.1\r\nHost: x\r\nX-Padding: ";
  bool dropped = false;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  for (std::size_t i = 0; !dropped && std::chrono::steady_clock::now() < deadline; ++i) {
    boost::system::error_code ec;
    const char byte = i < request.size() ? request[i] : 'a';
    boost::asio::write(slow.socket(), boost::asio::buffer(&byte, 1), ec);
    dropped = static_cast<bool>(ec);
    CHECK(normal.get("/100").result_int() == 200);  // served at full speed meanwhile
    std::this_thread::sleep_for(20ms);
    if (!dropped) {
      // A closed connection shows as readable EOF (or a reset on a later write).
      slow.socket().non_blocking(true);
      char c;
      slow.socket().read_some(boost::asio::buffer(&c, 1), ec);
      slow.socket().non_blocking(false);
      dropped = ec && ec != boost::asio::error::would_block;
    }
  }
  CHECK(dropped);
}

TEST_CASE("idle keep-alive connections close at IDLE_TIMEOUT_MS") {
  auto cfg = test::test_settings();
  cfg.idle_timeout = 200ms;
  running_server s(cfg);
  test::http_client c(s.port);
  CHECK(c.get("/1").result_int() == 200);
  CHECK(c.closed_by_server());  // blocks until the server closes (bounded by SO_RCVTIMEO)
}

TEST_CASE("/readyz: ready while serving, 503 once draining") {
  running_server s(1, 8);
  test::http_client c(s.port);
  auto r = c.get("/readyz");
  CHECK(r.result_int() == 200);
  CHECK(body_of(r)["status"] == "ready");
  // A request whose headers are still arriving when the drain starts is finished and
  // answered, with the draining state.
  c.send_raw("GET /readyz HTTP/1.1\r\nHost: x\r\n");
  std::this_thread::sleep_for(200ms);
  s.srv->stop();
  test::wait_until([&] { return s.srv->draining(); });
  c.send_raw("\r\n");
  r = c.read();
  CHECK(r.result_int() == 503);
  CHECK(body_of(r)["status"] == "draining");
  CHECK_FALSE(r.keep_alive());
}

TEST_CASE("drain: jobs still running at DRAIN_TIMEOUT_MS are cancelled and answered 503") {
  auto cfg = test::test_settings();
  cfg.threads = 1;
  cfg.drain_timeout = 200ms;
  running_server s(cfg);
  test::http_client c(s.port);
  c.send(http::verb::get, "/spin?n=1");
  test::wait_until([&] { return s.srv->workers().stats(0).consumed == 1; });
  s.srv->stop();
  const auto r = c.read();
  CHECK(r.result_int() == 503);
  CHECK(body_of(r)["error"].get<std::string>().find("shutting down") != std::string::npos);
  CHECK_FALSE(r.keep_alive());
  test::wait_until([&] { return s.srv->workers().in_flight() == 0; });
  CHECK(s.srv->workers().stats(0).cancelled_by[static_cast<int>(pool::stop_reason::shutdown)][1] ==
        1);
}

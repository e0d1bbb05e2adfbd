#pragma once
// The real server, in this process, on 127.0.0.1 and an ephemeral port, with the shipped job
// kinds plus kinds that let tests control timing:
//   fail  — throws;
//   block — waits on a gate the test opens (ignores cancellation);
//   spin  — runs until its cancel token says stop (deadline, client gone, shutdown).

#include <utility>

#include <doctest/doctest.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "http_client.hpp"
#include "prometheus_check.hpp"
#include "server/server.hpp"
#include "sync_support.hpp"

namespace test {

/// Test defaults: loopback, any port, two workers.
inline config::settings test_settings() {
  config::settings s;
  s.host = "127.0.0.1";
  s.port = 0;
  s.threads = 2;
  s.queue_capacity = 64;
  return s;
}

struct running_server {
  std::shared_ptr<gate> blocker = std::make_shared<gate>();
  std::unique_ptr<server::server> srv;
  std::thread thread;
  unsigned short port = 0;

  explicit running_server(const config::settings& s = test_settings()) {
    auto registry = workers::default_registry();
    registry.add("fail", [](std::uint64_t, const pool::cancel_token&) -> double {
      throw std::runtime_error("deliberate failure");
    });
    registry.add("block", [b = blocker](std::uint64_t n, const pool::cancel_token&) {
      b->wait();
      return static_cast<double>(n);
    });
    registry.add("spin", [](std::uint64_t n, const pool::cancel_token& token) -> double {
      for (;;) {
        if (const auto why = token.check(); why != pool::stop_reason::none)
          throw pool::job_cancelled{why};
        std::this_thread::yield();
      }
      return static_cast<double>(n);
    });
    srv = std::make_unique<server::server>(s, std::move(registry));
    port = srv->local_endpoint().port();
    thread = std::thread([this] { srv->run(); });
  }
  /// A server whose mailboxes hold `capacity` jobs and refuse only when full
  /// (ADMISSION=static): for tests of the mailboxes themselves.
  running_server(std::size_t threads, std::size_t capacity,
                 pool::strategy_kind strategy = pool::strategy_kind::roundrobin)
      : running_server([&] {
          auto s = test_settings();
          s.threads = threads;
          s.queue_capacity = capacity;
          s.strategy = strategy;
          s.admission = pool::admission_mode::fixed;
          return s;
        }()) {}
  ~running_server() {
    blocker->release();  // never leave a worker stuck, even when a check failed
    srv->stop();
    if (thread.joinable()) thread.join();  // a test may have joined it to time the drain
  }

  std::string metrics() { return http_client(port).get("/metrics").body(); }
  double metric(std::string_view series) {
    const auto v = test::metric(metrics(), series);
    REQUIRE(v.has_value());
    return *v;
  }
};

/// Holds worker 0 of `s` busy with a blocked job (sent on `running`) and fills its mailbox
/// (capacity 1) with another (sent on `queued`), so the next job there finds no room.
inline void occupy_worker_and_mailbox(running_server& s, http_client& running,
                                      http_client& queued) {
  running.send(boost::beast::http::verb::get, "/block?n=1");
  wait_until([&] { return s.srv->workers().stats(0).consumed == 1; });
  queued.send(boost::beast::http::verb::get, "/block?n=2");
  wait_until([&] { return s.srv->workers().stats(0).produced == 2; });
}

/// The JSON body of a response, checking its content type.
inline nlohmann::json body_of(const response& r) {
  CHECK(r[boost::beast::http::field::content_type] == "application/json");
  return nlohmann::json::parse(r.body());
}

}  // namespace test

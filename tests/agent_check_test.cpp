// HAProxy's agent-check (AGENT_PORT) on the real server on loopback: the line it answers,
// its weight falling while it refuses work, "drain" once it stops (and serving on meanwhile,
// for AGENT_DRAIN_MS), and a port that answers whatever connects and keeps nothing.
// scripts/cluster.sh checks the same line through a real HAProxy; agent_weight_test.cpp
// the weight's controller alone.

#include <utility>

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/agent_check.hpp"
#include "test_server.hpp"

using namespace std::chrono_literals;

namespace agent_check_test {

namespace http = boost::beast::http;

TEST_CASE("agent line: HAProxy's words") {
  CHECK(server::agent_check::line(false, 100) == "ready up 100%");
  CHECK(server::agent_check::line(false, 7) == "ready up 7%");
  CHECK(server::agent_check::line(true, 55) == "drain");
}

// --- the real server ---------------------------------------------------------------------------

/// A socket connected to 127.0.0.1:port, or -1.
int connect_to(unsigned short port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) return fd;
  ::close(fd);
  return -1;
}

/// Whether anything listens on 127.0.0.1:port.
bool accepts(unsigned short port) {
  const int fd = connect_to(port);
  if (fd >= 0) ::close(fd);
  return fd >= 0;
}

/// Connects to 127.0.0.1:port, sends `send` (if any), and reads until the server closes:
/// what the agent said. Fails the test after 5 s without an end.
std::string ask_agent(unsigned short port, const std::string& send = {}) {
  const int fd = connect_to(port);
  REQUIRE(fd >= 0);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (!send.empty()) CHECK(::write(fd, send.data(), send.size()) > 0);
  std::string got;
  char buf[256];
  for (;;) {
    const auto n = ::read(fd, buf, sizeof buf);
    if (n <= 0) {
      CHECK(n == 0);  // an orderly close, not a timeout or a reset
      break;
    }
    got.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return got;
}

/// The weight in a "ready up N%" line, or -1 for any other line.
int weight_in(const std::string& line) {
  std::smatch m;
  static const std::regex form("ready up ([0-9]+)%\n");
  return std::regex_match(line, m, form) ? std::stoi(m[1]) : -1;
}

config::settings with_agent(config::settings s = test::test_settings()) {
  s.agent_port = 0;     // any free port: the server says which
  s.agent_drain = 0ms;  // a stop drains at once, unless a test says otherwise
  return s;
}

unsigned short agent_port(test::running_server& s) {
  REQUIRE(s.srv->agent_endpoint().has_value());
  return s.srv->agent_endpoint()->port();
}

TEST_CASE("agent-check: off unless AGENT_PORT is set") {
  test::running_server s;
  CHECK_FALSE(s.srv->agent_endpoint().has_value());
  CHECK(s.metrics().find("poolserver_agent_weight") == std::string::npos);
  CHECK(nlohmann::json::parse(s.srv->stats_json())["agent_weight"].is_null());
}

TEST_CASE("agent-check: an idle server answers ready up 100% and closes") {
  test::running_server s(with_agent());
  const auto port = agent_port(s);
  CHECK(port != 0);
  CHECK(port != s.port);
  CHECK(ask_agent(port) == "ready up 100%\n");
  CHECK(s.metric("poolserver_agent_weight") == 100);
  CHECK(nlohmann::json::parse(s.srv->stats_json())["agent_weight"] == 100);
}

TEST_CASE("agent-check: the weight falls while the server refuses work") {
  // One worker, a mailbox of one, no admission: held busy, it refuses every other job.
  auto cfg = with_agent();
  cfg.threads = 1;
  cfg.queue_capacity = 1;
  cfg.admission = pool::admission_mode::fixed;
  test::running_server s(cfg);
  const auto port = agent_port(s);
  test::http_client running(s.port), queued(s.port);
  test::occupy_worker_and_mailbox(s, running, queued);

  // Refused work until the sampler (twice a second) has seen it and the agent says so.
  int weight = 100;
  test::wait_until([&] {
    CHECK(test::http_client(s.port).get("/1").result_int() == 503);
    weight = weight_in(ask_agent(port));
    std::this_thread::sleep_for(10ms);
    return weight < 100;
  });
  CHECK(weight >= 1);  // never 0: HAProxy would take it out of rotation
  CHECK(s.metric("poolserver_agent_weight") < 100);

  s.blocker->release();
  CHECK(running.read().result_int() == 200);
  CHECK(queued.read().result_int() == 200);
}

TEST_CASE("agent-check: a stopping server answers drain, serving on for AGENT_DRAIN_MS") {
  auto cfg = with_agent();
  cfg.threads = 1;
  cfg.agent_drain = 2s;
  test::running_server s(cfg);
  const auto port = agent_port(s);
  test::http_client running(s.port);
  running.send(http::verb::get, "/block?n=1");  // keeps the drain from finishing
  test::wait_until([&] { return s.srv->workers().stats(0).consumed == 1; });

  s.srv->stop();
  test::wait_until([&] { return s.srv->leaving(); });
  CHECK(ask_agent(port) == "drain\n");
  // The listener is still open for AGENT_DRAIN_MS: what HAProxy sent meanwhile is served.
  const bool still_serving = !s.srv->draining();
  CHECK(still_serving);  // 2 s after stop(): only a badly stalled machine misses this
  if (still_serving) CHECK(test::http_client(s.port).get("/healthz").result_int() == 200);

  test::wait_until([&] { return s.srv->draining(); });
  CHECK(ask_agent(port) == "drain\n");  // until the drain is over
  s.blocker->release();
  CHECK(running.read().result_int() == 200);
  running.socket().close();  // the last connection: the drain is over
  s.thread.join();
  CHECK_FALSE(accepts(port));  // closed with the drain: HAProxy's checks see the server go
}

TEST_CASE("agent-check: whatever connects gets the line, and nothing is kept") {
  test::running_server s(with_agent());
  const auto port = agent_port(s);
  // What a client sends is never waited for: it gets its line as anyone else.
  CHECK(ask_agent(port, "backend/server\n") == "ready up 100%\n");
  CHECK(ask_agent(port, std::string(100, 'x')) == "ready up 100%\n");
  // Many at once, none read before all are open: each was answered and closed already.
  std::vector<int> fds;
  for (int i = 0; i < 100; ++i) {
    fds.push_back(connect_to(port));
    REQUIRE(fds.back() >= 0);
  }
  for (const int fd : fds) {
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string got;
    char buf[64];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;)
      got.append(buf, static_cast<std::size_t>(n));
    CHECK(got == "ready up 100%\n");
    ::close(fd);
  }
  // The HTTP side never noticed.
  CHECK(test::http_client(s.port).get("/1").result_int() == 200);
}

}  // namespace agent_check_test

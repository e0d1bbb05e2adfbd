#include "config/config.hpp"

#include <doctest/doctest.h>

#include <map>
#include <string>

namespace {

config::settings load(std::map<std::string, std::string, std::less<>> env, unsigned cores = 8) {
  return config::load(
      [&](std::string_view name) -> std::optional<std::string> {
        const auto it = env.find(name);
        if (it == env.end()) return std::nullopt;
        return it->second;
      },
      cores);
}

std::string error_of(std::map<std::string, std::string, std::less<>> env) {
  try {
    load(std::move(env));
  } catch (const config::config_error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("config: defaults") {
  const auto s = load({}, 6);
  CHECK(s.port == 1337);
  CHECK(s.host == "0.0.0.0");
  CHECK(s.threads == 6);
  CHECK(s.strategy == pool::strategy_kind::roundrobin);
  CHECK(s.io_threads == 1);
  CHECK(s.queue_capacity == 1024);
  CHECK(s.max_n == 1'000'000'000);
  CHECK(s.log_level == spdlog::level::info);
}

TEST_CASE("config: THREADS unset, 0, empty, positive and negative") {
  CHECK(load({}, 8).threads == 8);
  CHECK(load({{"THREADS", "0"}}, 8).threads == 8);
  CHECK(load({{"THREADS", ""}}, 8).threads == 8);
  CHECK(load({{"THREADS", "3"}}, 8).threads == 3);
  CHECK(load({{"THREADS", "64"}}, 2).threads == 64);
  CHECK(load({{"THREADS", "-2"}}, 8).threads == 6);
  CHECK(load({{"THREADS", "-1"}}, 1).threads == 1);  // at least one
  CHECK(load({{"THREADS", "-20"}}, 8).threads == 1);
}

TEST_CASE("config: every strategy name") {
  for (const auto& [kind, name] : pool::strategy_names)
    CHECK(load({{"STRATEGY", std::string(name)}}).strategy == kind);
}

TEST_CASE("config: the other settings") {
  const auto s = load({{"PORT", "0"},
                       {"HOST", "::1"},
                       {"IO_THREADS", "4"},
                       {"QUEUE_CAPACITY", "1"},
                       {"MAX_N", "5000"},
                       {"LOG_LEVEL", "warn"}});
  CHECK(s.port == 0);
  CHECK(s.host == "::1");
  CHECK(s.io_threads == 4);
  CHECK(s.queue_capacity == 1);
  CHECK(s.max_n == 5000);
  CHECK(s.log_level == spdlog::level::warn);
  CHECK(load({{"HOST", "127.0.0.1"}, {"QUEUE_CAPACITY", "1048576"}}).queue_capacity == 1048576);
}

TEST_CASE("config: each invalid value names the variable, the value and what is allowed") {
  struct bad {
    const char* name;
    const char* value;
    const char* allowed;  // a piece of the allowed-values text
  };
  const bad cases[] = {
      {"THREADS", "abc", "integer"},
      {"THREADS", "1.5", "integer"},
      {"THREADS", "99999", "1024"},
      {"THREADS", "+3", "integer"},
      {"THREADS", " 3", "integer"},
      {"STRATEGY", "fastest", "roundrobin, random, leastbusy, p2c"},
      {"STRATEGY", "RoundRobin", "leastbusy"},
      {"PORT", "70000", "65535"},
      {"PORT", "-1", "65535"},
      {"PORT", "http", "65535"},
      {"HOST", "example.com", "IPv4 or IPv6"},
      {"HOST", "300.1.1.1", "IPv4 or IPv6"},
      {"IO_THREADS", "0", "from 1 to 256"},
      {"IO_THREADS", "1000", "from 1 to 256"},
      {"QUEUE_CAPACITY", "1000", "power of two"},
      {"QUEUE_CAPACITY", "0", "power of two"},
      {"QUEUE_CAPACITY", "2097152", "power of two"},
      {"MAX_N", "-1", "from 0 to"},
      {"MAX_N", "1e9", "from 0 to"},
      {"LOG_LEVEL", "verbose", "trace, debug, info"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    CAPTURE(c.value);
    const auto msg = error_of({{c.name, c.value}});
    CHECK(msg.rfind(std::string(c.name) + ":", 0) == 0);
    CHECK(msg.find(std::string("'") + c.value + "'") != std::string::npos);
    CHECK(msg.find(c.allowed) != std::string::npos);
    CHECK(msg.find('\n') == std::string::npos);  // one line
  }
}

TEST_CASE("config: timeouts, backpressure and connection limits") {
  const auto d = load({});
  CHECK(d.request_timeout == std::chrono::milliseconds(30'000));
  CHECK(d.backpressure == config::backpressure_policy::reject);
  CHECK(d.queue_timeout == std::chrono::milliseconds(1'000));
  CHECK(d.max_connections == 10'000);
  CHECK(d.idle_timeout == std::chrono::milliseconds(30'000));
  CHECK(d.header_timeout == std::chrono::milliseconds(10'000));
  CHECK(d.drain_timeout == std::chrono::milliseconds(10'000));
  CHECK(d.worker_nice == 10);
  CHECK(load({{"WORKER_NICE", "0"}}).worker_nice == 0);
  const auto s = load({{"REQUEST_TIMEOUT_MS", "250"},
                       {"BACKPRESSURE", "wait"},
                       {"QUEUE_TIMEOUT_MS", "0"},
                       {"MAX_CONNECTIONS", "3"},
                       {"IDLE_TIMEOUT_MS", "100"},
                       {"HEADER_TIMEOUT_MS", "200"},
                       {"DRAIN_TIMEOUT_MS", "0"}});
  CHECK(s.request_timeout == std::chrono::milliseconds(250));
  CHECK(s.backpressure == config::backpressure_policy::wait);
  CHECK(s.queue_timeout == std::chrono::milliseconds(0));
  CHECK(s.max_connections == 3);
  CHECK(s.idle_timeout == std::chrono::milliseconds(100));
  CHECK(s.header_timeout == std::chrono::milliseconds(200));
  CHECK(s.drain_timeout == std::chrono::milliseconds(0));
}

TEST_CASE("config: describe() lists every effective setting") {
  const auto line =
      config::describe(load({{"THREADS", "3"}, {"STRATEGY", "p2c"}, {"LOG_LEVEL", "warn"}}));
  for (const char* part :
       {"PORT=1337", "HOST=0.0.0.0", "THREADS=3", "STRATEGY=p2c", "IO_THREADS=1",
        "QUEUE_CAPACITY=1024", "MAX_N=1000000000", "LOG_LEVEL=warn", "REQUEST_TIMEOUT_MS=30000",
        "BACKPRESSURE=reject", "QUEUE_TIMEOUT_MS=1000", "MAX_CONNECTIONS=10000",
        "IDLE_TIMEOUT_MS=30000", "HEADER_TIMEOUT_MS=10000", "DRAIN_TIMEOUT_MS=10000"})
    CHECK(line.find(part) != std::string::npos);
}

TEST_CASE("config: actors off by default, ACTOR_* settings and THREADS=none") {
  const auto off = load({});
  CHECK_FALSE(off.actor_port.has_value());
  CHECK(off.actor_host == "127.0.0.1");
  CHECK(off.actor_timeout == std::chrono::milliseconds(10'000));
  CHECK(off.actor_max_in_flight == 64);
  CHECK(off.actor_max_connections == 256);
  CHECK(config::describe(off).find("ACTOR_PORT=off") != std::string::npos);

  const auto on = load({{"ACTOR_PORT", "7000"},
                        {"ACTOR_HOST", "::"},
                        {"ACTOR_TIMEOUT_MS", "250"},
                        {"ACTOR_MAX_IN_FLIGHT", "8"},
                        {"ACTOR_MAX_CONNECTIONS", "3"},
                        {"THREADS", "none"}});
  CHECK(on.actor_port == 7000);
  CHECK(on.actor_host == "::");
  CHECK(on.actor_timeout == std::chrono::milliseconds(250));
  CHECK(on.actor_max_in_flight == 8);
  CHECK(on.actor_max_connections == 3);
  CHECK(on.threads == 0);
  CHECK(config::describe(on).find("THREADS=none") != std::string::npos);
  CHECK(load({{"ACTOR_PORT", "0"}}).actor_port == 0);

  CHECK(error_of({{"THREADS", "none"}}).find("ACTOR_PORT") != std::string::npos);
  CHECK(error_of({{"ACTOR_PORT", "70000"}}).rfind("ACTOR_PORT: invalid value '70000'", 0) == 0);
  CHECK(error_of({{"ACTOR_HOST", "example.com"}}).rfind("ACTOR_HOST: invalid value", 0) == 0);
  CHECK(error_of({{"ACTOR_TIMEOUT_MS", "5"}}).rfind("ACTOR_TIMEOUT_MS: invalid value", 0) == 0);
  CHECK(error_of({{"ACTOR_MAX_IN_FLIGHT", "0"}}).rfind("ACTOR_MAX_IN_FLIGHT: invalid", 0) == 0);
  CHECK(error_of({{"ACTOR_MAX_CONNECTIONS", "0"}}).rfind("ACTOR_MAX_CONNECTIONS: invalid", 0) == 0);
  CHECK(error_of({{"ACTOR_MAX_CONNECTIONS", "65537"}}).find("from 1 to 65536") !=
        std::string::npos);
  CHECK(error_of({{"THREADS", "nothing"}}).find("or none") != std::string::npos);
}

#pragma once
// Helpers shared by the actor tests: a server that takes actors, and the pool-wide counts of
// one scrape with the identity produced = completed + failed + cancelled + in_flight.

#include <cstddef>
#include <sstream>
#include <string>

#include "test_server.hpp"

namespace test {

/// Test settings with an actor port on loopback (any free one) and `threads` local workers.
inline config::settings with_actors(std::size_t threads) {
  auto s = test_settings();
  s.threads = threads;
  s.actor_port = 0;
  return s;
}

inline unsigned short actor_port(running_server& s) {
  return s.srv->actor_endpoint()->port();
}

inline void wait_for_actors(running_server& s, std::size_t n) {
  wait_until([&] { return s.srv->workers().remotes().size() == n; });
}

/// The pool-wide job counts of one scrape.
struct pool_counts {
  double produced = 0, completed = 0, failed = 0, cancelled = 0, in_flight = 0;
  std::string text;

  explicit pool_counts(running_server& s) : text(s.metrics()) {
    produced = value("poolserver_jobs_produced_total");
    completed = value("poolserver_jobs_completed_total");
    failed = value("poolserver_jobs_failed_total");
    in_flight = value("poolserver_in_flight");
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);)
      if (line.rfind("poolserver_jobs_cancelled_total{", 0) == 0)
        cancelled += std::stod(line.substr(line.rfind(' ') + 1));
  }
  /// A sample's value, -1 when the scrape has none.
  double value(const std::string& series) const { return metric(text, series).value_or(-1); }
  double cancelled_by(const std::string& reason) const {
    return value("poolserver_jobs_cancelled_total{reason=\"" + reason + "\",stage=\"running\"}");
  }
  bool identity() const { return produced == completed + failed + cancelled + in_flight; }
};

/// The counts once nothing is in flight any more.
inline pool_counts settled(running_server& s) {
  wait_until([&] { return s.srv->workers().in_flight() == 0; });
  return pool_counts(s);
}

}  // namespace test

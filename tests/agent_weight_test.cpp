// The agent-check's weight (observability/agent_weight.hpp) on made-up counters, sampled
// twice a second as the server does: full with room to spare, cut in proportion to what is
// refused, never 0, back up once the load is gone, and settling where a server is sent
// about what it serves.

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "observability/agent_weight.hpp"

using namespace std::chrono_literals;

namespace agent_weight_test {

using observability::agent_weight;
using observability::load_sample;

/// Counters that grow at constant rates, sampled every half second, as the server does.
struct steady_load {
  agent_weight weight;
  load_sample counts;
  pool::clock::time_point now = pool::clock::time_point{} + 1h;

  /// Half a second at `offered` jobs/s of which `refused` are refused, the workers busy
  /// `busy` of the time (of `workers` workers); the weight after it.
  int half_second(double offered, double refused, double busy, std::size_t workers = 2) {
    counts.offered += static_cast<std::uint64_t>(offered / 2);
    counts.refused += static_cast<std::uint64_t>(refused / 2);
    counts.busy_ns += static_cast<std::uint64_t>(busy * 0.5e9 * static_cast<double>(workers));
    counts.workers = workers;
    now += 500ms;
    return weight.update(now, counts);
  }
};

TEST_CASE("agent weight: full while nothing is refused and workers have room") {
  steady_load l;
  CHECK(l.weight.percent() == 100);
  for (int i = 0; i < 10; ++i) CHECK(l.half_second(0, 0, 0) == 100);
  for (int i = 0; i < 10; ++i) CHECK(l.half_second(1000, 0, 0.5) == 100);
  // A pure dispatcher to actors: no workers to measure, so it has room while it refuses none.
  for (int i = 0; i < 10; ++i) CHECK(l.half_second(1000, 0, 0, 0) == 100);
}

TEST_CASE("agent weight: a second of refusing two thirds cuts it to a third") {
  steady_load l;
  l.half_second(0, 0, 0);  // the first sample: nothing to compare with yet
  const int half = l.half_second(150, 100, 1);
  CHECK(half > 33);
  CHECK(half < 100);
  CHECK(l.half_second(150, 100, 1) == 33);  // each refusal counted once over the two steps
}

TEST_CASE("agent weight: never below 1 percent, and back up once the load is gone") {
  steady_load l;
  l.half_second(0, 0, 0);
  for (int i = 0; i < 10; ++i) l.half_second(1000, 1000, 1);
  CHECK(l.weight.percent() == agent_weight::least);
  // Busy but refusing nothing: it holds (a server serving what it is sent).
  for (int i = 0; i < 4; ++i) l.half_second(100, 0, 0.95);
  CHECK(l.weight.percent() == agent_weight::least);
  // Room to spare: it rises, at most doubling a second, up to 100 and no further.
  std::vector<int> seen;
  for (int i = 0; i < 30; ++i) seen.push_back(l.half_second(10, 0, 0.1));
  for (std::size_t i = 1; i < seen.size(); ++i) {
    CHECK(seen[i] >= seen[i - 1]);
    CHECK(seen[i] <= seen[i - 1] * 3 / 2 + 1);
  }
  CHECK(seen.back() == 100);
}

TEST_CASE("agent weight: settles where a server serves what it is sent") {
  // A server serving 50 jobs/s (its workers always busy when at capacity) behind a
  // balancer that sends it rate x its weight: it settles near 50/150 of the rate, the
  // share it can serve, without refusing more than a few percent there.
  steady_load l;
  const double capacity = 50, full_share = 150;
  double offered = full_share;
  for (int i = 0; i < 40; ++i) {
    const double served = std::min(offered, capacity);
    const int w = l.half_second(offered, offered - served, served / capacity);
    offered = full_share * w / 100.0;
  }
  CHECK(offered > capacity * 0.6);
  CHECK(offered < capacity * 1.1);
}

}  // namespace agent_weight_test

#include "pool/strategy.hpp"

#include <doctest/doctest.h>

#include <map>
#include <memory>
#include <vector>

namespace {

// A backend whose load the test sets; it never takes jobs.
struct fake_backend final : pool::backend {
  std::size_t load = 0;
  bool try_submit(pool::job&) override { return false; }
  std::size_t in_flight() const override { return load; }
};

struct fakes {
  std::vector<std::unique_ptr<fake_backend>> owned;
  std::vector<pool::backend*> view;
  explicit fakes(std::vector<std::size_t> loads) {
    for (auto l : loads) {
      owned.push_back(std::make_unique<fake_backend>());
      owned.back()->load = l;
      view.push_back(owned.back().get());
    }
  }
};

std::map<std::size_t, int> picks(pool::strategy& s, const fakes& f, int times) {
  std::map<std::size_t, int> count;
  for (int i = 0; i < times; ++i) {
    const auto k = s.pick(f.view);
    REQUIRE(k < f.view.size());
    ++count[k];
  }
  return count;
}

}  // namespace

TEST_CASE("strategy names round-trip - unknown names are refused") {
  for (const auto& [kind, name] : pool::strategy_names) {
    CHECK(pool::to_string(kind) == name);
    CHECK(pool::parse_strategy(name) == kind);
  }
  CHECK_FALSE(pool::parse_strategy("fastest").has_value());
  CHECK_FALSE(pool::parse_strategy("RoundRobin").has_value());
}

TEST_CASE("roundrobin visits 0, 1, 2, 0, 1, 2, ...") {
  fakes f({5, 0, 9});
  auto s = pool::make_strategy(pool::strategy_kind::roundrobin);
  for (std::size_t i = 0; i < 9; ++i) CHECK(s->pick(f.view) == i % 3);
}

TEST_CASE("leastbusy picks the backend with the fewest in flight") {
  fakes f({3, 1, 2, 7});
  auto s = pool::make_strategy(pool::strategy_kind::leastbusy);
  const auto count = picks(*s, f, 200);
  CHECK(count.size() == 1);
  CHECK(count.at(1) == 200);
}

TEST_CASE("leastbusy breaks ties at random, so the first backend is not favoured") {
  fakes f({0, 5, 0, 0});
  auto s = pool::make_strategy(pool::strategy_kind::leastbusy);
  const auto count = picks(*s, f, 3000);
  CHECK(count.count(1) == 0);
  // Each tied backend expects 1000 picks; 700 is far outside random variation.
  for (std::size_t k : {0u, 2u, 3u}) CHECK(count.at(k) > 700);
}

TEST_CASE("random stays in range and covers every backend") {
  fakes f({0, 0, 0, 0, 0});
  auto s = pool::make_strategy(pool::strategy_kind::random);
  const auto count = picks(*s, f, 5000);
  REQUIRE(count.size() == 5);
  for (const auto& [k, n] : count) CHECK(n > 700);  // expected 1000 each
}

TEST_CASE("p2c stays in range, covers every backend, and avoids the busiest") {
  auto s = pool::make_strategy(pool::strategy_kind::p2c);
  fakes even({0, 0, 0, 0});
  const auto count = picks(*s, even, 4000);
  REQUIRE(count.size() == 4);
  for (const auto& [k, n] : count) CHECK(n > 700);

  // The busiest of three is always compared with a less busy one, so it never wins.
  fakes skewed({0, 0, 9});
  CHECK(picks(*s, skewed, 1000).count(2) == 0);
  // With two backends both are always compared: the less busy always wins.
  fakes two({10, 0});
  CHECK(picks(*s, two, 100).at(1) == 100);
  // One backend: always it.
  fakes one({4});
  CHECK(picks(*s, one, 10).at(0) == 10);
}

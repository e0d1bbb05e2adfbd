#include "pool/strategy.hpp"

#include <atomic>
#include <limits>
#include <random>

namespace pool {

std::string_view to_string(strategy_kind k) {
  for (const auto& [kind, name] : strategy_names)
    if (kind == k) return name;
  return "unknown";
}

std::optional<strategy_kind> parse_strategy(std::string_view name) {
  for (const auto& [kind, n] : strategy_names)
    if (n == name) return kind;
  return std::nullopt;
}

std::size_t random_index(std::size_t n) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_int_distribution<std::size_t>{0, n - 1}(rng);
}

namespace {

class roundrobin final : public strategy {
 public:
  std::size_t pick(std::span<backend* const> backends) override {
    return next_.fetch_add(1, std::memory_order_relaxed) % backends.size();
  }

 private:
  std::atomic<std::size_t> next_{0};
};

class uniform_random final : public strategy {
 public:
  std::size_t pick(std::span<backend* const> backends) override {
    return random_index(backends.size());
  }
};

class leastbusy final : public strategy {
 public:
  // One pass; among equal minima each is kept with probability 1/ties (reservoir sampling),
  // so ties are broken uniformly at random and worker 0 is not favoured.
  std::size_t pick(std::span<backend* const> backends) override {
    std::size_t best = 0;
    std::size_t best_load = std::numeric_limits<std::size_t>::max();
    std::size_t ties = 0;
    for (std::size_t i = 0; i < backends.size(); ++i) {
      const std::size_t load = backends[i]->in_flight();
      if (load < best_load) {
        best = i;
        best_load = load;
        ties = 1;
      } else if (load == best_load && random_index(++ties) == 0) {
        best = i;
      }
    }
    return best;
  }
};

class power_of_two final : public strategy {
 public:
  std::size_t pick(std::span<backend* const> backends) override {
    const std::size_t n = backends.size();
    if (n == 1) return 0;
    const std::size_t a = random_index(n);
    std::size_t b = random_index(n - 1);
    if (b >= a) ++b;  // two distinct backends, each pair equally likely
    return backends[b]->in_flight() < backends[a]->in_flight() ? b : a;
  }
};

}  // namespace

std::unique_ptr<strategy> make_strategy(strategy_kind k) {
  switch (k) {
    case strategy_kind::roundrobin:
      return std::make_unique<roundrobin>();
    case strategy_kind::random:
      return std::make_unique<uniform_random>();
    case strategy_kind::leastbusy:
      return std::make_unique<leastbusy>();
    case strategy_kind::p2c:
      return std::make_unique<power_of_two>();
  }
  return std::make_unique<roundrobin>();
}

}  // namespace pool

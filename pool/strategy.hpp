#pragma once
// Dispatch strategies: which backend gets the next job.

#include <array>
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

#include "pool/backend.hpp"

namespace pool {

enum class strategy_kind { roundrobin, random, leastbusy, p2c };

/// Every strategy with its configuration name, in the order docs/configuration.md lists them.
inline constexpr std::array<std::pair<strategy_kind, std::string_view>, 4> strategy_names{{
    {strategy_kind::roundrobin, "roundrobin"},
    {strategy_kind::random, "random"},
    {strategy_kind::leastbusy, "leastbusy"},
    {strategy_kind::p2c, "p2c"},
}};

/// The configuration name of a strategy.
std::string_view to_string(strategy_kind k);
/// The strategy with that name, or nothing.
std::optional<strategy_kind> parse_strategy(std::string_view name);

/// Picks a backend. Implementations are safe to call from many threads at once.
class strategy {
 public:
  virtual ~strategy() = default;
  /// Index into `backends` (which is never empty) of the backend to try.
  virtual std::size_t pick(std::span<backend* const> backends) = 0;
};

/// A new strategy of that kind.
std::unique_ptr<strategy> make_strategy(strategy_kind k);

/// A uniform random index below `n` from a thread-local generator (no shared state).
std::size_t random_index(std::size_t n);

}  // namespace pool

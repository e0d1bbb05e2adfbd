#pragma once
// The actor port's counters at one moment: what actor_links counts, for /metrics to show.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace observability {

struct actor_port_counters {
  std::uint64_t connects = 0;             ///< actor connections accepted
  std::uint64_t connections_refused = 0;  ///< closed at once: ACTOR_MAX_CONNECTIONS connected
  /// Actors removed, by reason: (reason, count), every reason listed.
  std::vector<std::pair<std::string_view, std::uint64_t>> disconnects;
  /// Actors refused before they joined, by reason: (reason, count), every reason listed.
  std::vector<std::pair<std::string_view, std::uint64_t>> refusals;
  std::uint64_t redispatched = 0;  ///< jobs of a removed actor that another backend took
  std::uint64_t refused_jobs = 0;  ///< ... that no backend had room for (503)
  /// Connected actors whose answers said their process id: (name, pid).
  std::vector<std::pair<std::string, std::int64_t>> pids;
};

}  // namespace observability

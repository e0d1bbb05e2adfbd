#pragma once
// The weight the server asks HAProxy for (its agent-check, server/agent_check.hpp): a percent
// of the weight configured in haproxy.cfg that follows what the server can take. A server
// that refuses work lowers it in proportion to what it refuses; one with idle workers raises
// it back towards 100%. Weighted balancing then settles where each server is sent about what
// it serves. docs/cluster.md says why this formula, and what it does behind a real HAProxy.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "observability/pool_metrics.hpp"
#include "pool/job_clock.hpp"
#include "pool/sample_window.hpp"

namespace observability {

/// What the weight follows, read from the pool at one moment: counts that only grow.
struct load_sample {
  /// Jobs submitted: accepted into a mailbox, refused at admission or for want of room.
  std::uint64_t offered = 0;
  /// Of those, the ones not run: refused, or accepted and then shed from a mailbox.
  std::uint64_t refused = 0;
  std::uint64_t busy_ns = 0;  ///< run time of the jobs the local workers finished
  std::size_t workers = 0;    ///< local workers
};

/// The load sample in a view of the pool.
load_sample load_of(const pool_view& v);

/// The controller. Only the server's sampling timer calls update(); any thread reads
/// percent().
class agent_weight {
 public:
  static constexpr int most = 100;  ///< percent: a server with room for more
  /// Never 0: HAProxy would take a server that still serves out of rotation.
  static constexpr int least = 1;
  /// The span over which the share refused and the workers' utilisation are measured.
  static constexpr std::chrono::seconds window{1};
  /// Below this utilisation, with nothing refused, the server has room: the weight rises.
  static constexpr double room_below = 0.8;

  /// Takes the counters at `now` (every half window or so) and moves the weight:
  /// - some jobs refused, a share r of those offered over the window: times (1 - r);
  /// - none refused, the workers busy u < room_below of the window: times room_below / u
  ///   (at most 2);
  /// - otherwise (busy, refusing nothing) it holds.
  /// Each step takes the square root of that factor: samples come every half window, so
  /// each refusal is seen by two steps, and the two together apply it once.
  /// Returns the weight, as percent() does.
  int update(pool::clock::time_point now, const load_sample& s);

  /// The weight now, in percent of the configured one: from `least` to `most`.
  int percent() const noexcept { return percent_.load(std::memory_order_relaxed); }

 private:
  pool::sample_window<load_sample> samples_{window};
  double weight_ = most;  // unrounded, so that small steps add up
  std::atomic<int> percent_{most};
};

}  // namespace observability

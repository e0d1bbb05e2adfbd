#pragma once
// The pool at one moment (pool_view), and its metric families in Prometheus text format:
// the pool counts, this renders.

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "observability/prometheus_writer.hpp"
#include "pool/job_clock.hpp"
#include "pool/worker_pool.hpp"

namespace observability {

/// What the pages show of the pool, read at one moment.
struct pool_view {
  pool::pool_snapshot counters;               ///< every backend's counters, and the totals
  std::vector<double> throughput;             ///< jobs/s: [0] the pool, [1 + k] local worker k
  std::array<std::uint64_t, 3> rejections{};  ///< by pool::reject_reason
  std::uint64_t redispatches = 0;
  std::size_t backends = 0;    ///< local workers plus remote backends now
  bool takes_remotes = false;  ///< remote actors may join (ACTOR_PORT is set)
  /// Admission (pool/admission.hpp): its mode, the target now (the local workers' mean), and
  /// jobs refused or shed by [shed_reason][priority] (sojourn: taken out of a mailbox).
  pool::admission_mode admission = pool::admission_mode::fixed;
  pool::clock::duration target{};
  std::array<std::array<std::uint64_t, pool::priority_names.size()>, pool::shed_reason_names.size()>
      sheds{};

  /// Every job refused or shed by admission, of any reason and priority.
  std::uint64_t shed_total() const noexcept {
    std::uint64_t n = 0;
    for (const auto& by_priority : sheds)
      for (const auto c : by_priority) n += c;
    return n;
  }

  std::uint64_t rejected(pool::reject_reason r) const noexcept {
    return rejections[static_cast<std::size_t>(r)];
  }
};

/// Reads the pool's counters, throughput and rejections at `now`.
pool_view view_of(const pool::worker_pool& pool, pool::clock::time_point now);

/// Appends the pool's metric families: pool-wide and per local worker, per remote actor
/// (when the pool takes remotes), throughput, cancellations, rejections, queue wait and run
/// time.
void write_pool_metrics(prometheus_writer& w, const pool_view& pool);

}  // namespace observability

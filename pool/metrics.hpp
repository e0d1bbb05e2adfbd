#pragma once
// Counters and histograms of relaxed atomics: what the pool and the server record.
// Hot-path writes are relaxed atomics; a scrape reads them without stopping anyone.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace pool {

/// Adds `n` to a counter that only its owner thread writes: a plain load and store, no
/// locked read-modify-write (readers on other threads still see whole values).
inline void owner_add(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) noexcept {
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

/// Adds `n` to a counter that several threads write.
inline void shared_add(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) noexcept {
  c.fetch_add(n, std::memory_order_relaxed);
}

/// Upper bounds (seconds) of the latency histogram buckets, +Inf implied.
inline constexpr std::array<double, 18> latency_buckets{
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05,    0.1,    0.25,    0.5,    1,     2.5,    5,     10,   30};

/// A latency histogram in seconds. `shared` chooses locked adds (several writers) over
/// owner-only plain stores.
class histogram {
 public:
  static constexpr std::size_t bucket_count = latency_buckets.size() + 1;  // + the +Inf one

  /// A consistent-enough copy for rendering: count is the sum of the buckets read.
  struct snapshot {
    std::array<std::uint64_t, bucket_count> buckets{};  // per bucket, not cumulative
    std::uint64_t sum_ns = 0;
    std::uint64_t count() const noexcept;
    snapshot& operator+=(const snapshot& other) noexcept;
    /// What was observed between `earlier` and this one (bucket by bucket; never below 0).
    snapshot& operator-=(const snapshot& earlier) noexcept;
  };

  explicit histogram(bool shared = false) noexcept : shared_(shared) {}

  /// Records one observation.
  void observe(std::chrono::nanoseconds d) noexcept;
  /// Reads every bucket (relaxed; concurrent observations may or may not be included).
  snapshot read() const noexcept;

 private:
  std::array<std::atomic<std::uint64_t>, bucket_count> buckets_{};
  std::atomic<std::uint64_t> sum_ns_{0};
  bool shared_;
};

/// The q-quantile (0 < q < 1) in seconds, as Prometheus's histogram_quantile() estimates it:
/// linear within the bucket that holds it; the largest finite bound if that is +Inf. NaN
/// when the histogram is empty.
double quantile(const histogram::snapshot& h, double q) noexcept;

}  // namespace pool

#pragma once
// Samples of some counters over time, kept just long enough to compute a change over the
// last `span`: the newest sample at least `span` old, and everything after it. Rates and
// windowed quantiles subtract the oldest kept sample from the counters now.

#include <deque>
#include <mutex>
#include <optional>
#include <utility>

#include "pool/job_clock.hpp"

namespace pool {

template <typename T>
class sample_window {
 public:
  explicit sample_window(clock::duration span) : span_(span) {}

  /// Records the counters at `at` (samples come in time order) and drops those no longer
  /// needed.
  void add(clock::time_point at, T value) {
    std::lock_guard lock(mutex_);
    samples_.emplace_back(at, std::move(value));
    while (samples_.size() > 2 && samples_[1].first <= at - span_) samples_.pop_front();
  }

  /// The oldest kept sample: one `span` (plus at most one sampling period) before the
  /// newest, or the first one early on; nothing before any sample.
  std::optional<std::pair<clock::time_point, T>> oldest() const {
    std::lock_guard lock(mutex_);
    if (samples_.empty()) return std::nullopt;
    return samples_.front();
  }

 private:
  const clock::duration span_;
  mutable std::mutex mutex_;  // the sampler and readers only, never a job's path
  std::deque<std::pair<clock::time_point, T>> samples_;
};

}  // namespace pool

#include "pool/admission.hpp"

#include <algorithm>
#include <bit>

namespace pool {

std::optional<priority> parse_priority(std::string_view name) {
  for (std::size_t i = 0; i < priority_names.size(); ++i)
    if (priority_names[i] == name) return static_cast<priority>(i);
  return std::nullopt;
}

std::optional<clock::duration> cost_model::predict(std::uint64_t n) const noexcept {
  const auto m = static_cast<std::size_t>(std::bit_width(n));
  const auto at = [&](std::size_t k) -> std::optional<clock::duration> {
    const double rate = ns_per_unit_[k].load(std::memory_order_relaxed);
    if (rate <= 0) return std::nullopt;
    return std::chrono::duration_cast<clock::duration>(
        std::chrono::duration<double, std::nano>(rate * (static_cast<double>(n) + 1)));
  };
  // The own magnitude first, then the nearest seen (above first: a smaller n's cost per unit
  // includes more of the fixed overhead, so scaling it up over-predicts).
  for (std::size_t d = 0; m + d < magnitudes || d <= m; ++d) {
    if (m + d < magnitudes)
      if (auto p = at(m + d)) return p;
    if (d > 0 && d <= m)
      if (auto p = at(m - d)) return p;
  }
  return std::nullopt;
}

void cost_model::observe(std::uint64_t n, clock::duration run_time) noexcept {
  auto& slot = ns_per_unit_[static_cast<std::size_t>(std::bit_width(n))];
  const double sample = static_cast<double>(std::chrono::nanoseconds(run_time).count()) /
                        (static_cast<double>(n) + 1);
  const double old = slot.load(std::memory_order_relaxed);
  // A moving average over about 8 jobs: follows a machine that slows down within a second.
  slot.store(old > 0 ? old + (sample - old) / 8 : std::max(sample, 1e-3),
             std::memory_order_relaxed);
}

cost_model* cost_models::of(std::string_view kind) {
  const auto n = count_.load(std::memory_order_acquire);
  for (std::size_t i = 0; i < n; ++i)
    if (entries_[i].name == kind) return &entries_[i].model;
  std::lock_guard lock(add_);
  const auto now = count_.load(std::memory_order_relaxed);
  for (std::size_t i = n; i < now; ++i)
    if (entries_[i].name == kind) return &entries_[i].model;
  if (now == max_kinds) return nullptr;
  entries_[now].name.assign(kind);
  count_.store(now + 1, std::memory_order_release);  // publishes the name
  return &entries_[now].model;
}

void run_time_estimate::observe(clock::duration run_time) noexcept {
  const auto r = std::chrono::nanoseconds(run_time).count();
  const auto peak = peak_ns_.load(std::memory_order_relaxed);
  peak_ns_.store(std::max<std::int64_t>(r, peak - peak / 64), std::memory_order_relaxed);
}

clock::duration run_time_estimate::high() const noexcept {
  return std::chrono::nanoseconds(peak_ns_.load(std::memory_order_relaxed));
}

clock::duration admission_target(const run_time_estimate& e, const admission_options& o) noexcept {
  return std::max(e.high(), o.target_floor);
}

clock::duration wait_limit(clock::duration target, priority p, bool over_share) noexcept {
  auto limit = p == priority::high ? 2 * target : p == priority::low ? target / 2 : target;
  return over_share ? limit / 2 : limit;
}

admission_verdict judge(clock::duration predicted_wait, clock::duration target, priority p,
                        bool over_share, clock::time_point now,
                        clock::time_point deadline) noexcept {
  admission_verdict v;
  v.predicted_wait = predicted_wait;
  v.limit = wait_limit(target, p, over_share);
  // Its client would be gone before it starts: refuse now rather than answer 504 later.
  if (deadline != clock::time_point::max() && predicted_wait > deadline - now) {
    v.shed = shed_reason::deadline;
    v.limit = deadline - now;
  } else if (predicted_wait > v.limit) {
    // Over its share's limit but within its class's: the client's share refused it.
    v.shed = over_share && predicted_wait <= wait_limit(target, p, false)
                 ? shed_reason::fair_share
                 : shed_reason::queue_delay;
  }
  return v;
}

bool sojourn_control::shed(clock::duration sojourn, clock::duration limit, clock::duration target,
                           bool emptied, clock::time_point now,
                           const admission_options& o) noexcept {
  window_min_ = std::min(window_min_, emptied ? clock::duration::zero() : sojourn);
  if (window_end_ == clock::time_point{}) {
    // The first job: the first window starts now, and says nothing yet (one long wait is
    // not a standing queue).
    window_end_ = now + std::max(o.interval, 4 * target);
  } else if (now >= window_end_) {
    overloaded_ = window_min_ > target;
    window_min_ = clock::duration::max();
    window_end_ = now + std::max(o.interval, 4 * target);
  }
  const auto timeout = overloaded_ ? 2 * limit : std::max(o.interval, 4 * limit);
  return sojourn > timeout;
}

}  // namespace pool

#include "pool/metrics.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace pool {

std::uint64_t histogram::snapshot::count() const noexcept {
  std::uint64_t n = 0;
  for (auto b : buckets) n += b;
  return n;
}

histogram::snapshot& histogram::snapshot::operator+=(const snapshot& other) noexcept {
  for (std::size_t i = 0; i < buckets.size(); ++i) buckets[i] += other.buckets[i];
  sum_ns += other.sum_ns;
  return *this;
}

histogram::snapshot& histogram::snapshot::operator-=(const snapshot& earlier) noexcept {
  for (std::size_t i = 0; i < buckets.size(); ++i)
    buckets[i] = buckets[i] > earlier.buckets[i] ? buckets[i] - earlier.buckets[i] : 0;
  sum_ns = sum_ns > earlier.sum_ns ? sum_ns - earlier.sum_ns : 0;
  return *this;
}

double quantile(const histogram::snapshot& h, double q) noexcept {
  const auto total = h.count();
  if (total == 0) return std::nan("");
  const double rank = q * static_cast<double>(total);
  std::uint64_t below = 0;  // observations in the buckets before this one
  for (std::size_t i = 0; i < h.buckets.size(); ++i) {
    const auto in = h.buckets[i];
    if (in > 0 && static_cast<double>(below + in) >= rank) {
      if (i == latency_buckets.size()) return latency_buckets.back();  // the +Inf bucket
      const double lo = i == 0 ? 0.0 : latency_buckets[i - 1];
      const double hi = latency_buckets[i];
      const double into = (rank - static_cast<double>(below)) / static_cast<double>(in);
      return lo + (hi - lo) * std::clamp(into, 0.0, 1.0);
    }
    below += in;
  }
  return latency_buckets.back();
}

void histogram::observe(std::chrono::nanoseconds d) noexcept {
  const double seconds = std::chrono::duration<double>(d).count();
  const auto it = std::lower_bound(latency_buckets.begin(), latency_buckets.end(), seconds);
  auto& bucket = buckets_[static_cast<std::size_t>(it - latency_buckets.begin())];
  const auto ns = static_cast<std::uint64_t>(std::max<std::int64_t>(d.count(), 0));
  if (shared_) {
    shared_add(bucket);
    shared_add(sum_ns_, ns);
  } else {
    owner_add(bucket);
    owner_add(sum_ns_, ns);
  }
}

histogram::snapshot histogram::read() const noexcept {
  snapshot s;
  for (std::size_t i = 0; i < bucket_count; ++i)
    s.buckets[i] = buckets_[i].load(std::memory_order_relaxed);
  s.sum_ns = sum_ns_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace pool

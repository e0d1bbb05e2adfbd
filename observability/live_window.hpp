#pragma once
// The last few seconds of the server, for /stats: request latency quantiles and whether
// requests were turned away lately. A timer samples; a request for /stats reads.

#include <chrono>
#include <cstdint>

#include "pool/job_clock.hpp"
#include "pool/metrics.hpp"
#include "pool/sample_window.hpp"

namespace observability {

class live_window {
 public:
  /// The counters at one moment.
  struct point {
    pool::clock::time_point at{};
    pool::histogram::snapshot requests;  ///< whole-request times so far
    std::uint64_t rejected = 0;          ///< jobs turned away so far (503), any reason
  };
  /// What happened between the window's start and `now`.
  struct delta {
    double seconds = 0;                  ///< the span it covers (0 before any sample)
    pool::histogram::snapshot requests;  ///< requests answered in it
    std::uint64_t rejected = 0;
  };

  /// How far back the window reaches (plus at most one sampling period).
  static constexpr std::chrono::seconds span{5};

  /// Records a sample; keeps the newest one at least `span` old, nothing older.
  void sample(const point& p) { points_.add(p.at, p); }
  /// The change from the oldest kept sample to `now` (everything since start-up, early on).
  delta since(const point& now) const;

 private:
  pool::sample_window<point> points_{span};
};

}  // namespace observability

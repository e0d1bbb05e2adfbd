#pragma once
// The last few seconds of the server, for /stats: the latency of jobs answered 200, apart
// from those turned away (503), and whether requests were turned away lately. A timer
// samples; a request for /stats reads.

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
    pool::histogram::snapshot answered;  ///< whole-request times of jobs answered 200 so far
    std::uint64_t rejected = 0;          ///< responses 503 so far, any request, any reason
    pool::histogram::snapshot refused;   ///< whole-request times of jobs answered 503 so far
  };
  /// What happened between the window's start and `now`.
  struct delta {
    double seconds = 0;                  ///< the span it covers (0 before any sample)
    pool::histogram::snapshot answered;  ///< jobs answered 200 in it
    std::uint64_t rejected = 0;
    pool::histogram::snapshot refused;  ///< jobs answered 503 in it
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

#pragma once
// Admission control: what the pool accepts must be answered in bounded time.
//
// Each local worker predicts how long a new job would wait in its mailbox (the predicted run
// times of the jobs queued ahead, plus what is left of the one running) and the pool refuses a
// job, at once, whose predicted wait is over its priority class's limit, or that would not
// start before its client's deadline. The limits follow a target that follows the run times
// the workers measure (the recent longest run, never below ADMISSION_TARGET_MS), so the same
// settings bound the wait of microsecond jobs and of one-second jobs. At the other end
// of the mailbox a CoDel-style sojourn check sheds a job that waited far longer than its
// class allows (the prediction was wrong). docs/admission.md says why; docs/overload.md what was measured.

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "pool/job_clock.hpp"

namespace pool {

/// A request's class: under overload low is refused first, and high has a lane of its own
/// in each worker (it never waits behind normal or low jobs, only behind the running one).
enum class priority : std::uint8_t { high, normal, low };

inline constexpr std::array<std::string_view, 3> priority_names{"high", "normal", "low"};

/// The priority with that name (exactly as in priority_names), or nothing.
std::optional<priority> parse_priority(std::string_view name);

/// ADMISSION: adaptive (the default) bounds the wait of what is accepted; fixed (configured
/// as "static") accepts while a mailbox has room, as before, for comparison.
enum class admission_mode { adaptive, fixed };

/// Why a job was refused (at admission) or shed (taken out of a mailbox without running).
enum class shed_reason : std::uint8_t {
  queue_delay,  ///< its predicted wait was over its class's limit
  deadline,     ///< it would not start before its client's deadline
  fair_share,   ///< its client holds more than its share of the pool, which is congested
  sojourn,      ///< it waited in the mailbox far longer than predicted, under overload
};

inline constexpr std::array<std::string_view, 4> shed_reason_names{"queue_delay", "deadline",
                                                                   "fair_share", "sojourn"};

struct admission_options {
  admission_mode mode = admission_mode::adaptive;
  /// The target never goes below this (CoDel's 5 ms): jobs of microseconds still queue a few.
  clock::duration target_floor = std::chrono::milliseconds(5);
  /// CoDel's interval: how long the sojourn must stay above target to count as overload.
  clock::duration interval = std::chrono::milliseconds(100);
};

/// How long a job of a kind runs, by the magnitude of its argument n, learned from the jobs
/// that finished: per power of two of n, a moving average of nanoseconds per (n + 1). A
/// prediction for an n not seen yet scales the nearest magnitude seen. Any thread may read
/// and update it; an update lost to a race costs one sample.
class cost_model {
 public:
  static constexpr std::size_t magnitudes = 65;  // bit_width(n): 0..64

  /// The predicted run time of n, or nothing before any job of this kind finished.
  std::optional<clock::duration> predict(std::uint64_t n) const noexcept;
  void observe(std::uint64_t n, clock::duration run_time) noexcept;

 private:
  std::array<std::atomic<double>, magnitudes> ns_per_unit_{};  // 0: not seen
};

/// The cost models of every job kind, found by name. Lock-free to read; a new kind is added
/// under a lock (kinds are few, and come from the registry or from actors).
class cost_models {
 public:
  static constexpr std::size_t max_kinds = 64;
  /// The model of `kind`, created on first use; null once max_kinds kinds exist.
  cost_model* of(std::string_view kind);

 private:
  struct entry {
    std::string name;
    cost_model model;
  };
  std::array<entry, max_kinds> entries_{};
  std::atomic<std::size_t> count_{0};
  std::mutex add_;
};

/// One worker's run times: the longest seen lately, a maximum that decays by 1/64 a job. A
/// job may always have to wait behind the longest kind of job that runs, so that is the wait
/// to allow: for jobs of microseconds a few microseconds, for a mix with one-second jobs about
/// a second. (A mean + 4 deviations, as TCP estimates round trips, was tried first: with a
/// heavy-tailed mix it swings by half after each long job.) Written by the worker's thread
/// only; read by any.
class run_time_estimate {
 public:
  void observe(clock::duration run_time) noexcept;
  /// The recent longest run (0 before the first job).
  clock::duration high() const noexcept;

 private:
  std::atomic<std::int64_t> peak_ns_{0};
};

/// The target queue wait: the recent longest run, never below the floor.
clock::duration admission_target(const run_time_estimate& e, const admission_options& o) noexcept;

/// The longest predicted wait a job of class `p` is admitted with: high 2x the target (in a
/// lane of its own), normal 1x, low 1/2; halved for a client over its fair share.
clock::duration wait_limit(clock::duration target, priority p, bool over_share) noexcept;

/// The verdict at admission, given the wait predicted at the chosen worker.
struct admission_verdict {
  std::optional<shed_reason> shed;  ///< nothing: admit
  clock::duration predicted_wait{};
  clock::duration limit{};
};
admission_verdict judge(clock::duration predicted_wait, clock::duration target, priority p,
                        bool over_share, clock::time_point now,
                        clock::time_point deadline) noexcept;

/// CoDel's signal for one mailbox (RFC 8289): the mailbox is overloaded when the smallest
/// sojourn seen over an interval stayed above the target (a standing queue, not a burst). A job
/// whose sojourn is over twice its class's limit is then shed; while not overloaded, only one
/// that waited longer than the interval. Only the worker's thread calls it.
class sojourn_control {
 public:
  /// Whether to shed the job just taken out, after waiting `sojourn`; `emptied`: the mailbox
  /// is empty now (so no standing queue: CoDel's "below one MTU").
  bool shed(clock::duration sojourn, clock::duration limit, clock::duration target, bool emptied,
            clock::time_point now, const admission_options& o) noexcept;
  bool overloaded() const noexcept { return overloaded_; }

 private:
  bool overloaded_ = false;
  clock::time_point window_end_{};
  clock::duration window_min_ = clock::duration::max();
};

}  // namespace pool

#pragma once
// Cancellation of one job: a deadline plus a flag that another thread can raise (the client
// went away, the server is draining). Jobs check it between chunks of work.

#include <array>
#include <atomic>
#include <cstdint>
#include <string_view>

#include "pool/job_clock.hpp"

namespace pool {

/// Why a job stopped early. actor_lost is never a token's: it ends the attempt of a job whose
/// actor was removed while holding it (the job itself runs again elsewhere, or is refused).
/// shed is never a token's either: a worker took the job out of its mailbox after it waited
/// far longer than admission allowed for, and answered it 503 without running it.
enum class stop_reason : std::uint8_t { none, deadline, client_gone, shutdown, actor_lost, shed };

/// Names as they appear in metrics, by stop_reason value.
inline constexpr std::array<std::string_view, 6> stop_reason_names{
    "none", "deadline", "client_gone", "shutdown", "actor_lost", "shed"};

class cancel_token {
 public:
  /// A token that expires at `deadline` (never, by default).
  explicit cancel_token(clock::time_point deadline = clock::time_point::max()) noexcept
      : deadline_(deadline) {}

  /// Asks the job to stop; safe from any thread. The first reason given wins.
  void cancel(stop_reason r) noexcept {
    auto expected = stop_reason::none;
    reason_.compare_exchange_strong(expected, r, std::memory_order_relaxed);
  }
  /// The reason given to cancel(), without looking at the clock.
  stop_reason cancelled() const noexcept { return reason_.load(std::memory_order_relaxed); }
  /// Whether the job should stop now: cancelled, or its deadline has passed.
  stop_reason check() const noexcept {
    const auto r = cancelled();
    if (r != stop_reason::none) return r;
    return clock::now() >= deadline_ ? stop_reason::deadline : stop_reason::none;
  }
  clock::time_point deadline() const noexcept { return deadline_; }

 private:
  std::atomic<stop_reason> reason_{stop_reason::none};
  const clock::time_point deadline_;
};

/// Thrown by a job that saw its token say stop. Deliberately not a std::exception, so a
/// job's own `catch (const std::exception&)` cannot swallow it.
struct job_cancelled {
  stop_reason reason;
};

}  // namespace pool

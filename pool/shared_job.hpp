#pragma once
// A big job shared between local workers. The worker that runs it (its owner) cuts it into
// chunks and puts it on the pool's help board; a worker whose mailbox is empty takes chunks
// of it until none is left, and goes back to its own mailbox at the next chunk boundary as
// soon as a job arrives there. The chunks are added up in order, so the result does not
// depend on who computed which.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "pool/cancel.hpp"
#include "pool/job_clock.hpp"

namespace pool {

class wakeable;

/// How a job kind splits: `chunks(n)` pieces, each computed by `chunk(n, c)` on any thread in
/// any order, then `combine(partials)` in chunk order. A kind that gives these runs the
/// same with or without help (square_sum: workers/square_sum.hpp).
struct chunked_kind {
  std::uint64_t (*chunks)(std::uint64_t n) noexcept;
  double (*chunk)(std::uint64_t n, std::uint64_t c) noexcept;
  double (*combine)(std::span<const double> partials) noexcept;
};

/// A job of fewer chunks is not shared: waking a helper would cost more than it saves.
inline constexpr std::uint64_t min_shared_chunks = 16;

/// One shared run of a chunked job.
class shared_run {
 public:
  /// `workers`: how many may work on it (the pool's), so that noting a helper never allocates.
  shared_run(const chunked_kind& kind, std::uint64_t n, const cancel_token& token,
             std::size_t owner, std::size_t workers);

  /// Claims and computes chunks until none is left, the job stops (its token says so, looked
  /// at before each chunk), or `go_back()` is true (asked before each claim). Any thread;
  /// `worker` is the caller's index. `joined()` runs once the caller is inside (never after
  /// the owner closed the run), `gone(chunks)` as it leaves, before the owner can see it
  /// gone. Returns the chunks it computed.
  template <typename GoBack, typename Joined, typename Gone>
  std::uint64_t work(std::size_t worker, GoBack&& go_back, Joined&& joined, Gone&& gone);

  /// The owner, once its own work() returned: takes no more helpers and waits until each
  /// helper has put back the chunk in its hands (at most one chunk's time).
  void close_and_wait() noexcept;

  /// After close_and_wait(): why it stopped (none: every chunk was computed).
  stop_reason stopped() const noexcept { return stop_.load(std::memory_order_relaxed); }
  /// After close_and_wait(), when not stopped: the chunks combined.
  double result() const noexcept { return kind_.combine(partials_); }
  /// After close_and_wait(): the workers other than the owner that computed a chunk.
  std::vector<std::size_t> helpers() const;
  std::uint64_t chunks() const noexcept { return partials_.size(); }
  /// After close_and_wait(): the time spent computing chunks, summed over every worker: what
  /// the job costs one worker alone (admission learns it).
  clock::duration busy() const noexcept {
    return clock::duration(busy_.load(std::memory_order_relaxed));
  }
  /// Whether a chunk is left to claim (a hint: another thread may claim it first).
  bool claimable() const noexcept {
    return stop_.load(std::memory_order_relaxed) == stop_reason::none &&
           next_.load(std::memory_order_relaxed) < partials_.size();
  }

 private:
  /// Enters as a worker on it; false once the owner closed it.
  bool enter() noexcept;
  void exit() noexcept;
  void stop(stop_reason why) noexcept;

  const chunked_kind& kind_;
  const std::uint64_t n_;
  const cancel_token& token_;  // the owner's job's: it outlives every helper (close_and_wait)
  const std::size_t owner_;
  std::vector<double> partials_;
  alignas(64) std::atomic<std::uint64_t> next_{0};
  std::atomic<stop_reason> stop_{stop_reason::none};
  std::atomic<clock::rep> busy_{0};
  // Workers inside work(), and whether the owner closed the run (a Dekker pair, seq_cst).
  alignas(64) std::atomic<std::uint32_t> active_{0};
  std::atomic<bool> closed_{false};
  mutable std::mutex helpers_mutex_;
  std::vector<std::size_t> helpers_;
};

/// Where owners put the runs that idle workers may help with. One per pool.
class help_board {
 public:
  /// The workers to wake when a run is posted (the pool's, each with its index).
  void set_workers(std::vector<wakeable*> workers) { workers_ = std::move(workers); }
  std::size_t workers() const noexcept { return workers_.size(); }
  /// Offers `run` to the other workers and wakes those that sleep.
  void post(const std::shared_ptr<shared_run>& run, std::size_t owner);
  /// Takes it off the board (no-op when it is not there).
  void withdraw(const shared_run* run);
  /// A run with a chunk left to claim, or null.
  std::shared_ptr<shared_run> take() const;
  /// Whether a run on the board has a chunk left (seq_cst: a sleeping worker's check, paired
  /// with post(); a run whose chunks are all claimed does not keep anyone awake).
  bool has_work() const { return take() != nullptr; }

 private:
  std::vector<wakeable*> workers_;
  mutable std::mutex mutex_;
  std::vector<std::shared_ptr<shared_run>> runs_;
  std::atomic<std::size_t> open_{0};
};

template <typename GoBack, typename Joined, typename Gone>
std::uint64_t shared_run::work(std::size_t worker, GoBack&& go_back, Joined&& joined,
                               Gone&& gone) {
  if (!enter()) return 0;
  joined();
  std::uint64_t done = 0;
  const std::uint64_t chunks = partials_.size();
  while (stop_.load(std::memory_order_relaxed) == stop_reason::none && !go_back()) {
    const std::uint64_t c = next_.fetch_add(1, std::memory_order_relaxed);
    if (c >= chunks) break;
    // The first chunk was looked at by the worker that took the job out of its mailbox.
    if (c != 0) {
      if (const auto why = token_.check(); why != stop_reason::none) {
        stop(why);
        break;
      }
    }
    const auto start = clock::now();
    partials_[c] = kind_.chunk(n_, c);
    busy_.fetch_add((clock::now() - start).count(), std::memory_order_relaxed);
    if (done++ == 0 && worker != owner_) {
      std::lock_guard lock(helpers_mutex_);
      helpers_.push_back(worker);  // reserved: never allocates, never throws
    }
  }
  gone(done);
  exit();
  return done;
}

}  // namespace pool

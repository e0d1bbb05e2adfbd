#pragma once
// A local worker: one thread that owns one bounded mailbox. It is a backend.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <thread>

#include "pool/admission.hpp"
#include "pool/backend.hpp"
#include "pool/job.hpp"
#include "pool/metrics.hpp"
#include "pool/mpmc_queue.hpp"
#include "pool/shared_job.hpp"
#include "pool/wake_batch.hpp"

namespace pool {

/// Where a cancelled job was when it stopped.
enum class cancel_stage : std::uint8_t { queued, running };

/// The counters of one worker at one moment. Relations: queue_depth = produced - consumed,
/// in_flight = produced - completed - failed - cancelled = queue_depth + running.
struct worker_stats {
  std::uint64_t produced = 0;        ///< jobs accepted into the mailbox
  std::uint64_t consumed = 0;        ///< jobs taken out by the worker
  std::uint64_t producer_waits = 0;  ///< pushes that found the mailbox full
  std::uint64_t consumer_waits = 0;  ///< times the worker found it empty and slept
  std::uint64_t completed = 0;       ///< jobs that returned a value
  std::uint64_t failed = 0;          ///< jobs that threw
  std::uint64_t cancelled = 0;       ///< jobs stopped by their token (sum of the below)
  /// Cancelled jobs by [stop_reason][cancel_stage].
  std::array<std::array<std::uint64_t, 2>, stop_reason_names.size()> cancelled_by{};
  std::uint64_t queue_depth = 0;
  std::uint64_t in_flight = 0;
  std::uint64_t capacity = 0;
  histogram::snapshot queue_wait;  ///< accepted → taken out
  histogram::snapshot run_time;    ///< taken out → finished
  /// queue_wait by priority (high, normal, low): local workers only.
  std::array<histogram::snapshot, priority_names.size()> queue_wait_by_priority;
  /// Jobs shed from the mailbox (cancelled, reason shed), by priority.
  std::array<std::uint64_t, priority_names.size()> shed_by_priority{};
  /// Sharing (pool/shared_job.hpp): own jobs that other workers helped with, chunks this
  /// worker computed of others' jobs, and whether it is doing so now (a gauge: 0 or 1).
  std::uint64_t shared = 0;
  std::uint64_t help_chunks = 0;
  std::uint64_t helping = 0;
};

class worker final : public backend, public wakeable {
 public:
  /// Starts the thread; `index` is the worker's number in job results and metrics, `nice`
  /// the thread's scheduling niceness (0: as the process; higher: yields to IO threads).
  /// With adaptive admission the mailbox has three lanes, taken in order: high priority; normal
  /// within its client's share; low, or over its client's share. A job that waited far too
  /// long is shed (pool/admission.hpp).
  /// With a `board`, a job of a chunked kind is shared with idle workers, and this worker
  /// helps with others' jobs when its mailbox is empty (pool/shared_job.hpp).
  worker(std::size_t index, std::size_t capacity, int nice = 0,
         const admission_options& admission = {}, help_board* board = nullptr);
  /// Closes the mailbox, finishes every job in it, joins.
  ~worker() override;
  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;

  /// Takes the job if the mailbox has room; wakes the worker if it sleeps, at once or, on
  /// a thread with a wake_batch installed, when that batch flushes.
  bool try_submit(job& j) override;
  std::size_t in_flight() const override;
  std::optional<clock::duration> predicted_wait(const job& j,
                                                clock::time_point now) const override;
  clock::duration target() const override { return admission_target(estimate_, admission_); }
  void wake() noexcept override { mailbox_.wake_one(); }

  /// Stops taking new jobs once the mailbox is empty; the thread finishes what is queued.
  /// Callers must not try_submit() after this.
  void close() noexcept {
    express_.close();
    back_.close();
    mailbox_.close();  // last: the worker stops once it is closed and every lane is empty
  }
  /// Waits for the thread to finish (after close()).
  void join();

  std::size_t index() const noexcept { return index_; }
  /// A snapshot of the counters, read without stopping the worker.
  worker_stats stats() const;

 private:
  void run();
  /// Runs (or drops, or sheds) one job taken out of `lane`.
  void handle(job& j, std::size_t lane);
  void finish(job& j, job_result&& r);
  /// Runs a chunked job shared with idle workers; fills r.helpers and, when helped, `alone`
  /// (what the job cost: its chunks' time summed); throws job_cancelled.
  double run_shared(const job& j, const cancel_token& token, job_result& r,
                    clock::duration& alone);
  /// Takes chunks of another worker's job until none is left or a job of its own arrives.
  /// False when there was nothing to help with.
  bool help();
  /// Whether a job waits in one of this worker's lanes (seq_cst, as wait() checks them).
  bool has_own_work() const noexcept {
    return express_.claimed() || mailbox_.claimed() || back_.claimed();
  }
  /// The lane a job goes to (adaptive admission only; else 1): 0 high priority, 1 normal
  /// within its client's share, 2 low or over its client's share.
  std::size_t lane_of(const job& j) const noexcept {
    if (admission_.mode != admission_mode::adaptive) return 1;
    if (j.prio == priority::high) return 0;
    return j.prio == priority::low || j.over_share ? 2 : 1;
  }
  mpmc_queue<job>& lane(std::size_t k) noexcept {
    return k == 0 ? express_ : k == 1 ? mailbox_ : back_;
  }
  /// Jobs completed, failed or cancelled: what in_flight() and stats() subtract.
  std::uint64_t finished() const noexcept;

  const std::size_t index_;
  const int nice_;
  const admission_options admission_;
  help_board* const board_;

  // Written by producers (any IO thread): locked adds, on a line of their own.
  alignas(cache_line) std::atomic<std::uint64_t> produced_{0};
  std::atomic<std::uint64_t> producer_waits_{0};

  // Written only by the worker thread: plain stores, on another line.
  alignas(cache_line) std::atomic<std::uint64_t> consumed_{0};
  std::atomic<std::uint64_t> completed_{0};
  std::atomic<std::uint64_t> failed_{0};
  std::atomic<std::uint64_t> consumer_waits_{0};
  std::array<std::array<std::atomic<std::uint64_t>, 2>, stop_reason_names.size()> cancelled_{};
  histogram queue_wait_;
  histogram run_time_;
  std::array<histogram, priority_names.size()> queue_wait_by_priority_;
  std::array<std::atomic<std::uint64_t>, priority_names.size()> shed_{};
  std::atomic<std::uint64_t> shared_{0};
  std::atomic<std::uint64_t> help_chunks_{0};
  std::atomic<bool> helping_{false};
  run_time_estimate estimate_;
  sojourn_control sojourn_;  // the worker thread's alone
  // Predicted run time of the jobs queued in each lane (producers add, the worker subtracts),
  // and when the running job is predicted to end (0: none runs), in clock ticks.
  alignas(cache_line) std::array<std::atomic<std::int64_t>, 3> backlog_{};
  std::atomic<std::int64_t> running_until_{0};

  mpmc_queue<job> express_;  // lane 0: high priority
  mpmc_queue<job> mailbox_;  // lane 1: normal (every job without adaptive admission)
  mpmc_queue<job> back_;     // lane 2: low, or over its client's share
  std::thread thread_;  // last: starts once everything above exists
};

}  // namespace pool

#pragma once
// The worker pool: backends, the strategy that picks among them, and the pool's metrics.
// No sockets here: tests and benchmarks use the pool directly.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <vector>

#include "pool/admission.hpp"
#include "pool/backend.hpp"
#include "pool/job.hpp"
#include "pool/metrics.hpp"
#include "pool/remote_backend.hpp"
#include "pool/remote_kinds.hpp"
#include "pool/sample_window.hpp"
#include "pool/strategy.hpp"
#include "pool/worker.hpp"

namespace pool {

struct pool_options {
  std::size_t threads = 1;            ///< local workers (0: a pure dispatcher to remotes)
  std::size_t queue_capacity = 1024;  ///< per-worker mailbox, a power of two
  strategy_kind strategy = strategy_kind::roundrobin;
  int worker_nice = 0;  ///< niceness of worker threads (see worker)
  /// Remote backends may join and leave (add_remote). Without them the set of backends is
  /// fixed and try_submit() takes no lock.
  bool remotes = false;
  /// How local workers bound the wait of what they accept. A pool built without saying takes
  /// what fits in its mailboxes (the server's ADMISSION setting defaults to adaptive).
  admission_options admission{admission_mode::fixed};
  /// Idle local workers take chunks of a big job of a chunked kind (pool/shared_job.hpp).
  /// Needs two local workers or more.
  bool share = false;
};

enum class submit_status {
  accepted,  ///< the chosen backend took the job; `done` will be called exactly once
  full,      ///< the chosen backend's mailbox was full; the job was not taken
  closed,    ///< the pool is shutting down; the job was not taken
  empty,     ///< there is no backend at all (no local worker, no remote); not taken
  shed,      ///< admission refused it (see `verdict`): it would wait too long; not taken
};

struct submit_outcome {
  submit_status status;
  std::size_t backend;        ///< the backend that took the job (or refused it), by index:
                              ///< local workers first, then remote backends
  bool redispatched = false;  ///< the strategy's choice was full; another backend took it
  admission_verdict verdict;  ///< shed: why, the wait predicted and the limit it was over
};

/// Why a job was turned away, as counted in poolserver_rejections_total.
enum class reject_reason { queue_full, shutting_down, no_backend };

/// Every backend's counters at one moment.
struct pool_snapshot {
  std::vector<worker_stats> local;  ///< per local worker, by index
  std::vector<std::pair<std::shared_ptr<remote_backend>, worker_stats>> remotes;  ///< live ones
  worker_stats total;  ///< local workers plus every remote backend, live or removed
};

class worker_pool {
 public:
  explicit worker_pool(const pool_options& options);
  /// Finishes every accepted job, then joins the workers.
  ~worker_pool();
  worker_pool(const worker_pool&) = delete;
  worker_pool& operator=(const worker_pool&) = delete;

  /// Lets the strategy choose a backend among those that run the job's kind (local workers
  /// when it has `work`; remote backends that offer its `method`) and offers it the job; if that mailbox is full, or
  /// admission refuses the job there, offers it once to the least busy other backend (a
  /// redispatch). Never blocks. Sets `j.predicted` from `j.cost`. On anything but
  /// `accepted`, `j` is left untouched otherwise.
  submit_outcome try_submit(job& j);

  /// Stops accepting, finishes every accepted job, joins the workers. Call once nothing
  /// submits any more (the server calls it after its IO threads have stopped).
  void shutdown();

  /// Adds a backend that lives outside this process; the strategy sees it from the next
  /// job on. Needs pool_options::remotes.
  void add_remote(std::shared_ptr<remote_backend> r);
  /// Removes it: once no try_submit() can reach it any more, calls `take_back` (under the
  /// pool's lock: it must only take the backend's jobs in flight out and count how each
  /// ended), then keeps its counters, final now, in the totals. No scrape sees the moment
  /// between, so the pool-wide identity holds throughout.
  void remove_remote(const remote_backend* r, const std::function<void()>& take_back = {});
  /// The remote backends now.
  std::vector<std::shared_ptr<remote_backend>> remotes() const;
  /// The job kinds the remote backends offer (their links keep it up to date).
  remote_kinds& kinds() noexcept { return kinds_; }
  const remote_kinds& kinds() const noexcept { return kinds_; }

  /// Local workers.
  std::size_t size() const noexcept { return workers_.size(); }
  /// Local workers plus remote backends now.
  std::size_t backend_count() const;
  const pool_options& options() const noexcept { return options_; }
  /// Jobs accepted and not finished, over all backends (remote ones included).
  std::size_t in_flight() const;
  /// A snapshot of one worker's counters.
  worker_stats stats(std::size_t backend) const { return workers_.at(backend)->stats(); }
  /// Every backend's counters, and the pool-wide totals (which never go back).
  pool_snapshot snapshot() const;
  std::uint64_t rejections(reject_reason r) const;
  /// Jobs refused at admission for `why`, of class `p` (sojourn: see worker_stats).
  std::uint64_t sheds(shed_reason why, priority p) const noexcept {
    return shed_[static_cast<std::size_t>(why)][static_cast<std::size_t>(p)].load(
        std::memory_order_relaxed);
  }
  /// The local workers' admission target, averaged (0 without adaptive admission).
  clock::duration admission_target() const;
  /// The run-time models of the job kinds (admission's predictions).
  cost_models& costs() noexcept { return costs_; }
  /// Jobs that the strategy's backend refused and another backend took.
  std::uint64_t redispatches() const noexcept {
    return redispatched_.load(std::memory_order_relaxed);
  }

  /// Records the completed counters now; throughput is the rate since the newest sample
  /// that is at least `throughput_window` old. The server calls this on a timer.
  void sample_throughput(clock::time_point now);
  static constexpr std::chrono::seconds throughput_window{5};
  /// Jobs finished per second over the last window: [0] the pool (remote backends
  /// included), [1 + k] local worker k.
  std::vector<double> throughput(clock::time_point now) const;

 private:
  submit_outcome offer(std::span<backend* const> backends, job& j);
  /// offer() with adaptive admission, `k` the strategy's pick.
  submit_outcome admit(std::span<backend* const> backends, std::size_t k, job& j);
  std::vector<std::uint64_t> finished_counts() const;
  /// Counters of the remote backends, live and removed, summed.
  worker_stats remote_totals() const;

  pool_options options_;
  help_board board_;  // before the workers: they use it until they are joined
  std::vector<std::unique_ptr<worker>> workers_;
  // What the strategy chooses from: the local workers, then the remote backends. Without
  // options_.remotes it never changes after construction and is read without the lock.
  mutable std::shared_mutex backends_mutex_;
  std::vector<backend*> backends_;
  std::vector<std::shared_ptr<remote_backend>> remotes_;
  worker_stats removed_;  // counters of removed remote backends (under backends_mutex_)
  std::unique_ptr<strategy> strategy_;
  std::atomic<bool> closed_{false};
  alignas(cache_line) std::atomic<std::uint64_t> rejected_full_{0};
  std::atomic<std::uint64_t> rejected_closed_{0};
  std::atomic<std::uint64_t> rejected_empty_{0};
  std::atomic<std::uint64_t> redispatched_{0};
  std::array<std::array<std::atomic<std::uint64_t>, priority_names.size()>,
             shed_reason_names.size()>
      shed_{};
  cost_models costs_;
  remote_kinds kinds_;

  // Finished counts: per local worker, then remote backends together.
  sample_window<std::vector<std::uint64_t>> samples_{throughput_window};
};

/// Adds the counters (and the gauges: a sum over backends) of `s` to `total`.
void add_counts(worker_stats& total, const worker_stats& s);

}  // namespace pool

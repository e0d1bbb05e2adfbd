#pragma once
// Fairness between clients: who asks for how much of the pool. A client is its X-Client-Id,
// or else its address. Ten times a second sweep() turns each client's requests into a rate and
// shares the pool's throughput out max-min fairly (water-filling: a client asking for less
// than an equal share gets what it asks, the rest split what is left); a client asking for
// more than its share is over it, and admission gives its jobs half their class's wait limit
// (pool/admission.hpp). So when the pool is saturated, the queue stands at the heavy client's
// lower limit and a light client's job, allowed the full limit, still gets in.
//
// Rates rather than jobs in flight: a light client has nothing in flight most of the time,
// and the heavy one must not count as alone then. Sessions look a client up once per
// connection (again only when X-Client-Id changes); a request then costs one relaxed add.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "pool/job_clock.hpp"

namespace server {

class client_shares {
 public:
  /// How often the server calls sweep(): a new heavy client is judged within this.
  static constexpr std::chrono::milliseconds sweep_period{100};
  /// A client is over its share when it asks for more than this times it.
  static constexpr double over_share_factor = 1.5;

  /// One client, kept while any session refers to it.
  class client {
   public:
    /// Counts one request for a job (admitted or not: what the client asks for).
    void asked() noexcept { asked_.fetch_add(1, std::memory_order_relaxed); }
    /// Whether it asked for more than its share over the last sweeps.
    bool over_share() const noexcept { return over_.load(std::memory_order_relaxed); }

   private:
    friend class client_shares;
    std::atomic<std::uint64_t> asked_{0};
    std::atomic<bool> over_{false};
    double rate_ = 0;  // requests/s, smoothed (sweep() alone, under the lock)
  };

  /// The client of that key, the one that other sessions use if any.
  std::shared_ptr<client> find(std::string_view key);
  /// Updates every client's rate, and the pool's throughput from `finished` (the jobs the
  /// pool has finished so far), over the time since the last sweep, and shares the
  /// throughput out among the clients. (The pool's own throughput gauge averages over
  /// seconds: at the start of an overload it would count idle time, and call a light
  /// client heavy.)
  void sweep(pool::clock::time_point now, std::uint64_t finished);
  /// Clients that asked for anything lately, as of the last sweep.
  std::size_t active() const noexcept { return active_.load(std::memory_order_relaxed); }

 private:
  std::mutex mutex_;
  std::unordered_map<std::string, std::weak_ptr<client>> clients_;
  pool::clock::time_point last_sweep_ = pool::clock::now();
  std::uint64_t finished_ = 0;
  double throughput_ = 0;  // jobs/s, smoothed like the clients' rates
  std::atomic<std::size_t> active_{0};
};

}  // namespace server

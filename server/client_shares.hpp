#pragma once
// Fairness between clients: who holds how much of the pool. A client is its X-Client-Id, or
// else its address. Each holds a count of its jobs in flight; a client holding more than its
// share (the jobs in flight of every client, over the number of clients holding any) is
// admitted with half its class's wait limit (pool/admission.hpp). So under overload a client
// that sends ten times more than the others is refused first, and the others get in.
//
// Sessions look a client up once per connection (again only when X-Client-Id changes), and
// a job's count is then a few relaxed atomics: no lock on the request path.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace server {

class client_shares {
 public:
  /// One client, kept while any session or job refers to it.
  class client {
   public:
    explicit client(client_shares& owner) : owner_(owner) {}
    /// Whether it holds more than its share now (false while it is the only client).
    bool over_share() const noexcept;
    /// A job of its was admitted / finished: call each once per job, on any thread.
    void begin() noexcept;
    void end() noexcept;

   private:
    client_shares& owner_;
    std::atomic<std::uint64_t> in_flight_{0};
  };

  /// The client of that key, the one that other sessions use if any.
  std::shared_ptr<client> find(std::string_view key);
  /// Clients holding jobs now, and their jobs in flight.
  std::uint64_t active() const noexcept { return active_.load(std::memory_order_relaxed); }
  std::uint64_t in_flight() const noexcept { return in_flight_.load(std::memory_order_relaxed); }

 private:
  std::mutex mutex_;
  std::unordered_map<std::string, std::weak_ptr<client>> clients_;
  std::size_t sweep_at_ = 64;
  std::atomic<std::uint64_t> active_{0};
  std::atomic<std::uint64_t> in_flight_{0};
};

}  // namespace server

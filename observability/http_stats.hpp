#pragma once
// HTTP-level counters: responses by status code and whole-request latency.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>

#include "pool/metrics.hpp"

namespace observability {

class http_stats {
 public:
  /// Counts one response sent, and the time from its request's arrival to the write.
  void record(unsigned status, std::chrono::nanoseconds request_time) noexcept;
  /// Counts an accepted connection.
  void connection_accepted() noexcept { pool::shared_add(connections_accepted_); }
  /// Counts a connection answered 503 because MAX_CONNECTIONS were open.
  void connection_rejected() noexcept { pool::shared_add(connections_rejected_); }
  /// Counts an IO handler that threw: its connection was dropped, the server went on.
  void handler_failed() noexcept { pool::shared_add(handler_errors_); }
  std::uint64_t handler_errors() const noexcept {
    return handler_errors_.load(std::memory_order_relaxed);
  }
  /// Responses sent so far with this status.
  std::uint64_t responses(unsigned status) const noexcept;
  /// Whole-request times so far.
  pool::histogram::snapshot request_time() const noexcept { return request_time_.read(); }
  /// Appends the HTTP metric families; `open_connections` is the server's live count,
  /// `max_connections` the MAX_CONNECTIONS in effect (lowered to fit RLIMIT_NOFILE).
  void write_metrics(pool::prometheus_writer& w, std::size_t open_connections,
                     std::size_t max_connections) const;

 private:
  static constexpr unsigned max_status = 600;
  std::array<std::atomic<std::uint64_t>, max_status> responses_{};
  std::atomic<std::uint64_t> connections_accepted_{0};
  std::atomic<std::uint64_t> connections_rejected_{0};
  std::atomic<std::uint64_t> handler_errors_{0};
  pool::histogram request_time_{/*shared=*/true};  // every IO thread records here
};

}  // namespace observability

#pragma once
// HTTP-level counters: responses by status code, whole-request latency, and the latency of
// job requests by how they were answered.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string_view>

#include "observability/prometheus_writer.hpp"
#include "pool/metrics.hpp"

namespace observability {

/// What a request was, for the latencies it is counted in.
enum class request_kind {
  other,      ///< a probe, a page, an error: in the request latency
  job,        ///< made a job by the router: in the request latency and the job latency
  long_poll,  ///< /stats?wait=: held on purpose, so in no latency
};

/// How a job request was answered.
enum class job_outcome {
  ok,       ///< 200: the job ran
  refused,  ///< 503: turned away (full mailboxes, no backend, a lost actor's job, shutdown)
  error,    ///< any other status: 500 (the job failed), 504 (its deadline passed)
};
inline constexpr std::array<std::string_view, 3> job_outcome_names{"ok", "refused", "error"};

/// The outcome a job request's status stands for.
job_outcome outcome_of(unsigned status) noexcept;

class http_stats {
 public:
  /// Counts one response sent, and the time from its request's arrival to the write, in the
  /// latencies `kind` belongs to.
  void record(unsigned status, std::chrono::nanoseconds request_time,
              request_kind kind = request_kind::other) noexcept;
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
  /// Whole-request times so far (long polls excluded): the other requests' and the job
  /// requests' together.
  pool::histogram::snapshot request_time() const noexcept;
  /// Whole-request times of job requests so far, answered with `o`.
  pool::histogram::snapshot job_time(job_outcome o) const noexcept {
    return job_time_[static_cast<std::size_t>(o)].read();
  }
  /// Appends the HTTP metric families; `open_connections` is the server's live count,
  /// `max_connections` the MAX_CONNECTIONS in effect (lowered to fit RLIMIT_NOFILE).
  void write_metrics(prometheus_writer& w, std::size_t open_connections,
                     std::size_t max_connections) const;

 private:
  static constexpr unsigned max_status = 600;
  std::array<std::atomic<std::uint64_t>, max_status> responses_{};
  std::atomic<std::uint64_t> connections_accepted_{0};
  std::atomic<std::uint64_t> connections_rejected_{0};
  std::atomic<std::uint64_t> handler_errors_{0};
  // Each request is timed once, in the histogram of its kind (every IO thread records here);
  // poolserver_request_seconds is their sum, made when read.
  pool::histogram other_time_{/*shared=*/true};
  std::array<pool::histogram, job_outcome_names.size()> job_time_{
      pool::histogram{true}, pool::histogram{true}, pool::histogram{true}};
};

}  // namespace observability

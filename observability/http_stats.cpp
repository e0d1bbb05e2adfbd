#include "observability/http_stats.hpp"

#include <string>

namespace observability {

job_outcome outcome_of(unsigned status) noexcept {
  if (status == 200) return job_outcome::ok;
  if (status == 503) return job_outcome::refused;
  return job_outcome::error;
}

void http_stats::record(unsigned status, std::chrono::nanoseconds request_time,
                        request_kind kind) noexcept {
  if (status < max_status) pool::shared_add(responses_[status]);
  if (kind == request_kind::long_poll) return;  // its time is what the client asked to wait
  if (kind == request_kind::job)
    job_time_[static_cast<std::size_t>(outcome_of(status))].observe(request_time);
  else
    other_time_.observe(request_time);
}

pool::histogram::snapshot http_stats::request_time() const noexcept {
  auto all = other_time_.read();
  for (const auto& h : job_time_) all += h.read();
  return all;
}

std::uint64_t http_stats::responses(unsigned status) const noexcept {
  return status < max_status ? responses_[status].load(std::memory_order_relaxed) : 0;
}

void http_stats::write_metrics(prometheus_writer& w, std::size_t open_connections,
                               std::size_t max_connections) const {
  w.family("poolserver_http_responses_total", "counter", "HTTP responses sent, by status code.");
  for (unsigned code = 100; code < max_status; ++code) {
    const auto n = responses(code);
    if (n) w.sample("poolserver_http_responses_total", {{"code", std::to_string(code)}}, n);
  }
  w.family("poolserver_http_connections_accepted_total", "counter", "TCP connections accepted.");
  w.sample("poolserver_http_connections_accepted_total", {},
           connections_accepted_.load(std::memory_order_relaxed));
  w.family("poolserver_http_connections_rejected_total", "counter",
           "Connections answered 503 and closed because MAX_CONNECTIONS were open.");
  w.sample("poolserver_http_connections_rejected_total", {},
           connections_rejected_.load(std::memory_order_relaxed));
  w.family("poolserver_http_connections", "gauge",
           "TCP connections open now (those being refused with a 503 included).");
  w.sample("poolserver_http_connections", {}, static_cast<std::uint64_t>(open_connections));
  w.family("poolserver_http_connections_limit", "gauge",
           "MAX_CONNECTIONS in effect: the setting, lowered at start-up to fit RLIMIT_NOFILE.");
  w.sample("poolserver_http_connections_limit", {}, static_cast<std::uint64_t>(max_connections));
  w.family("poolserver_http_handler_errors_total", "counter",
           "IO handlers that threw: each dropped its own connection and the server went on. "
           "Any is a bug; the log says what was thrown.");
  w.sample("poolserver_http_handler_errors_total", {}, handler_errors());
  w.family("poolserver_request_seconds", "histogram",
           "Whole-request time: request read until its response was handed to the socket. "
           "Long polls (/stats?wait=) are not counted: they wait on purpose.");
  w.histogram("poolserver_request_seconds", {}, request_time());
  w.family("poolserver_job_request_seconds", "histogram",
           "Whole-request time of job requests, by outcome (ok: 200; refused: 503, turned "
           "away at admission or by shutdown; error: any other status).");
  for (std::size_t o = 0; o < job_outcome_names.size(); ++o)
    w.histogram("poolserver_job_request_seconds", {{"outcome", job_outcome_names[o]}},
                job_time_[o].read());
}

}  // namespace observability

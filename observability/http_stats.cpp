#include "observability/http_stats.hpp"

#include <string>

namespace observability {

void http_stats::record(unsigned status, std::chrono::nanoseconds request_time) noexcept {
  if (status < max_status) pool::shared_add(responses_[status]);
  request_time_.observe(request_time);
}

std::uint64_t http_stats::responses(unsigned status) const noexcept {
  return status < max_status ? responses_[status].load(std::memory_order_relaxed) : 0;
}

void http_stats::write_metrics(pool::prometheus_writer& w, std::size_t open_connections,
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
           "Whole-request time: request read until its response was handed to the socket.");
  w.histogram("poolserver_request_seconds", {}, request_time_.read());
}

}  // namespace observability

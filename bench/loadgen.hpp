#pragma once
// An open-loop HTTP load generator: requests leave on a fixed schedule (constant or Poisson
// arrivals) whatever the server does, so an overload is real, unlike closed-loop tools (wrk,
// autocannon) that never offer more than their connection count. Loopback only. Every
// request is accounted for, and its latency runs from its scheduled send time, so a server
// that stalls is not excused by the requests the stall delayed (no coordinated omission).

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace loadgen {

/// How the requests of a stream are spread in time.
enum class arrivals {
  constant,  ///< exactly 1/rate apart
  poisson,   ///< exponential gaps of mean 1/rate
};

/// One kind of client: its own rate, targets, headers and connections.
struct stream_spec {
  std::string name;                                          ///< in the report
  double rate = 0;                                           ///< requests per second
  std::vector<std::pair<double, std::string>> mix;           ///< (weight, target)
  std::vector<std::pair<std::string, std::string>> headers;  ///< sent with every request
};

/// One run: where, which streams, and its bounds.
struct options {
  std::string host = "127.0.0.1";  ///< a loopback address; anything else is refused
  unsigned short port = 0;
  std::vector<stream_spec> streams;
  arrivals how = arrivals::constant;
  std::chrono::milliseconds duration{10000};  ///< how long requests are sent
  std::uint64_t max_requests = 0;             ///< per stream; 0: bounded by duration only
  std::chrono::milliseconds timeout{60000};   ///< per request, from its scheduled time
  std::size_t max_connections = 2000;         ///< per stream; past it a request is not sent
  int closed = 0;          ///< > 0: closed loop, this many connections per stream, rates ignored
  std::uint64_t seed = 1;  ///< of the arrival gaps and the mix choices
};

/// What happened to one stream's requests:
/// offered = sum(by_status) + lost + timed_out + not_sent, always.
struct stream_result {
  std::string name;                             ///< the stream_spec's
  double rate = 0;                              ///< as asked (0 in closed loop)
  std::uint64_t offered = 0;                    ///< requests whose time came
  std::uint64_t answered = 0;                   ///< sum of by_status
  std::map<unsigned, std::uint64_t> by_status;  ///< answers per status code
  std::uint64_t lost = 0;       ///< reset, closed or broken answer after the request was sent
  std::uint64_t timed_out = 0;  ///< no answer within the timeout (the connection is closed)
  std::uint64_t not_sent = 0;   ///< no connection: all max_connections busy, or connect failed
  std::uint64_t connect_failures = 0;  ///< open loop: each is also a request not sent
  std::map<unsigned, std::vector<double>> latency_ms;  ///< per status, from scheduled time
  std::size_t max_connections_used = 0;                ///< peak of connections open at once
  std::uint64_t connections_opened = 0;                ///< over the run, reconnections included
  double schedule_seconds = 0;  ///< from the start until this stream stopped offering
  double offered_rate = 0;      ///< offered / schedule_seconds
  double goodput = 0;           ///< 200 answers per second of the whole run
  double max_send_lag_ms = 0;   ///< the latest a request left after its time: our own lag
};

/// A whole run, one stream_result per stream_spec, in their order.
struct result {
  std::vector<stream_result> streams;
  double seconds = 0;  ///< the whole run: from the start until the last outcome (answer or
                       ///< timeout) or the end of the schedule, whichever is later
  arrivals how = arrivals::constant;
  int closed = 0;
};

/// Runs the load on the calling thread until every request has its outcome. Throws
/// std::invalid_argument for bad options (no stream, a rate <= 0, an empty mix, a host that
/// is not loopback, a header with a line break).
result run(const options& o);

/// The result as one JSON object: per stream the counts, rates and, per status, the count
/// and the latency percentiles p50, p90, p99, p99.9 and max (ms).
std::string to_json(const result& r);

/// "90:/a,10:/b" (weight:target, a bare "/a" weighs 1) split on `separator`. Throws
/// std::invalid_argument naming the bad entry.
std::vector<std::pair<double, std::string>> parse_mix(std::string_view text, char separator = ',');

/// The p-th percentile (0..100) of `v`, by nearest rank; 0 when `v` is empty.
double percentile(std::vector<double> v, double p);

/// "constant" or "poisson"; throws std::invalid_argument otherwise.
arrivals parse_arrivals(std::string_view text);

}  // namespace loadgen

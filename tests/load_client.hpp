#pragma once
// A bounded load generator for tests and the reliability report: one thread, many
// keep-alive connections (Asio), each sending a fixed number of requests one after another.
// Every request sent is accounted for: answered (by status), refused (the connection closed
// cleanly before any byte of an answer: the request was never read, a client may retry it),
// or lost (a reset or a broken answer after the request was sent).

#include <utility>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace test {

struct load_result {
  int sent = 0;
  int answered = 0;
  int refused = 0;  ///< clean close before any answer byte (not accepted)
  int lost = 0;     ///< reset or broken answer after sending (must stay 0)
  int wrong = 0;    ///< answers that load_options::check rejected
  std::map<unsigned, int> by_status;
  std::vector<double> latency_ms;      ///< of every answer
  std::vector<double> latency_503_ms;  ///< of 503 answers only

  /// The p-th percentile (0..100) of `v`, 0 when empty.
  static double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const auto i = static_cast<std::size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
    return v[std::min(i, v.size() - 1)];
  }
};

struct load_options {
  unsigned short port = 0;
  int connections = 16;
  int requests_per_connection = 10;
  std::string target = "/1000";
  /// When not empty, the requests cycle through these targets instead (so that an answer
  /// delivered twice, or to the wrong request, shows as a wrong answer to `check`).
  std::vector<std::string> targets;
  /// Judges each answer; those it returns false for are counted as wrong.
  std::function<bool(const std::string& target, unsigned status, const std::string& body)> check;
  /// Called once, on the load thread, after this many answers (e.g. to send a signal).
  int trigger_after = -1;
  std::function<void()> trigger;
};

namespace detail {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

struct load_connection : std::enable_shared_from_this<load_connection> {
  load_connection(net::io_context& ioc, const load_options& o, load_result& r, int& answers)
      : stream(ioc), options(o), result(r), answers_total(answers) {}

  beast::tcp_stream stream;
  beast::flat_buffer buffer;
  http::request<http::empty_body> req;
  std::optional<http::response_parser<http::string_body>> parser;
  const load_options& options;
  load_result& result;
  int& answers_total;
  int remaining = 0;
  std::string target;  // of the request in flight
  std::chrono::steady_clock::time_point sent_at;

  void start() {
    remaining = options.requests_per_connection;
    target = options.target;
    req = {http::verb::get, options.target, 11};
    req.set(http::field::host, "127.0.0.1");
    stream.expires_after(std::chrono::seconds(30));
    stream.async_connect({net::ip::make_address("127.0.0.1"), options.port},
                         [self = shared_from_this()](beast::error_code ec) {
                           if (ec) return;  // never sent anything: nothing to account for
                           self->send();
                         });
  }

  void send() {
    if (remaining-- == 0) return close();
    if (!options.targets.empty()) {
      target = options.targets[static_cast<std::size_t>(result.sent) % options.targets.size()];
      req.target(target);
    }
    ++result.sent;
    sent_at = std::chrono::steady_clock::now();
    stream.expires_after(std::chrono::seconds(30));
    http::async_write(stream, req, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return self->failed(ec, 0);
      self->receive();
    });
  }

  void receive() {
    parser.emplace();
    parser->body_limit(1 << 20);
    http::async_read(stream, buffer, *parser,
                     [self = shared_from_this()](beast::error_code ec, std::size_t bytes) {
                       if (ec) return self->failed(ec, bytes);
                       self->answered();
                     });
  }

  void answered() {
    const auto& res = parser->get();
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - sent_at)
            .count();
    ++result.answered;
    ++result.by_status[res.result_int()];
    result.latency_ms.push_back(ms);
    if (res.result_int() == 503) result.latency_503_ms.push_back(ms);
    if (options.check && !options.check(target, res.result_int(), res.body())) ++result.wrong;
    if (++answers_total == options.trigger_after && options.trigger) options.trigger();
    if (!res.keep_alive()) return close();
    send();
  }

  void failed(beast::error_code ec, std::size_t bytes) {
    const bool clean_close = (ec == http::error::end_of_stream || ec == net::error::eof) &&
                             bytes == 0 && buffer.size() == 0;
    if (clean_close)
      ++result.refused;
    else
      ++result.lost;
    close();
  }

  void close() {
    beast::error_code ec;
    stream.socket().shutdown(net::ip::tcp::socket::shutdown_both, ec);
    stream.close();
  }
};

}  // namespace detail

/// Runs the load to completion (every connection done) and returns what happened.
inline load_result run_load(const load_options& options) {
  boost::asio::io_context ioc;
  load_result result;
  int answers = 0;
  for (int i = 0; i < options.connections; ++i)
    std::make_shared<detail::load_connection>(ioc, options, result, answers)->start();
  ioc.run();
  return result;
}

}  // namespace test

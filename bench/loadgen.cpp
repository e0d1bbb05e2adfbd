// The load generator's run: one io_context on the calling thread, a scheduler and a set of
// keep-alive connections per stream. Every handler carries its connection's epoch (bumped at
// each change of state), so a completion that belongs to an earlier request, idle spell or
// socket is recognised and ignored: no request is counted twice.

#include "bench/loadgen.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

namespace loadgen {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using steady = std::chrono::steady_clock;

// Answers bigger than this are broken answers (lost): the server's job answers are tiny.
constexpr std::uint64_t body_limit = 4 << 20;
// A closed-loop connection whose connect failed tries again after this, not in a busy loop.
constexpr auto reconnect_pause = std::chrono::milliseconds(10);

// A response body that is counted, not kept: no allocation per answer.
struct discard_body {
  using value_type = std::uint64_t;  // bytes seen
  struct reader {
    template <bool is_request, class Fields>
    reader(http::header<is_request, Fields>&, value_type& size) : size_(size) {}
    void init(const boost::optional<std::uint64_t>&, beast::error_code& ec) { ec = {}; }
    template <class Buffers>
    std::size_t put(const Buffers& buffers, beast::error_code& ec) {
      ec = {};
      const auto n = net::buffer_size(buffers);
      size_ += n;
      return n;
    }
    void finish(beast::error_code& ec) { ec = {}; }
    value_type& size_;
  };
};

double ms_between(steady::time_point from, steady::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}
double seconds_between(steady::time_point from, steady::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

struct connection {
  enum class state { closed, connecting, idle, busy };
  explicit connection(net::io_context& ioc) : socket(ioc), timer(ioc) {}

  tcp::socket socket;
  net::steady_timer timer;  // the request's deadline, or the closed loop's reconnect pause
  beast::flat_buffer buffer;
  std::optional<http::response_parser<discard_body>> parser;
  state st = state::closed;
  std::uint64_t epoch = 0;
  std::size_t idle_at = 0;  // its index in the idle list while idle
  std::size_t target = 0;   // of the request in flight or waiting for the connect
  steady::time_point scheduled;
};

// One stream: its schedule (or its closed loop), its connections and its counts.
class stream_runner {
 public:
  stream_runner(net::io_context& ioc, const options& o, std::size_t index, tcp::endpoint peer,
                steady::time_point start, stream_result& out)
      : ioc_(ioc),
        o_(o),
        spec_(o.streams[index]),
        peer_(peer),
        start_(start),
        end_(start + o.duration),
        out_(out),
        rng_(o.seed * 0x9E3779B97F4A7C15ull + index),
        gap_(spec_.rate > 0 ? spec_.rate : 1),
        schedule_timer_(ioc) {
    std::vector<double> weights;
    for (const auto& [weight, target] : spec_.mix) {
      weights.push_back(weight);
      requests_.push_back(request_text(target));
    }
    pick_ = std::discrete_distribution<std::size_t>(weights.begin(), weights.end());
    out_.name = spec_.name;
    out_.rate = o.closed > 0 ? 0 : spec_.rate;
  }

  void start() {
    if (o_.closed > 0) {
      for (int i = 0; i < o_.closed; ++i) open(add_connection());
      return;
    }
    next_ = start_;
    if (o_.how == arrivals::poisson) next_ += after(gap_(rng_));
    if (next_ >= end_) return finish_schedule(end_);
    arm_schedule();
  }

  /// Called once the io_context has run dry: every request has its outcome.
  void settle(double run_seconds) {
    out_.offered_rate = out_.schedule_seconds > 0 ? out_.offered / out_.schedule_seconds : 0;
    const auto ok = out_.by_status.count(200) ? out_.by_status.at(200) : 0;
    out_.goodput = run_seconds > 0 ? ok / run_seconds : 0;
  }

 private:
  static steady::duration after(double seconds) {
    return std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(seconds));
  }

  std::string request_text(const std::string& target) const {
    std::string text = "GET " + target + " HTTP/1.1\r\nHost: " + o_.host + ":" +
                       std::to_string(o_.port) + "\r\nUser-Agent: poolserver-loadgen\r\n";
    for (const auto& [name, value] : spec_.headers) text += name + ": " + value + "\r\n";
    return text + "\r\n";
  }

  // --- the open loop's schedule -------------------------------------------------------

  void arm_schedule() {
    schedule_timer_.expires_at(next_);
    schedule_timer_.async_wait([this](beast::error_code ec) {
      if (!ec) tick();
    });
  }

  // Every request whose time has passed leaves now: a late tick sends the backlog at once.
  void tick() {
    const auto now = steady::now();
    out_.max_send_lag_ms = std::max(out_.max_send_lag_ms, ms_between(next_, now));
    while (next_ <= now) {
      offer(next_);
      if (o_.max_requests > 0 && out_.offered >= o_.max_requests) {
        advance();
        return finish_schedule(std::min(next_, end_));
      }
      advance();
      if (next_ >= end_) return finish_schedule(end_);
    }
    arm_schedule();
  }

  void advance() {
    if (o_.how == arrivals::poisson)
      next_ += after(gap_(rng_));
    else  // from the count, so that rounding does not drift
      next_ = start_ + after(static_cast<double>(out_.offered) / spec_.rate);
  }

  void finish_schedule(steady::time_point at) {
    ended_ = true;
    out_.schedule_seconds = seconds_between(start_, at);
    while (!idle_.empty()) close(*idle_.back());
  }

  void offer(steady::time_point scheduled) {
    ++out_.offered;
    connection* c = acquire();
    if (!c) {
      ++out_.not_sent;
      return;
    }
    c->target = pick_(rng_);
    c->scheduled = scheduled;
    if (c->st == connection::state::idle)
      send(*c);
    else
      open(*c);  // sends once connected
  }

  // An idle connection, else a closed one to open (up to max_connections), else none.
  connection* acquire() {
    if (!idle_.empty()) return idle_.back();
    if (open_ >= o_.max_connections) return nullptr;
    if (!closed_.empty()) {
      auto* c = closed_.back();
      closed_.pop_back();
      return c;
    }
    return &add_connection();
  }

  connection& add_connection() {
    connections_.push_back(std::make_unique<connection>(ioc_));
    return *connections_.back();
  }

  // --- one connection's life ---------------------------------------------------------

  std::uint64_t enter(connection& c, connection::state s) {
    if (c.st == connection::state::idle) leave_idle(c);
    c.st = s;
    return ++c.epoch;
  }

  void open(connection& c) {
    const auto e = enter(c, connection::state::connecting);
    ++open_;
    ++out_.connections_opened;
    out_.max_connections_used = std::max(out_.max_connections_used, open_);
    c.socket.async_connect(peer_, [this, &c, e](beast::error_code ec) {
      if (e != c.epoch) return;
      if (ec) return connect_failed(c);
      c.socket.set_option(tcp::no_delay(true), ec);
      if (o_.closed > 0) return send_next(c);
      send(c);
    });
  }

  void connect_failed(connection& c) {
    ++out_.connect_failures;
    if (o_.closed == 0) {
      ++out_.not_sent;  // the request that waited for this connection
      return close(c);
    }
    close(c);
    c.timer.expires_after(reconnect_pause);
    c.timer.async_wait([this, &c, e = c.epoch](beast::error_code ec) {
      if (!ec && e == c.epoch && !closed_loop_done()) open(c);
    });
  }

  // The write and the read start together: the answer cannot come before the request.
  void send(connection& c) {
    const auto e = enter(c, connection::state::busy);
    c.timer.expires_at(c.scheduled + o_.timeout);
    c.timer.async_wait([this, &c, e](beast::error_code ec) {
      if (ec || e != c.epoch) return;
      ++out_.timed_out;
      outcome_closes(c);
    });
    net::async_write(c.socket, net::buffer(requests_[c.target]),
                     [this, &c, e](beast::error_code ec, std::size_t) {
                       if (ec && e == c.epoch) lost(c);
                     });
    c.parser.emplace();
    c.parser->body_limit(body_limit);
    http::async_read(c.socket, c.buffer, *c.parser,
                     [this, &c, e](beast::error_code ec, std::size_t) {
                       if (e != c.epoch) return;
                       if (ec) return lost(c);
                       answered(c);
                     });
  }

  void answered(connection& c) {
    const auto& res = c.parser->get();
    const unsigned status = res.result_int();
    ++out_.answered;
    ++out_.by_status[status];
    out_.latency_ms[status].push_back(ms_between(c.scheduled, steady::now()));
    if (!res.keep_alive()) return outcome_closes(c);
    if (o_.closed > 0) return send_next(c);
    if (ended_) return close(c);
    make_idle(c);
  }

  void lost(connection& c) {
    ++out_.lost;
    outcome_closes(c);
  }

  // The connection cannot be reused; the closed loop replaces it.
  void outcome_closes(connection& c) {
    close(c);
    if (o_.closed > 0 && !closed_loop_done()) open(c);
  }

  // While idle, a wait for readability tells when the server closes the connection (its
  // idle timeout): it leaves the idle list then, rather than lose the next request sent on it.
  void make_idle(connection& c) {
    const auto e = enter(c, connection::state::idle);
    c.idle_at = idle_.size();
    idle_.push_back(&c);
    c.socket.async_wait(tcp::socket::wait_read, [this, &c, e](beast::error_code ec) {
      if (!ec && e == c.epoch) close(c);
    });
  }

  void leave_idle(connection& c) {
    idle_[c.idle_at] = idle_.back();
    idle_[c.idle_at]->idle_at = c.idle_at;
    idle_.pop_back();
  }

  void close(connection& c) {
    if (c.st == connection::state::closed) return;
    enter(c, connection::state::closed);
    beast::error_code ignored;
    c.socket.close(ignored);
    c.timer.cancel();
    c.buffer.clear();
    --open_;
    if (o_.closed == 0) closed_.push_back(&c);
  }

  // --- the closed loop -----------------------------------------------------------------

  bool closed_loop_done() {
    if (closed_done_) return true;
    const auto now = steady::now();
    if (now >= end_ || (o_.max_requests > 0 && out_.offered >= o_.max_requests)) {
      closed_done_ = true;
      out_.schedule_seconds = seconds_between(start_, std::min(now, end_));
    }
    return closed_done_;
  }

  void send_next(connection& c) {
    if (closed_loop_done()) return close(c);
    ++out_.offered;
    c.target = pick_(rng_);
    c.scheduled = steady::now();
    send(c);
  }

  net::io_context& ioc_;
  const options& o_;
  const stream_spec& spec_;
  tcp::endpoint peer_;
  steady::time_point start_, end_;
  stream_result& out_;
  std::mt19937_64 rng_;
  std::exponential_distribution<double> gap_;
  std::discrete_distribution<std::size_t> pick_;
  std::vector<std::string> requests_;  // the bytes of each target's request, made once
  net::steady_timer schedule_timer_;
  steady::time_point next_;
  bool ended_ = false;
  bool closed_done_ = false;
  std::vector<std::unique_ptr<connection>> connections_;  // every one ever made, reused
  std::vector<connection*> idle_;
  std::vector<connection*> closed_;
  std::size_t open_ = 0;
};

bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char ch) {
    return std::isalnum(ch) ||
           std::string_view("!#$%&'*+-.^_`|~").find(ch) != std::string_view::npos;
  });
}

void validate(const options& o) {
  if (o.streams.empty()) throw std::invalid_argument("no stream to run");
  if (o.port == 0) throw std::invalid_argument("no port");
  if (o.duration.count() <= 0) throw std::invalid_argument("the duration must be positive");
  if (o.timeout.count() <= 0) throw std::invalid_argument("the timeout must be positive");
  if (o.max_connections == 0) throw std::invalid_argument("max_connections must be at least 1");
  if (o.closed < 0) throw std::invalid_argument("closed must be 0 (open loop) or more");
  for (const auto& s : o.streams) {
    const auto what = "stream \"" + s.name + "\": ";
    if (o.closed == 0 && !(s.rate > 0 && std::isfinite(s.rate)))
      throw std::invalid_argument(what + "the rate must be a positive number");
    if (s.mix.empty()) throw std::invalid_argument(what + "no target");
    for (const auto& [weight, target] : s.mix)
      if (!(weight > 0) || target.empty() || target[0] != '/' ||
          target.find_first_of(" \r\n") != std::string::npos)
        throw std::invalid_argument(what + "bad mix entry " + target);
    for (const auto& [name, value] : s.headers)
      if (!is_token(name) || value.find_first_of("\r\n") != std::string::npos)
        throw std::invalid_argument(what + "bad header \"" + name + "\"");
  }
}

}  // namespace

result run(const options& o) {
  validate(o);
  const auto host = o.host == "localhost" ? std::string("127.0.0.1") : o.host;
  beast::error_code ec;
  const auto address = net::ip::make_address(host, ec);
  if (ec || !address.is_loopback())
    throw std::invalid_argument("host " + o.host +
                                " is not a loopback address: the load generator only loads "
                                "this machine");

  net::io_context ioc(1);
  result r;
  r.how = o.how;
  r.closed = o.closed;
  r.streams.resize(o.streams.size());
  const auto start = steady::now();
  std::vector<std::unique_ptr<stream_runner>> runners;
  for (std::size_t i = 0; i < o.streams.size(); ++i)
    runners.push_back(std::make_unique<stream_runner>(ioc, o, i, tcp::endpoint(address, o.port),
                                                      start, r.streams[i]));
  for (auto& s : runners) s->start();
  ioc.run();
  r.seconds = seconds_between(start, steady::now());
  for (const auto& s : r.streams) r.seconds = std::max(r.seconds, s.schedule_seconds);
  for (auto& s : runners) s->settle(r.seconds);
  return r;
}

}  // namespace loadgen

#include "actor/client.hpp"

#include <unistd.h>

#include <sstream>

#include <spdlog/spdlog.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/write.hpp>

#include "actor/protocol.hpp"

namespace actor {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

namespace {
constexpr std::size_t max_unsent = 16 << 20;  // bytes of answers not yet written
// The longest deadline taken from the server (a day, as its own longest request timeout):
// a larger one would overflow the clock.
constexpr std::uint64_t max_wait_ms = 86'400'000;
}  // namespace

client::client(net::io_context& io, client_options options, pool::worker_pool& pool,
               const workers::job_registry& registry)
    : io_(io),
      options_(std::move(options)),
      pool_(pool),
      registry_(registry),
      pid_(::getpid()),
      resolver_(io),
      socket_(io),
      retry_timer_(io),
      backoff_(options_.first_backoff),
      leave_timer_(io) {}

void client::start() {
  net::post(io_, [this] { connect(); });
}

void client::stop() {
  if (stopped_) return;
  stopped_ = true;
  if (connected_) disconnect("stopping", false);
  resolver_.cancel();
  retry_timer_.cancel();
  leave_timer_.cancel();
  error_code ec;
  socket_.close(ec);
  if (tls_) tls_->next_layer().close(ec);  // a handshake under way
  if (options_.on_stopped) options_.on_stopped();
}

void client::leave() {
  if (stopped_ || leaving_) return;
  if (!connected_ || peer_ != peer_kind::greeted) return stop();
  leaving_ = true;
  spdlog::info("leaving: the server sends no new job; answering the {} job(s) here first",
               running_.size());
  append_leave(outgoing_);
  flush();
  leave_timer_.expires_after(options_.leave_timeout);
  leave_timer_.async_wait([this](error_code ec) {
    if (ec || stopped_) return;
    spdlog::warn("leaving: {} job(s) still running after {} ms: stopping them (the server runs "
                 "them again elsewhere)",
                 running_.size(), options_.leave_timeout.count());
    stop();
  });
}

void client::connect() {
  if (stopped_) return;
  spdlog::info("connecting to {}:{}", options_.host, options_.port);
  const auto attempt = ++connection_;
  resolver_.async_resolve(
      options_.host, options_.port,
      [this, attempt](error_code ec, const tcp::resolver::results_type& results) {
        if (stopped_ || attempt != connection_) return;
        if (ec) {
          spdlog::warn("cannot resolve {}: {}", options_.host, ec.message());
          return retry_later();
        }
        net::async_connect(socket_, results,
                           [this, attempt](error_code e, const tcp::endpoint& peer) {
                             if (stopped_ || attempt != connection_) return;
                             on_connect(e, peer);
                           });
      });
}

void client::on_connect(error_code ec, const tcp::endpoint& peer) {
  if (ec) {
    spdlog::warn("cannot connect to {}:{}: {}", options_.host, options_.port, ec.message());
    error_code ignored;
    socket_.close(ignored);
    return retry_later();
  }
  error_code opt;
  socket_.set_option(tcp::no_delay(true), opt);  // answers are small and latency-bound
  socket_.set_option(net::socket_base::keep_alive(true), opt);
  if (!options_.tls) return start_session(peer);
  tls_ = std::make_shared<tls_stream>(std::move(socket_), *options_.tls);
  socket_ = tcp::socket(io_);  // for the next connection
  tls_->async_handshake(net::ssl::stream_base::client,
                        [this, tls = tls_, attempt = connection_, peer](error_code e) {
                          if (stopped_ || attempt != connection_) return;
                          on_secured(e, peer);
                        });
}

void client::on_secured(error_code ec, const tcp::endpoint& peer) {
  if (ec) {
    // The server's certificate is not from ACTOR_TLS_CA or does not name the host, or the
    // server refused this actor's: no job can come of this connection; try again later.
    spdlog::error("TLS handshake with {}:{} failed: {}", options_.host, options_.port,
                  ec.message());
    error_code ignored;
    tls_->next_layer().close(ignored);
    tls_.reset();
    return retry_later();
  }
  start_session(peer);
}

void client::start_session(const tcp::endpoint& peer) {
  connected_ = true;
  // The backoff starts again only once this connection proves itself (a job, or staying up
  // for max_backoff): a server that accepts and closes at once, as one past
  // ACTOR_MAX_CONNECTIONS does, would otherwise be tried every 0.1 s forever.
  connected_at_ = std::chrono::steady_clock::now();
  frames_ = frame_reader{};
  outgoing_.clear();
  heard_ = 0;
  std::ostringstream where;
  where << peer;
  spdlog::info("connected to {}{} as process {}: serving jobs on {} local worker(s)",
               where.str(), tls_ ? " (TLS)" : "", pid_, pool_.size());
  if (send_greeting_) {
    peer_ = peer_kind::greeting;
    hello h;
    h.pid = pid_;
    for (const auto& [name, fn] : registry_.kinds()) h.kinds.push_back(name);
    h.workers = pool_.size();
    h.capacity = pool_.size() * pool_.options().queue_capacity;
    h.version = POOLSERVER_VERSION;
    h.token = options_.token;
    append_hello(outgoing_, h);
    flush();
  } else {
    peer_ = peer_kind::seed;
  }
  read_more();
}

void client::read_more() {
  with_stream([&](auto& stream) {
    stream.async_read_some(net::buffer(chunk_), [this, tls = tls_, conn = connection_](
                                                    error_code ec, std::size_t bytes) {
      if (stopped_ || conn != connection_) return;
      on_read(ec, bytes);
    });
  });
}

void client::on_read(error_code ec, std::size_t bytes) {
  if (ec)
    return disconnect(ec == net::error::eof || ec == net::ssl::error::stream_truncated
                          ? "the server closed the connection"
                          : "read: " + ec.message(),
                      !leaving_);
  const auto conn = connection_;
  const bool fits = frames_.feed(std::string_view(chunk_.data(), bytes), [&](std::string_view m) {
    if (conn == connection_) on_message(m);
  });
  if (conn != connection_) return;  // a message ended the connection
  if (!fits)
    return disconnect("a message from the server is longer than " + std::to_string(max_message) +
                          " bytes",
                      true);
  read_more();
}

void client::on_message(std::string_view text) {
  // Answers wait here while the server does not read them; a server that keeps sending
  // jobs meanwhile would grow this without bound.
  if (outgoing_.size() > max_unsent)
    return disconnect("the server sends jobs but does not read the answers", true);
  ++heard_;  // even a malformed message: the server said something
  auto parsed = parse_from_server(text);
  if (auto* bad = std::get_if<malformed>(&parsed))
    return disconnect("malformed message from the server (" + bad->reason + ")", true);
  if (auto* w = std::get_if<welcome>(&parsed)) {
    if (peer_ != peer_kind::greeting) return disconnect("a welcome it did not ask for", true);
    peer_ = peer_kind::greeted;
    backoff_ = options_.first_backoff;  // admitted: a working connection
    spdlog::info("joined: the server (version {}) takes up to {} job(s) at once here", w->version,
                 w->max_in_flight);
    return;
  }
  if (auto* r = std::get_if<refused>(&parsed)) {
    spdlog::error("the server refused this actor: {}", r->reason);
    return disconnect("refused", false);
  }
  if (auto* c = std::get_if<cancel>(&parsed)) {
    // A job answered already, or never here: nothing to stop.
    if (const auto it = running_.find(c->id); it != running_.end())
      it->second->cancel(c->reason == "deadline"   ? pool::stop_reason::deadline
                         : c->reason == "shutdown" ? pool::stop_reason::shutdown
                                                   : pool::stop_reason::client_gone);
    return;
  }
  const auto& req = std::get<job_request>(parsed);
  if (peer_ == peer_kind::greeting) {
    peer_ = peer_kind::seed;
    spdlog::info("the server sends jobs without a welcome: it speaks the seed's protocol only "
                 "(no leave, no cancel)");
  }
  backoff_ = options_.first_backoff;  // a server that sends jobs: a working connection
  ++totals_.received;
  if (!req.invalid_args.empty()) {
    ++totals_.failed;
    append_error(outgoing_, req.id, req.invalid_args);
    return flush();
  }
  run_job(req);
}

void client::run_job(const job_request& req) {
  const auto id = req.id;
  const auto* fn = registry_.find(req.method);
  if (!fn) {
    ++totals_.failed;
    append_error(outgoing_, id, "unknown method '" + req.method + "'");
    return flush();
  }
  // The deadline the server sent, so the job stops when its request stops waiting even if
  // the cancel is late or lost.
  auto deadline = pool::clock::time_point::max();
  if (req.deadline_ms)
    deadline = pool::clock::now() +
               std::chrono::milliseconds(std::min<std::uint64_t>(*req.deadline_ms, max_wait_ms));
  auto token = std::make_shared<pool::cancel_token>(deadline);
  if (!running_.emplace(id, token).second) {
    ++totals_.failed;
    append_error(outgoing_, id, "a job with this id is running here already");
    return flush();
  }
  pool::job j;
  const auto n = req.n;
  j.work = [fn, n](const pool::cancel_token& t) { return (*fn)(n, t); };
  j.token = std::move(token);
  j.done = [this, conn = connection_, id](pool::job_result&& r) {
    net::post(io_, [this, conn, id, r = std::move(r)]() mutable {
      on_job_done(conn, id, std::move(r));
    });
  };
  const char* refusal = nullptr;
  switch (pool_.try_submit(j).status) {
    case pool::submit_status::accepted:
      return;
    case pool::submit_status::full:
    case pool::submit_status::shed:  // the actor's pool admits what fits (no ADMISSION here)
      refusal = "actor overloaded: its local mailboxes are full";
      break;
    case pool::submit_status::closed:
    case pool::submit_status::empty:
      refusal = "actor is shutting down";
      break;
  }
  running_.erase(id);
  ++totals_.failed;
  append_error(outgoing_, id, refusal);
  flush();
}

void client::on_job_done(std::uint64_t conn, std::uint64_t id, pool::job_result&& r) {
  if (r.status == pool::job_status::completed) ++totals_.completed;
  if (r.status == pool::job_status::cancelled) ++totals_.cancelled;
  if (stopped_ || conn != connection_ || !connected_) return;  // its connection is gone
  running_.erase(id);
  switch (r.status) {
    case pool::job_status::completed:
      append_value(outgoing_, id, r.value, pid_);
      break;
    case pool::job_status::failed:
    case pool::job_status::refused:
      ++totals_.failed;
      append_error(outgoing_, id, "job failed: " + r.error);
      break;
    case pool::job_status::cancelled:
      // Stopped by the server's cancel or its deadline: the answer frees its place there.
      append_error(outgoing_, id,
                   "cancelled: " +
                       std::string(pool::stop_reason_names[static_cast<std::size_t>(r.stop)]));
      break;
  }
  flush();
}

void client::flush() {
  if (write_outstanding_ || outgoing_.empty() || !connected_) return;
  writing_.swap(outgoing_);
  write_outstanding_ = true;
  with_stream([&](auto& stream) {
    net::async_write(stream, net::buffer(writing_),
                     [this, tls = tls_, conn = connection_](error_code ec, std::size_t) {
                       on_written(ec, conn);
                     });
  });
}

void client::on_written(error_code ec, std::uint64_t conn) {
  write_outstanding_ = false;
  writing_.clear();
  if (stopped_) return;
  if (ec && conn == connection_) return disconnect("write: " + ec.message(), true);
  flush();  // answers that came meanwhile (on this connection or a new one)
}

void client::disconnect(const std::string& why, bool warn) {
  if (!connected_) return;
  connected_ = false;
  ++connection_;  // handlers of this connection see they are stale
  if (std::chrono::steady_clock::now() - connected_at_ >= options_.max_backoff)
    backoff_ = options_.first_backoff;  // it was up a good while: come back soon
  for (auto& [id, token] : running_) token->cancel(pool::stop_reason::client_gone);
  running_.clear();
  error_code ec;
  auto& raw = tls_ ? tls_->next_layer() : socket_;
  raw.shutdown(tcp::socket::shutdown_both, ec);
  raw.close(ec);
  tls_.reset();  // its pending handlers hold it until they run
  outgoing_.clear();
  spdlog::log(warn ? spdlog::level::warn : spdlog::level::info, "disconnected: {}", why);
  if (leaving_) {
    // The server closes the connection once every job here is answered: the leave is done.
    spdlog::info("left the pool");
    return stop();
  }
  // A server that closed the connection without a word after the greeting may be one that
  // does not take greetings: the next attempt goes without one (and the one after with one
  // again, should that not help either).
  if (heard_ == 0 && !stopped_) {
    if (send_greeting_)
      spdlog::info("the server closed the connection without answering the greeting: trying "
                   "the seed's protocol next");
    send_greeting_ = !send_greeting_;
  }
  retry_later();
}

void client::retry_later() {
  if (stopped_) return;
  // The next wait doubles, with +-20% jitter so that actors cut off together do not come back
  // in lockstep.
  const auto jitter = static_cast<double>(pool::random_index(401)) / 1000.0 + 0.8;
  const auto wait = std::chrono::milliseconds(
      static_cast<std::int64_t>(static_cast<double>(backoff_.count()) * jitter));
  backoff_ = std::min(backoff_ * 2, options_.max_backoff);
  spdlog::info("reconnecting in {} ms", wait.count());
  retry_timer_.expires_after(wait);
  retry_timer_.async_wait([this](error_code ec) {
    if (!ec) connect();
  });
}

}  // namespace actor

#include "server/server.hpp"

#include <cstdlib>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>

#include "server/session.hpp"
#include "sockets/descriptors.hpp"
#include "sockets/listen.hpp"

#ifndef POOLSERVER_VERSION
#define POOLSERVER_VERSION "dev"
#endif

namespace server {

namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

constexpr auto sample_period = std::chrono::milliseconds(500);

// Descriptors kept for what is not a client connection, besides those open at start-up and
// ACTOR_MAX_CONNECTIONS: per IO thread its epoll, eventfd and timerfd; the listeners.
constexpr std::size_t descriptors_per_io_thread = 4;
constexpr std::size_t descriptors_for_listeners = 4;
// Actors may take at most this share of what is left: the rest is for clients.
constexpr std::size_t actor_share_of_descriptors = 4;  // a quarter

/// The settings with ACTOR_MAX_CONNECTIONS and MAX_CONNECTIONS lowered, if need be, to what
/// RLIMIT_NOFILE lets the process open (after raising its soft limit to the hard one); says
/// so in the log.
config::settings fitted_to_descriptors(config::settings s) {
  const auto lim = sockets::raise_descriptor_limit();
  if (lim.soft == 0) return s;  // unknown: leave it
  if (lim.soft > lim.soft_before)
    spdlog::debug("RLIMIT_NOFILE soft limit raised from {} to {} (the hard limit)", lim.soft_before,
                  lim.soft);
  std::size_t reserved = sockets::descriptors_open() +
                         descriptors_per_io_thread * std::max<std::size_t>(s.io_threads, 1) +
                         descriptors_for_listeners;
  if (s.actor_port) {
    const std::uint64_t left = lim.soft > reserved ? lim.soft - reserved : 0;
    const auto actors_fit =
        std::max<std::size_t>(1, static_cast<std::size_t>(left / actor_share_of_descriptors));
    if (actors_fit < s.actor_max_connections) {
      spdlog::warn(
          "ACTOR_MAX_CONNECTIONS lowered from {} to {}: the process may open {} descriptors "
          "(RLIMIT_NOFILE, hard limit {}), and actors may take a quarter of those the server "
          "does not use itself",
          s.actor_max_connections, actors_fit, lim.soft, lim.hard);
      s.actor_max_connections = actors_fit;
    }
    reserved += s.actor_max_connections;
  }
  const std::size_t fit = sockets::connections_that_fit(lim.soft, reserved);
  if (fit == 0)
    throw std::runtime_error(fmt::format(
        "MAX_CONNECTIONS: RLIMIT_NOFILE is {} descriptors (hard limit {}), which leaves no room "
        "for a single connection; raise it (ulimit -n, systemd LimitNOFILE=)",
        lim.soft, lim.hard));
  if (fit < s.max_connections) {
    spdlog::warn(
        "MAX_CONNECTIONS lowered from {} to {}: the process may open {} descriptors "
        "(RLIMIT_NOFILE, hard limit {}); past {} connections clients get 503. Raise the limit "
        "(ulimit -n, systemd LimitNOFILE=) to serve more",
        s.max_connections, fit, lim.soft, lim.hard, fit);
    s.max_connections = fit;
  }
  return s;
}

std::vector<std::unique_ptr<net::io_context>> make_io_contexts(std::size_t n) {
  std::vector<std::unique_ptr<net::io_context>> io;
  // Concurrency hint 1: each io_context is run by exactly one thread.
  for (std::size_t i = 0; i < std::max<std::size_t>(n, 1); ++i)
    io.push_back(std::make_unique<net::io_context>(1));
  return io;
}

}  // namespace

server::server(const config::settings& settings, workers::job_registry registry)
    : settings_(fitted_to_descriptors(settings)),
      registry_(std::move(registry)),
      router_{registry_, settings_.max_n, nullptr},
      pool_({settings.threads,
             settings.queue_capacity,
             settings.strategy,
             settings.worker_nice,
             settings.actor_port.has_value(),
             {settings.admission, settings.admission_target, settings.admission_interval},
             settings.share_jobs}),
      io_(make_io_contexts(settings.io_threads)),
      acceptor_(sockets::listen_on(*io_[0], settings.host, settings.port, "HOST")),
      accept_retry_(*io_[0]),
      sampler_(*io_[0]),
      share_sweeper_(*io_[0]),
      drain_timer_(*io_[0]),
      leave_timer_(*io_[0]),
      signals_(*io_[0]) {
  if (settings.access_log) access_.emplace(settings.log_format);
  if (settings.actor_port) {
    router_.remote = &pool_.kinds();  // kinds the actors offer run there
    std::vector<net::io_context*> ios;
    for (auto& io : io_) ios.push_back(io.get());
    actors_ = std::make_unique<actor_links::actor_listener>(std::move(ios), settings_, pool_);
  }
  if (settings.agent_port)
    agent_ = std::make_unique<agent_check>(*io_[0], settings_.host, *settings.agent_port, [this] {
      return agent_check::line(leaving(), agent_weight_.percent());
    });
}

server::~server() {
  pool_.shutdown();  // no-op after run(); joins the workers if run() never ran
}

tcp::endpoint server::local_endpoint() const {
  return acceptor_.local_endpoint();
}

std::optional<tcp::endpoint> server::actor_endpoint() const {
  if (!actors_) return std::nullopt;
  return actors_->local_endpoint();
}

std::optional<tcp::endpoint> server::agent_endpoint() const {
  if (!agent_) return std::nullopt;
  return agent_->local_endpoint();
}

void server::handle_signals() {
  signals_.add(SIGINT);
  signals_.add(SIGTERM);
  signals_armed_ = true;
}

void server::wait_signal() {
  signals_.async_wait([this](const boost::system::error_code& ec, int signo) {
    if (ec) return;  // cancelled once the drain is complete
    if (leaving()) {
      spdlog::warn("signal {} while stopping: exiting now", signo);
      std::_Exit(1);
    }
    spdlog::info("signal {}: stopping (a second signal exits at once)", signo);
    wait_signal();  // before the drain: a drain with no connection finishes (and cancels) at once
    begin_leave();
  });
}

void server::run() {
  io_running_ = true;
  if (signals_armed_) wait_signal();
  do_accept();
  do_sample();
  if (settings_.admission == pool::admission_mode::adaptive) do_share_sweep();
  if (actors_) actors_->start();
  if (agent_) agent_->start();

  // "While the server is running there is always an asynchronous operation outstanding"
  // (the accept); run() returns once stop() has closed the listener and every connection.
  std::vector<std::thread> io_threads;
  for (std::size_t i = 1; i < io_.size(); ++i) {
    keep_running_.push_back(net::make_work_guard(*io_[i]));
    io_threads.emplace_back([this, i] { run_io(*io_[i]); });
  }
  run_io(*io_[0]);
  for (auto& t : io_threads) t.join();
  io_running_ = false;

  pool_.shutdown();
}

void server::run_io(net::io_context& io) {
  // The jobs this thread submits while it works through the handlers that are ready now
  // wake their workers once, behind those handlers (pool/wake_batch.hpp).
  pool::wake_batch wakes([&] { net::post(io, [&wakes] { wakes.flush(); }); });
  pool::wake_batch::scope deferring(wakes);
  // A handler that throws loses its own connection (its operations, and with them the
  // session, are dropped as the exception unwinds); the thread and every other connection
  // go on: run() may be called again after an exception, without restart().
  for (;;) {
    try {
      io.run();
      return;
    } catch (const std::exception& e) {
      stats_.handler_failed();
      spdlog::error("an IO handler threw ({}): its connection was dropped; please report this",
                    e.what());
    } catch (...) {
      stats_.handler_failed();
      spdlog::error("an IO handler threw: its connection was dropped; please report this");
    }
  }
}

void server::stop() {
  net::post(*io_[0], [this] { begin_leave(); });
}

void server::begin_leave() {
  if (leaving_.exchange(true, std::memory_order_acq_rel)) return;
  if (!agent_ || settings_.agent_drain.count() == 0) return begin_drain();
  // HAProxy asks the agent every agent-inter: for this long it hears drain and stops sending
  // new requests here, while the listener still takes whatever it sent meanwhile. Closing
  // the listener at once instead would refuse those, and rely on HAProxy's retries.
  spdlog::info("stopping: the agent answers drain for {} ms, then the drain begins",
               settings_.agent_drain.count());
  leave_timer_.expires_after(settings_.agent_drain);
  leave_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) begin_drain();
  });
}

void server::begin_drain() {
  leaving_.store(true, std::memory_order_release);
  {
    std::lock_guard lock(sessions_mutex_);
    if (draining_.exchange(true, std::memory_order_acq_rel)) return;
  }
  boost::system::error_code ec;
  acceptor_.close(ec);
  if (actors_) actors_->close();  // the actors there keep serving the requests in progress
  accept_retry_.cancel();
  sampler_.cancel();
  share_sweeper_.cancel();
  drain_timer_.expires_after(settings_.drain_timeout);
  drain_timer_.async_wait([this](const boost::system::error_code& e) { on_drain_deadline(e); });
  const auto live = live_sessions();
  spdlog::info("draining: listener closed, {} connection(s) to finish within {} ms", live.size(),
               settings_.drain_timeout.count());
  for (const auto& s : live) s->stop_if_idle();
  if (live.empty()) finish_drain();
}

void server::on_drain_deadline(const boost::system::error_code& ec) {
  if (ec) return;  // every connection finished in time
  drain_expired_.store(true, std::memory_order_release);
  const auto live = live_sessions();
  spdlog::warn(
      "drain timeout: closing {} connection(s) whatever they are doing (jobs in progress are "
      "answered 503 and cancelled) and every actor link",
      live.size());
  // Whatever a client or an actor does, the process ends now: every connection and every
  // link is closed, and the last one to go finishes the drain.
  for (const auto& s : live) s->terminate();
  if (actors_) actors_->stop();
}

void server::finish_drain() {
  // The last connection is gone: nothing else may keep run() from returning.
  drain_timer_.cancel();
  signals_.cancel();
  if (agent_) agent_->close();   // HAProxy's health check sees the server go from here
  if (actors_) actors_->stop();  // no request waits for their jobs any more
  keep_running_.clear();         // the other io_contexts return from run() once idle
}

std::vector<std::shared_ptr<session>> server::live_sessions() const {
  std::vector<std::shared_ptr<session>> live;
  std::lock_guard lock(sessions_mutex_);
  for (const auto& [ptr, weak] : sessions_)
    if (auto s = weak.lock()) live.push_back(std::move(s));
  return live;
}

void server::do_accept() {
  if (open_connections() >=
      settings_.max_connections + sockets::refusal_room(settings_.max_connections)) {
    // Even the 503s have no descriptors left: let clients wait in the backlog for a moment.
    accept_retry_.expires_after(sockets::accept_pacing::pause);
    accept_retry_.async_wait([this](boost::system::error_code e) {
      if (!e && !draining()) do_accept();
    });
    return;
  }
  auto& io = *io_[next_io_++ % io_.size()];
  acceptor_.async_accept(io, [this](boost::system::error_code ec, tcp_socket socket) {
    if (ec == net::error::operation_aborted || draining()) return;
    if (ec) {
      // Out of descriptors and the like: retry after a pause rather than
      // spin.
      const auto pause = accept_pacing_.failed(ec);
      if (pause.count() == 0) return do_accept();  // the connection's own failure
      accept_retry_.expires_after(pause);
      accept_retry_.async_wait([this](boost::system::error_code e) {
        if (!e && !draining()) do_accept();
      });
      return;
    }
    accept_pacing_.succeeded();
    stats_.connection_accepted();
    std::make_shared<session>(std::move(socket), *this)->start();
    do_accept();
  });
}

void server::do_share_sweep() {
  share_sweeper_.expires_after(client_shares::sweep_period);
  share_sweeper_.async_wait([this](boost::system::error_code ec) {
    if (ec || draining()) return;
    const auto totals = pool_.snapshot().total;
    clients_.sweep(pool::clock::now(), totals.completed + totals.failed + totals.cancelled);
    do_share_sweep();
  });
}

void server::do_sample() {
  sampler_.expires_after(sample_period);
  sampler_.async_wait([this](boost::system::error_code ec) {
    if (ec || draining()) return;
    const auto now = pool::clock::now();
    pool_.sample_throughput(now);
    window_.sample(window_point(now));
    if (agent_)
      agent_weight_.update(now, observability::load_of(observability::view_of(pool_, now)));
    do_sample();
  });
}

admission server::add_session(const std::shared_ptr<session>& s) {
  std::lock_guard lock(sessions_mutex_);
  // Every open socket is counted (and closed by a drain), the ones being refused too.
  const bool full = sessions_.size() >= settings_.max_connections;
  sessions_.emplace(s.get(), s);
  if (draining()) return admission::draining;
  if (full) {
    stats_.connection_rejected();
    return admission::full;
  }
  return admission::admitted;
}

std::size_t server::open_connections() const {
  std::lock_guard lock(sessions_mutex_);
  return sessions_.size();
}

void server::remove_session(const session* s) {
  std::lock_guard lock(sessions_mutex_);
  if (sessions_.erase(s) && sessions_.empty() && draining() && io_running_)
    net::post(*io_[0], [this] { finish_drain(); });
}

observability::live_window::point server::window_point(pool::clock::time_point now) const {
  return {now, stats_.job_time(observability::job_outcome::ok), stats_.responses(503),
          stats_.job_time(observability::job_outcome::refused)};
}

observability::server_view server::view(pool::clock::time_point now) const {
  return {settings_,
          observability::view_of(pool_, now),
          stats_,
          window_.since(window_point(now)),
          actors_ ? std::optional(actors_->counters()) : std::nullopt,
          open_connections(),
          draining(),
          agent_ ? std::optional(agent_weight_.percent()) : std::nullopt,
          std::chrono::duration<double>(now - born_).count()};
}

std::string server::metrics_text() const {
  return observability::metrics_text(view(pool::clock::now()));
}

std::string server::stats_json() const {
  return observability::stats_json(view(pool::clock::now()));
}

}  // namespace server

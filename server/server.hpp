#pragma once
// The server: the listener, the live connections, the worker pool and the metrics page.
// Runs IO_THREADS io_contexts, one thread each; a new connection goes to the next one in
// turn and stays there, so its handlers never run concurrently (no strands needed). The
// first io_context also runs the listener, the signals and the server's timers.

#include <utility>  // before Asio: see docs/architecture.md, known pitfalls

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "actor_links/actor_listener.hpp"
#include "config/config.hpp"
#include "observability/agent_weight.hpp"
#include "observability/http_stats.hpp"
#include "observability/live_window.hpp"
#include "observability/server_pages.hpp"
#include "pool/worker_pool.hpp"
#include "server/access_log.hpp"
#include "server/agent_check.hpp"
#include "server/client_shares.hpp"
#include "server/router.hpp"
#include "sockets/accept_pacing.hpp"
#include "workers/job_registry.hpp"

namespace server {

class session;

/// What the server says to a new connection.
enum class admission { admitted, draining, full };

class server {
 public:
  /// Starts the workers and binds the listening socket (throws if it cannot).
  server(const config::settings& settings, workers::job_registry registry);
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// The bound address, e.g. 127.0.0.1:41234 (the port is real even when PORT=0).
  boost::asio::ip::tcp::endpoint local_endpoint() const;
  /// Where actors connect (ACTOR_HOST:ACTOR_PORT, the port real even when 0); nothing when
  /// ACTOR_PORT is unset.
  std::optional<boost::asio::ip::tcp::endpoint> actor_endpoint() const;
  /// Where HAProxy's agent-check reads the weight (HOST:AGENT_PORT, the port real even when
  /// 0); nothing when AGENT_PORT is unset.
  std::optional<boost::asio::ip::tcp::endpoint> agent_endpoint() const;
  /// Stops gracefully on SIGINT or SIGTERM once run() is running.
  void handle_signals();
  /// Serves until stop(): runs the IO threads (the caller's included), then, once every
  /// connection is closed and every accepted job answered, shuts the pool down.
  void run();
  /// Begins a graceful stop: no new connections, idle ones closed, busy ones answered and
  /// closed. With AGENT_PORT, the agent first answers drain for AGENT_DRAIN_MS while the
  /// server serves on, so that HAProxy stops sending before the listener closes. Safe from
  /// any thread, any number of times.
  void stop();

  /// Whether a stop has begun: the agent answers drain (a drain may not have begun yet).
  bool leaving() const noexcept { return leaving_.load(std::memory_order_acquire); }
  /// Whether the drain has begun: the listener is closed.
  bool draining() const noexcept { return draining_.load(std::memory_order_acquire); }
  /// Whether it takes work: not draining, and some backend (local worker or actor) exists.
  bool ready() const { return !draining() && pool_.backend_count() > 0; }
  /// Whether DRAIN_TIMEOUT_MS has passed since stop() began: new jobs are refused.
  bool drain_expired() const noexcept { return drain_expired_.load(std::memory_order_acquire); }
  /// The settings in effect (MAX_CONNECTIONS lowered to fit RLIMIT_NOFILE, if need be).
  const config::settings& settings() const noexcept { return settings_; }
  pool::worker_pool& workers() noexcept { return pool_; }
  const router_context& router() const noexcept { return router_; }
  observability::http_stats& stats() noexcept { return stats_; }
  /// Who holds how much of the pool (fairness between clients).
  client_shares& clients() noexcept { return clients_; }
  /// The access log (ACCESS_LOG=1), or null.
  const access_log* access() const noexcept { return access_ ? &*access_ : nullptr; }
  /// The metrics page, Prometheus text format 0.0.4.
  std::string metrics_text() const;
  /// The /stats page: one JSON object with the state, the pool's totals, each backend's queue
  /// and in-flight, throughput and p50/p99 latency over the last few seconds.
  std::string stats_json() const;

  /// Counts a new open connection and says whether it may send requests (not when
  /// draining or past MAX_CONNECTIONS: then it is answered and closed, still counted).
  admission add_session(const std::shared_ptr<session>& s);
  /// The connection's socket is closed.
  void remove_session(const session* s);
  /// Sockets open now.
  std::size_t open_connections() const;

 private:
  /// Runs one io_context on this thread, coalescing the wake-ups of the workers it feeds.
  void run_io(boost::asio::io_context& io);
  void do_accept();
  void do_sample();
  /// Fair shares (ADMISSION=adaptive): every client_shares::sweep_period.
  void do_share_sweep();
  /// The counters the live window follows, at `now`.
  observability::live_window::point window_point(pool::clock::time_point now) const;
  /// What /metrics and /stats show, at `now`.
  observability::server_view view(pool::clock::time_point now) const;
  void wait_signal();
  /// Says drain to the agent, and begins the drain AGENT_DRAIN_MS later (at once without an
  /// agent).
  void begin_leave();
  void begin_drain();
  void on_drain_deadline(const boost::system::error_code& ec);
  void finish_drain();
  std::vector<std::shared_ptr<session>> live_sessions() const;

  const config::settings settings_;
  const workers::job_registry registry_;
  router_context router_;  // remote: set once the pool exists
  client_shares clients_;
  pool::worker_pool pool_;
  observability::http_stats stats_;
  std::optional<access_log> access_;
  observability::live_window window_;  // the last few seconds, for /stats
  const pool::clock::time_point born_ = pool::clock::now();

  // Before the io_context: handlers it destroys may hold sessions, which unregister here.
  mutable std::mutex sessions_mutex_;  // connect, disconnect, drain and scrape only
  std::unordered_map<const session*, std::weak_ptr<session>> sessions_;

  // One per IO thread; io_[0] also runs the acceptor, the signals and the timers below.
  std::vector<std::unique_ptr<boost::asio::io_context>> io_;
  std::size_t next_io_ = 0;  // where the next connection goes (acceptor handler only)
  // Keep io_[1..] running while they have no connection, until the drain completes.
  std::vector<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>>
      keep_running_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::unique_ptr<actor_links::actor_listener> actors_;  // when ACTOR_PORT is set
  std::unique_ptr<agent_check> agent_;                   // when AGENT_PORT is set
  observability::agent_weight agent_weight_;             // updated by the sampler
  boost::asio::steady_timer accept_retry_;
  sockets::accept_pacing accept_pacing_{"accept"};  // acceptor handler only
  boost::asio::steady_timer sampler_;
  boost::asio::steady_timer share_sweeper_;
  boost::asio::steady_timer drain_timer_;
  boost::asio::steady_timer leave_timer_;  // AGENT_DRAIN_MS, then the drain
  boost::asio::signal_set signals_;
  bool signals_armed_ = false;
  std::atomic<bool> leaving_{false};
  std::atomic<bool> draining_{false};
  std::atomic<bool> drain_expired_{false};
  std::atomic<bool> io_running_{false};  // remove_session() may post to io_[0] only while true
};

}  // namespace server

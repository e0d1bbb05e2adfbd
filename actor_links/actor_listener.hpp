#pragma once
// Where remote actors connect (ACTOR_HOST:ACTOR_PORT). Each connection becomes an
// actor_link, a backend of the pool, until it ends; the jobs in flight at a link that ends
// are submitted again to the backends left (or answered, when none has room).

#include <utility>  // before Asio: see docs/architecture.md, known pitfalls

#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "actor_links/actor_link.hpp"
#include "config/config.hpp"
#include "observability/actor_port_counters.hpp"
#include "pool/metrics.hpp"
#include "pool/worker_pool.hpp"
#include "sockets/accept_pacing.hpp"

namespace actor_links {

/// Why an actor was refused, as counted in poolserver_actor_refusals_total: its credentials
/// (a missing or wrong token), its TLS handshake, or its greeting (malformed, missing when
/// credentials are required, or not first).
inline constexpr std::array<std::string_view, 3> refusal_names{"credentials", "tls", "greeting"};

class actor_listener {
 public:
  /// Binds ACTOR_HOST:ACTOR_PORT and loads the ACTOR_TLS_* files, if set (throws if it
  /// cannot, saying why). Accepts on `ios[0]`; links are spread over `ios` in turn.
  actor_listener(std::vector<boost::asio::io_context*> ios, const config::settings& settings,
                 pool::worker_pool& pool);
  actor_listener(const actor_listener&) = delete;
  actor_listener& operator=(const actor_listener&) = delete;

  boost::asio::ip::tcp::endpoint local_endpoint() const;
  /// Starts accepting actors.
  void start();
  /// Stops accepting, and stops new links from joining (the server is draining).
  void close();
  /// Ends every link (the server is stopping: no request waits for their jobs any more).
  void stop();

  // For the links:
  pool::worker_pool& pool() noexcept { return pool_; }
  const config::settings& settings() const noexcept { return settings_; }
  /// A job id, unique for the life of the server.
  std::uint64_t next_id() noexcept { return next_id_.fetch_add(1, std::memory_order_relaxed); }
  /// Whether an actor must greet with credentials (ACTOR_TOKEN) to join.
  bool credentials_required() const noexcept;
  /// Whether an actor that greeted so may join: nothing, or what its refusal is counted as
  /// (poolserver_actor_refusals_total's reason) and why, as the actor is told.
  std::optional<std::pair<std::string_view, std::string>> admit(const actor::hello& h) const;
  /// Counts a refused actor.
  void count_refusal(std::string_view reason);
  /// A link joined the pool offering `kinds`, or (a late greeting) offers them now.
  void link_joined(const std::vector<std::string>& kinds);
  /// A link offers `kinds` no more (a late greeting replaced them).
  void link_left(const std::vector<std::string>& kinds);
  /// A link ended for `why` with these jobs in flight: submits again those someone waits for
  /// (or refuses them, 503), and answers the others cancelled. `joined`: it was in the pool,
  /// offering `kinds`; `pid`: the actor's, or 0.
  void link_ended(link_end why, bool joined, const std::vector<std::string>& kinds,
                  std::int64_t pid, std::vector<actor_ledger::taken_back>&& jobs);

  /// The actor port's counters now, for the metrics.
  observability::actor_port_counters counters() const;

 private:
  void do_accept();
  /// Closes an actor's connection past ACTOR_MAX_CONNECTIONS; counts and logs it (paced).
  void refuse(tcp_socket socket, const boost::asio::ip::tcp::endpoint& remote);

  std::vector<boost::asio::io_context*> ios_;
  const config::settings& settings_;
  pool::worker_pool& pool_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::optional<boost::asio::ssl::context> tls_;  // ACTOR_TLS_*: every link handshakes first
  boost::asio::steady_timer accept_retry_;         // the pause after an accept error
  sockets::accept_pacing pacing_{"actor accept"};  // acceptor handler only
  std::size_t next_io_ = 0;                        // acceptor handler only
  std::atomic<std::uint64_t> next_id_{1};

  mutable std::mutex links_mutex_;  // connect, disconnect, stop and scrape only
  std::vector<std::weak_ptr<actor_link>> links_;
  bool stopped_ = false;

  std::atomic<std::size_t> open_links_{0};  // accepted, not ended: ACTOR_MAX_CONNECTIONS
  sockets::log_pace refusal_log_;           // acceptor handler only
  std::uint64_t refusals_unlogged_ = 0;     // acceptor handler only
  std::atomic<std::uint64_t> connects_{0};
  std::atomic<std::uint64_t> connections_refused_{0};
  std::array<std::atomic<std::uint64_t>, link_end_names.size()> disconnects_{};
  std::array<std::atomic<std::uint64_t>, refusal_names.size()> refusals_{};
  std::atomic<std::uint64_t> redispatched_{0};  // jobs of a lost actor that another backend took
  std::atomic<std::uint64_t> refused_{0};       // ... that no backend had room for (503)
};

}  // namespace actor_links

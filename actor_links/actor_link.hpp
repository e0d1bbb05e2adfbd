#pragma once
// The server's end of one remote actor's connection, and a backend of the pool: the socket,
// its timer, and an actor_ledger (actor_ledger.hpp) that says what the bytes mean and holds
// the jobs in flight. Jobs are framed onto the socket as the actor protocol says
// (actor/protocol.hpp); answers come back in any order and are matched by id. A link lives on
// one io_context; try_submit() is called from any IO thread and goes to the ledger, under its
// mutex (a remote job costs a network round trip: the lock is not what limits it).

#include <utility>  // before Asio: see docs/architecture.md, known pitfalls

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>
#include <string>

#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/io_context.hpp>

#include "actor_links/actor_ledger.hpp"
#include "pool/remote_backend.hpp"
#include "sockets/asio_types.hpp"
#include "sockets/tls.hpp"

namespace actor_links {

using sockets::steady_timer;
using sockets::tcp_socket;

class actor_listener;

/// Why a link ended, as counted in poolserver_actor_disconnects_total (for an actor that had
/// joined the pool) or poolserver_actor_refusals_total (for one that never did).
enum class link_end : std::uint8_t {
  closed,     ///< the actor closed the connection or it failed (reset, write error)
  malformed,  ///< the actor broke the protocol (malformed, oversized, unknown id)
  timeout,    ///< jobs in flight and nothing heard, or a write waiting, for ACTOR_TIMEOUT_MS
  shutdown,   ///< the server is stopping
  left,       ///< the actor said it leaves, and every job it held was answered
  refused,    ///< the actor was not admitted (credentials, greeting): it never joined
};
inline constexpr std::array<std::string_view, 6> link_end_names{
    "closed", "malformed", "timeout", "shutdown", "left", "refused"};

/// How long a link waits for a greeting before it takes a silent actor for a seed one (when
/// the server asks for no credentials). An actor that greets does so as soon as it connects.
/// The greeting follows the TCP (or TLS) handshake at once, so this is short.
inline constexpr std::chrono::milliseconds greeting_window{50};
/// How often a link looks for jobs a greeted actor holds whose requests stopped waiting.
inline constexpr std::chrono::milliseconds cancel_period{5};
/// The one kind a seed actor (one that did not greet) runs.
inline constexpr std::string_view seed_kind = "square_sum";

class actor_link final : public pool::remote_backend,
                         public std::enable_shared_from_this<actor_link> {
 public:
  /// `tls`: the server's TLS context when ACTOR_TLS_* are set (the actor must complete a
  /// mutual TLS handshake first), else null.
  actor_link(tcp_socket&& socket, actor_listener& owner, std::string name,
             boost::asio::ssl::context* tls);

  /// Starts reading: the actor joins the pool once it greeted (or, when the server asks for
  /// no credentials, once it stayed silent for greeting_window: a seed actor).
  void start();
  /// Ends the link (from any thread): the server is stopping.
  void stop();

  bool try_submit(pool::job& j) override;
  bool offers(std::string_view kind) const override;
  std::size_t in_flight() const override { return ledger_.in_flight(); }
  pool::worker_stats stats() const override { return ledger_.stats(); }
  const std::string& name() const override { return name_; }
  /// The actor's process id, once its greeting or first answer said it (0 before).
  std::int64_t pid() const noexcept { return ledger_.pid(); }

 private:
  /// Joins the pool offering `kinds`.
  void join(std::vector<std::string> kinds, bool greeted);
  std::vector<std::string> kinds() const;
  static std::string listed(const std::vector<std::string>& kinds);
  std::optional<std::string> on_control(actor_ledger::control&& c);
  /// Tells the actor why it is refused, then ends the link once that is written.
  void refuse(std::string_view counted_as, const std::string& why);
  /// Runs `f` with the stream the protocol goes over: the TLS one, or the plain socket.
  template <class F>
  void with_stream(F&& f) {
    if (tls_)
      f(*tls_);
    else
      f(socket_);
  }
  tcp_socket& raw() noexcept { return tls_ ? tls_->next_layer() : socket_; }
  void on_handshake(boost::system::error_code ec);
  void read_more();
  void on_read(boost::system::error_code ec, std::size_t bytes);
  void flush();
  void on_write(boost::system::error_code ec);
  void watch();
  /// Ends the link: leaves the pool, closes the socket, hands its jobs to the listener.
  void end(link_end why, const std::string& detail);

  tcp_socket socket_;  // the connection, unless tls_ holds it
  std::unique_ptr<sockets::tls_socket> tls_;
  bool handshaken_ = false;  // link thread only: TLS done (or none to do)
  steady_timer timer_;
  actor_listener& owner_;
  const std::string name_;
  actor_ledger ledger_;
  std::array<char, 4096> chunk_;
  std::string writing_;  // the bytes of the write outstanding (link thread only)
  bool ended_ = false;   // link thread only
  bool joined_ = false;  // link thread only: in the pool (or it was)
  std::string refusing_;  // link thread only: the refusal being written, then the end
  std::chrono::steady_clock::time_point connected_at_;  // link thread only
  // The kinds it offers: set when it joins, and once more if its greeting comes late.
  mutable std::mutex kinds_mutex_;
  std::vector<std::string> kinds_;
};

}  // namespace actor_links

#pragma once
// The server's end of one remote actor's connection, and a backend of the pool. Jobs are
// framed onto the socket as the actor protocol says (actor/protocol.hpp); answers come back
// in any order and are matched by id. A link lives on one io_context; try_submit() is
// called from any IO thread, so what it shares with the link's thread sits under a mutex
// (a remote job costs a network round trip: the lock is not what limits it).
//
// Exactly once: a job lives in `in_flight_` from try_submit() until its answer arrives or
// the link ends, and whoever takes it out of the map (under the mutex) is the only one who
// answers it or submits it again.

#include <utility>  // before Asio: see ARCHITECTURE.md, known pitfalls

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/io_context.hpp>

#include "actor/framing.hpp"
#include "actor/protocol.hpp"
#include "pool/remote_backend.hpp"
#include "server/session.hpp"  // io_executor, tcp_socket, steady_timer

namespace server {

class actor_listener;

/// Why a link ended, as counted in poolserver_actor_disconnects_total.
enum class link_end : std::uint8_t {
  closed,     ///< the actor closed the connection or it failed (reset, write error)
  malformed,  ///< the actor broke the protocol (malformed, oversized, unknown id)
  timeout,    ///< jobs in flight and nothing heard for ACTOR_TIMEOUT_MS
  shutdown,   ///< the server is stopping
};
inline constexpr std::array<std::string_view, 4> link_end_names{"closed", "malformed", "timeout",
                                                                "shutdown"};

class actor_link final : public pool::remote_backend,
                         public std::enable_shared_from_this<actor_link> {
 public:
  actor_link(tcp_socket&& socket, actor_listener& owner, std::string name);

  /// Joins the pool and starts reading answers and watching for silence.
  void start();
  /// Ends the link (from any thread): the server is stopping.
  void stop();

  bool try_submit(pool::job& j) override;
  std::size_t in_flight() const override;
  pool::worker_stats stats() const override;
  const std::string& name() const override { return name_; }
  /// The actor's process id, once its first answer said it (0 before).
  std::int64_t pid() const noexcept { return pid_.load(std::memory_order_relaxed); }

 private:
  struct pending {
    pool::job job;
    pool::clock::time_point sent;  // accepted for sending
  };

  void read_more();
  void on_read(boost::system::error_code ec, std::size_t bytes);
  /// One message from the actor.
  void on_message(std::string_view text);
  void flush();
  void on_write(boost::system::error_code ec);
  void watch();
  /// Ends the link: leaves the pool, closes the socket, hands its jobs to the listener.
  void end(link_end why, const std::string& detail);

  tcp_socket socket_;
  steady_timer timer_;
  actor_listener& owner_;
  const std::string name_;
  actor::frame_reader frames_;
  std::array<char, 4096> chunk_;
  std::string writing_;  // the bytes of the write outstanding (link thread only)
  bool ended_ = false;   // link thread only

  mutable std::mutex mutex_;  // guards the members below
  std::unordered_map<std::uint64_t, pending> in_flight_;
  std::string outgoing_;         // framed jobs not yet handed to a write
  bool flushing_ = false;        // a flush is posted or a write is outstanding
  bool closed_ = false;          // no more jobs: the link ended
  pool::clock::time_point heard_{};  // last message, or when in_flight_ became non-empty
  std::uint64_t produced_ = 0;
  std::uint64_t producer_waits_ = 0;
  std::uint64_t consumed_ = 0;
  std::uint64_t completed_ = 0;
  std::uint64_t failed_ = 0;
  pool::histogram latency_{true};

  std::atomic<std::int64_t> pid_{0};
};

}  // namespace server

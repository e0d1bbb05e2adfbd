#pragma once
// The actor process's connection to a server: connects (and reconnects with backoff), takes
// jobs off the wire, runs them on its own local pool, and sends the answers back. Everything
// here runs on one io_context thread; the pool's workers post their results to it.

#include <utility>  // before Asio: see docs/architecture.md, known pitfalls

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "actor/framing.hpp"
#include "actor/protocol.hpp"
#include "pool/cancel.hpp"
#include "sockets/tls.hpp"
#include "pool/worker_pool.hpp"
#include "workers/job_registry.hpp"

namespace actor {

struct client_options {
  std::string host;
  std::string port;
  std::chrono::milliseconds first_backoff{100};  ///< wait before the first reconnect
  std::chrono::milliseconds max_backoff{5'000};  ///< the wait doubles up to this
  std::string token;  ///< ACTOR_TOKEN, sent in the greeting (empty: none)
  /// ACTOR_TLS_*: connect with mutual TLS (the context checks the server's certificate and
  /// name); null: plain TCP.
  boost::asio::ssl::context* tls = nullptr;
  /// The longest a leave waits for the jobs in flight to be answered (DRAIN_TIMEOUT_MS).
  std::chrono::milliseconds leave_timeout{10'000};
  /// Called once stop() has run (whoever called it): the caller may end the io_context's
  /// other work then.
  std::function<void()> on_stopped;
};

/// What this actor did with the jobs it was sent, for its last log line.
struct client_totals {
  std::uint64_t received = 0;   ///< jobs the servers sent
  std::uint64_t completed = 0;  ///< run to their end (answered, unless the connection ended)
  std::uint64_t failed = 0;     ///< answered with an error (the job's, or not run)
  std::uint64_t cancelled = 0;  ///< stopped: a cancel, its deadline, or its connection's end
};

class client {
 public:
  client(boost::asio::io_context& io, client_options options, pool::worker_pool& pool,
         const workers::job_registry& registry);
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  /// Connects, and keeps reconnecting until stop().
  void start();
  /// Closes the connection for good; jobs still running are cancelled. Call on the io thread.
  void stop();
  /// Leaves gracefully where the server understands it (it greeted back): says so, answers
  /// the jobs in flight and those already on their way, and stops once the server closes the
  /// connection, or after leave_timeout. Anywhere else, stop(). Call on the io thread.
  void leave();
  const client_totals& totals() const noexcept { return totals_; }

 private:
  void connect();
  void on_connect(boost::system::error_code ec, const boost::asio::ip::tcp::endpoint& peer);
  void on_secured(boost::system::error_code ec, const boost::asio::ip::tcp::endpoint& peer);
  void start_session(const boost::asio::ip::tcp::endpoint& peer);
  /// Runs `f` with the stream of this connection: the TLS one, or the plain socket.
  template <class F>
  void with_stream(F&& f) {
    if (tls_)
      f(*tls_);
    else
      f(socket_);
  }
  void read_more();
  void on_read(boost::system::error_code ec, std::size_t bytes);
  void on_message(std::string_view text);
  void run_job(const job_request& req);
  void on_job_done(std::uint64_t connection, std::uint64_t id, pool::job_result&& r);
  void flush();
  void on_written(boost::system::error_code ec, std::uint64_t conn);
  /// Ends this connection (the server left or misbehaved) and schedules the next attempt.
  void disconnect(const std::string& why, bool warn);
  void retry_later();

  boost::asio::io_context& io_;
  client_options options_;
  pool::worker_pool& pool_;
  const workers::job_registry& registry_;
  const std::int64_t pid_;

  boost::asio::ip::tcp::resolver resolver_;
  boost::asio::ip::tcp::socket socket_;
  // With TLS, each connection's stream, which takes socket_ over; shared with its pending
  // handlers, so that one ended keeps its engine until they have run.
  using tls_stream = boost::asio::ssl::stream<boost::asio::ip::tcp::socket>;
  std::shared_ptr<tls_stream> tls_;
  boost::asio::steady_timer retry_timer_;
  std::chrono::milliseconds backoff_;
  std::chrono::steady_clock::time_point connected_at_;
  bool stopped_ = false;
  bool connected_ = false;
  bool leaving_ = false;
  boost::asio::steady_timer leave_timer_;

  // The greeting: sent first unless the last attempt suggests a server that does not take
  // it (it closed the connection without a word); the server's welcome says it speaks the
  // lifecycle messages, a job before any welcome that it speaks only the seed's.
  enum class peer_kind { greeting, seed, greeted };
  peer_kind peer_ = peer_kind::greeting;
  bool send_greeting_ = true;
  std::uint64_t heard_ = 0;  // messages from the server on this connection
  client_totals totals_;

  // Per connection: answers to jobs of an older connection are dropped, and its jobs are
  // cancelled when it ends. Each job has its own token: the server may cancel one.
  std::uint64_t connection_ = 0;
  std::unordered_map<std::uint64_t, std::shared_ptr<pool::cancel_token>> running_;
  frame_reader frames_;
  std::array<char, 4096> chunk_;
  std::string outgoing_;  // framed answers not yet handed to a write
  std::string writing_;   // the bytes of the write outstanding
  bool write_outstanding_ = false;
};

}  // namespace actor

#pragma once
// The actor process's connection to a server: connects (and reconnects with backoff), takes
// jobs off the wire, runs them on its own local pool, and sends the answers back. Everything
// here runs on one io_context thread; the pool's workers post their results to it.

#include <utility>  // before Asio: see docs/architecture.md, known pitfalls

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "actor/framing.hpp"
#include "pool/cancel.hpp"
#include "pool/worker_pool.hpp"
#include "workers/job_registry.hpp"

namespace actor {

struct client_options {
  std::string host;
  std::string port;
  std::chrono::milliseconds first_backoff{100};  ///< wait before the first reconnect
  std::chrono::milliseconds max_backoff{5'000};  ///< the wait doubles up to this
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

 private:
  void connect();
  void on_connect(boost::system::error_code ec, const boost::asio::ip::tcp::endpoint& peer);
  void read_more();
  void on_read(boost::system::error_code ec, std::size_t bytes);
  void on_message(std::string_view text);
  void run_job(std::uint64_t id, std::string_view method, std::uint64_t n);
  void on_job_done(std::uint64_t connection, std::uint64_t id, pool::job_result&& r);
  void flush();
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
  boost::asio::steady_timer retry_timer_;
  std::chrono::milliseconds backoff_;
  std::chrono::steady_clock::time_point connected_at_;
  bool stopped_ = false;
  bool connected_ = false;

  // Per connection: answers to jobs of an older connection are dropped, and its jobs are
  // cancelled through its token.
  std::uint64_t connection_ = 0;
  std::shared_ptr<pool::cancel_token> token_;
  frame_reader frames_;
  std::array<char, 4096> chunk_;
  std::string outgoing_;  // framed answers not yet handed to a write
  std::string writing_;   // the bytes of the write outstanding
  bool write_outstanding_ = false;
};

}  // namespace actor

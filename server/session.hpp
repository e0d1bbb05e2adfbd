#pragma once
// One HTTP/1.1 connection: reads a request, routes it, runs its job on the pool, writes the
// answer, and reads the next (keep-alive, pipelining). Everything runs on the connection's
// strand; the session keeps itself alive through shared_from_this() bound into each
// pending operation. Each request gets exactly one answer: whichever comes first of the
// job's result, its deadline, or shutdown, and later arrivals are ignored.

#include <utility>  // before Asio: see ARCHITECTURE.md, known pitfalls

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "pool/job.hpp"
#include "server/router.hpp"

namespace server {

class server;

class session : public std::enable_shared_from_this<session> {
 public:
  /// Limits of one request, next to what they limit; the timeouts are settings.
  static constexpr std::uint32_t header_limit = 8 * 1024;  ///< beyond: 431
  static constexpr std::uint64_t body_limit = 64 * 1024;   ///< beyond: 413
  /// Bytes buffered per connection, pipelined requests included: at most one request of
  /// each limit (so a client cannot queue unbounded work on one connection).
  static constexpr std::size_t buffer_limit = header_limit + body_limit;
  static constexpr std::chrono::seconds write_timeout{30};
  /// After our FIN, how long to keep reading (and discarding) so that data still in flight
  /// from the client does not turn the close into a reset that loses our last answer.
  static constexpr std::chrono::seconds linger_timeout{2};

  session(boost::asio::ip::tcp::socket&& socket, server& owner);
  ~session();

  /// Registers with the server and starts reading; answers 503 and closes when the server
  /// is at MAX_CONNECTIONS.
  void start();
  /// Draining: closes the connection if it waits for a request; a request being received
  /// or answered is finished first (then the connection closes).
  void stop_if_idle();
  /// Drain deadline: answers the job in progress 503 now and cancels it.
  void cancel_for_shutdown();

 private:
  enum class phase {
    idle,     // waiting for the first byte of the next request
    reading,  // receiving a request
    queued,   // waiting for room in a mailbox (BACKPRESSURE=wait)
    running,  // the job is in a mailbox or running
    writing,  // the answer is being written
    closing,  // lingering after our FIN
  };

  void do_read();
  void on_first_bytes(boost::beast::error_code ec, std::size_t bytes);
  void read_request();
  void on_read(boost::beast::error_code ec, std::size_t bytes);
  void handle(boost::beast::http::request<boost::beast::http::string_body>&& req);
  void submit(job_call&& call);
  void dispatch_job();
  void on_job_done(std::uint64_t generation, pool::job_result&& r);
  void on_deadline(std::uint64_t generation, boost::beast::error_code ec);
  void watch_for_disconnect();
  void answer(reply&& r);
  void on_write(boost::beast::error_code ec, std::size_t bytes);
  void stop_watching();
  /// Closes after the answer: FIN, then linger (no read may be in flight).
  void do_close();
  /// FIN and the linger deadline; false if the socket is already gone.
  bool begin_close();
  void linger();

  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_{buffer_limit};
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  boost::beast::http::response<boost::beast::http::string_body> res_;  // alive until written
  boost::asio::steady_timer timer_;  // the job's deadline, or the next try for room
  server& server_;

  phase phase_ = phase::idle;
  bool keep_alive_ = false;  // of the request being answered
  bool head_ = false;        // the request is HEAD: answer without a body
  unsigned version_ = 11;
  pool::clock::time_point started_{};  // when the request being answered was read
  std::uint64_t generation_ = 0;       // of the job in progress; stale results are ignored
  job_call call_;                      // the job being run for this request
  pool::job pending_;                  // a job waiting for room (BACKPRESSURE=wait)
  std::shared_ptr<pool::cancel_token> token_;
  pool::clock::time_point room_deadline_{};  // when waiting for room turns into a 503
  std::chrono::microseconds retry_delay_{};
};

}  // namespace server

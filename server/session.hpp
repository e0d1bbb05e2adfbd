#pragma once
// One HTTP/1.1 connection: reads a request, routes it, runs its job on the pool, writes the
// answer, and reads the next (keep-alive). Everything runs on the connection's strand; the
// session keeps itself alive through shared_from_this() bound into each pending operation.

#include <utility>  // before Asio: see ARCHITECTURE.md, known pitfalls

#include <chrono>
#include <memory>
#include <optional>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "pool/job.hpp"
#include "server/router.hpp"

namespace server {

class server;

class session : public std::enable_shared_from_this<session> {
 public:
  /// Limits of one request, next to what they limit.
  static constexpr std::chrono::seconds read_timeout{30};  ///< idle keep-alive and slow sends
  static constexpr std::chrono::seconds write_timeout{30};
  static constexpr std::uint32_t header_limit = 8 * 1024;  ///< beyond: 431
  static constexpr std::uint64_t body_limit = 64 * 1024;   ///< beyond: 413

  session(boost::asio::ip::tcp::socket&& socket, server& owner);
  ~session();

  /// Registers with the server and starts reading.
  void start();
  /// Closes the connection if it is waiting for a request; a request being answered is
  /// finished first (and then the connection closes, as the server is draining).
  void stop_if_idle();

 private:
  void do_read();
  void on_read(boost::beast::error_code ec, std::size_t bytes);
  void handle(boost::beast::http::request<boost::beast::http::string_body>&& req);
  void submit(job_call&& call);
  void on_job_done(pool::job_result&& r);
  void send(reply&& r);
  void on_write(boost::beast::error_code ec, std::size_t bytes);
  void do_close();

  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  boost::beast::http::response<boost::beast::http::string_body> res_;  // alive until written
  server& server_;

  bool reading_ = false;     // an async_read for a new request is outstanding
  bool keep_alive_ = false;  // of the request being answered
  unsigned version_ = 11;
  pool::clock::time_point started_{};  // when the request being answered was read
  job_call call_;                      // the job being run for this request
};

}  // namespace server

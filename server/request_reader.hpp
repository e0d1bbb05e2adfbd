#pragma once
// Reads HTTP/1.x requests out of the bytes a connection has received: one Beast parser per
// message, with the limits next to it. No sockets: the session and the fuzzer run the same
// code, so what is fuzzed is what serves.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

namespace server {

using request = boost::beast::http::request<boost::beast::http::string_body>;

class request_reader {
 public:
  /// Limits of one request.
  static constexpr std::uint32_t header_limit = 8 * 1024;  ///< beyond: 431
  static constexpr std::uint64_t body_limit = 64 * 1024;   ///< beyond: 413
  /// Bytes buffered per connection, pipelined requests included: one request of each limit
  /// at most, so a client cannot queue unbounded work on one connection.
  static constexpr std::size_t buffer_limit = header_limit + body_limit;

  enum class state {
    need_more,  ///< the message is not complete: read more bytes into the buffer
    complete,   ///< take() it
    failed,     ///< malformed or too large: answer error_status() and close
  };

  request_reader() { reset(); }

  /// Parses the bytes in `buffer` (at most buffer_limit of them), consuming those of the
  /// current message; bytes after a complete message stay there for the next one.
  state feed(boost::beast::flat_buffer& buffer);
  /// The peer closed its side: failed if part of a message had arrived, else need_more
  /// (a clean close between messages).
  state at_eof();
  /// Whether any byte of the current message has been read.
  bool started() const noexcept { return parser_->got_some(); }
  /// The complete message; the reader starts afresh for the next one.
  request take();

  /// After failed: 400, 413 or 431.
  unsigned error_status() const noexcept;
  /// After failed: what was wrong, for the JSON error.
  std::string error_message() const;
  /// After failed: Beast's error.
  boost::beast::error_code error() const noexcept { return error_; }

 private:
  void reset();

  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  boost::beast::error_code error_;
};

}  // namespace server

#pragma once
// Reads HTTP/1.x requests out of the bytes a connection has received: one Beast parser per
// message, with the limits next to it. No sockets: the session and the fuzzer run the same
// code, so what is fuzzed is what serves.

#include <cstddef>
#include <cstdint>
#include <functional>
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
  /// A chunked body's trailer section (and any one chunk-size line) is bounded like the
  /// header: beyond, 431. Beast bounds neither, and throws for a field over 64 KiB.
  static constexpr std::uint32_t trailer_limit = header_limit;
  static constexpr std::uint64_t body_limit = 64 * 1024;  ///< beyond: 413
  /// Bytes buffered per connection, pipelined requests included: one request of each limit
  /// at most, so a client cannot queue unbounded work on one connection.
  static constexpr std::size_t buffer_limit = header_limit + body_limit;

  enum class state {
    need_more,  ///< the message is not complete: read more bytes into the buffer
    /// The header asks `Expect: 100-continue` and its body has not arrived: send
    /// `100 Continue`, then feed() again (returned once per message).
    continue_expected,
    complete,  ///< take() it
    failed,    ///< malformed or too large: answer error_status() and close
  };

  request_reader() { reset(); }
  // The parser holds a reference to chunk_header_, which captures this.
  request_reader(const request_reader&) = delete;
  request_reader& operator=(const request_reader&) = delete;

  /// Parses the bytes in `buffer` (at most buffer_limit of them), consuming those of the
  /// current message; bytes after a complete message stay there for the next one. Never
  /// throws: whatever Beast throws for a message becomes `failed`.
  state feed(boost::beast::flat_buffer& buffer);
  /// The peer closed its side: failed if part of a message had arrived, else need_more
  /// (a clean close between messages).
  state at_eof();
  /// Whether any byte of the current message has been read.
  bool started() const noexcept { return parser_->got_some(); }
  /// Whether the current message's header is complete (its body may not be).
  bool header_done() const noexcept { return parser_->is_header_done(); }
  /// The current message's header, once header_done().
  const request& header() const { return parser_->get(); }
  /// The complete message; the reader starts afresh for the next one.
  request take();

  /// After failed: 400, 413, 417 or 431.
  unsigned error_status() const noexcept;
  /// After failed: what was wrong, for the JSON error.
  std::string error_message() const;
  /// After failed: Beast's error (or expectation_failed / trailer_limit, below).
  boost::beast::error_code error() const noexcept { return error_; }

 private:
  void reset();
  /// Once the header is done: checks its Expect field.
  state on_header();

  /// Beast's chunk-header callback: at the last chunk, whose trailer section is complete
  /// in the buffer, refuses a trailer over trailer_limit before Beast parses its fields.
  void on_chunk_header(std::uint64_t size, boost::beast::string_view extensions,
                       boost::beast::error_code& ec);

  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  std::function<void(std::uint64_t, boost::beast::string_view, boost::beast::error_code&)>
      chunk_header_ = [this](std::uint64_t size, boost::beast::string_view ext,
                             boost::beast::error_code& ec) { on_chunk_header(size, ext, ec); };
  const char* window_begin_ = nullptr;  // the bytes given to the put() in progress
  const char* window_end_ = nullptr;
  boost::beast::error_code error_;
  bool header_seen_ = false;   // on_header() has run for this message
  bool expect_unmet_ = false;  // an expectation other than 100-continue: 417
  bool trailer_over_ = false;  // the trailer section (or a chunk-size line) is too long: 431
};

}  // namespace server

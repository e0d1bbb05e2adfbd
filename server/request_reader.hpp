#pragma once
// Reads HTTP/1.x requests out of the bytes a connection has received: one Beast parser per
// message, with the limits next to it. No sockets: the session and the fuzzer run the same
// code, so what is fuzzed is what serves.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

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
  // The header and a chunked body's trailer section together are bounded by header_limit
  // (beyond: 431); Beast bounds no trailer, and throws for a field over 64 KiB.
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
  /// The complete message, without its trailer fields (never merged into the header);
  /// keep-alive off when its framing says the connection must close after it. The reader
  /// starts afresh for the next one.
  request take();

  /// After failed: 400, 413, 414, 417, 431, 501 or 505.
  unsigned error_status() const noexcept;
  /// After failed: what was wrong, for the JSON error.
  std::string error_message() const;
  /// After failed: Beast's error (header_limit or bad_value for the checks made here).
  boost::beast::error_code error() const noexcept { return error_; }

 private:
  void reset();
  /// Once the header is done: the checks Beast does not make (version, Host,
  /// Transfer-Encoding, the header section's size, Expect).
  state on_header();
  /// Fails the message with this status and message.
  state fail(unsigned status, std::string message);
  /// Once the header is done (from on_header or, within the same put(), the first chunk
  /// header): its size.
  void note_header_end();
  /// Whether `field` is one of the header section's (not the trailer's).
  bool in_header(const boost::beast::http::fields::value_type& field) const noexcept;
  /// A header over the limit: 414 when its request line is what is too long, else 431.
  state too_long(const boost::beast::flat_buffer& buffer);

  /// Beast's chunk-header callback: at the last chunk, whose trailer section is complete
  /// in the buffer, refuses one that with the header exceeds header_limit, before Beast
  /// parses its fields.
  void on_chunk_header(std::uint64_t size, boost::beast::string_view extensions,
                       boost::beast::error_code& ec);

  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  std::function<void(std::uint64_t, boost::beast::string_view, boost::beast::error_code&)>
      chunk_header_ = [this](std::uint64_t size, boost::beast::string_view ext,
                             boost::beast::error_code& ec) { on_chunk_header(size, ext, ec); };
  const char* window_begin_ = nullptr;  // the bytes given to the put() in progress
  const char* window_end_ = nullptr;
  boost::beast::error_code error_;
  bool header_seen_ = false;         // on_header() has run for this message
  std::size_t header_consumed_ = 0;  // header bytes Beast consumed before it was whole
  std::size_t header_bytes_ = 0;     // the header section's size, once seen
  // The header section's fields, by address, once the last chunk came (empty before): Beast
  // adds the trailer's fields to the same container, each next to any of the same name.
  std::vector<const void*> header_fields_;
  bool close_after_ = false;  // framing that cannot be trusted: close after answering
  unsigned status_ = 0;       // a failure decided here rather than by Beast
  std::string message_;       // ... and what it says
};

}  // namespace server

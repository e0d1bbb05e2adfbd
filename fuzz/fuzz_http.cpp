// libFuzzer target: raw bytes from a client, as a connection would receive them.
//
// The bytes go through Beast's request parser with the server's limits (server/session.hpp),
// one fresh parser per message as server::session does, so pipelined requests are read in
// turn until the bytes run out or a message is malformed. Every complete message is routed
// with server::route and checked (fuzz_check.hpp); every error must be one the session
// answers (400, 413, 431).
//
// The stream is parsed twice: all bytes at once, and arriving a few at a time (the chunk
// size comes from the input's length). Both must read the same messages and both end in an
// error or neither: Beast resumes a half-read header or body from where it stopped.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "fuzz/fuzz_check.hpp"
#include "server/session.hpp"

namespace {

namespace beast = boost::beast;
namespace http = beast::http;

/// Enough to cover pipelining without letting one input run for long.
constexpr int max_messages = 64;

/// One message read, or how reading stopped.
struct event {
  std::string method, target, body;
  unsigned version = 0;
  bool keep_alive = false;
  beast::error_code error;  // set: the last event, the connection ends here

  // Which error is not compared, only that there is one: once Beast has seen part of a
  // header it waits for the blank line before parsing it, so a malformed header read in
  // pieces can end as "partial message" or 431 where read at once it is, say, "bad version".
  bool operator==(const event& o) const {
    return method == o.method && target == o.target && body == o.body && version == o.version &&
           keep_alive == o.keep_alive && !error == !o.error;
  }
};

std::string_view to_std(beast::string_view s) {
  return {s.data(), s.size()};
}

/// Reads `in` as a connection would (http::async_read into one flat_buffer kept across
/// messages), `step` more bytes arriving whenever the parser needs more. The end of `in`
/// is the client closing its side.
std::vector<event> read_stream(std::string_view in, std::size_t step) {
  std::vector<event> events;
  std::size_t pos = 0;    // first byte the parser has not consumed
  std::size_t avail = 0;  // bytes received so far
  for (int m = 0; m < max_messages; ++m) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(server::session::header_limit);
    parser.body_limit(server::session::body_limit);
    parser.eager(true);
    beast::error_code ec;
    bool receive = pos == avail;  // nothing buffered: read from the socket first
    while (!parser.is_done()) {
      if (receive) {
        if (avail == in.size()) {                 // the client closed its side
          if (!parser.got_some()) return events;  // between messages: a clean close
          parser.put_eof(ec);
          if (!ec) FUZZ_CHECK(parser.is_done(), in);
          if (ec) {
            events.push_back({{}, {}, {}, 0, false, ec});
            return events;
          }
          break;
        }
        avail = std::min(in.size(), avail + step);
      }
      const std::size_t used = parser.put(boost::asio::buffer(in.data() + pos, avail - pos), ec);
      pos += used;
      FUZZ_CHECK(pos <= avail, in);
      if (ec == http::error::need_more) {
        receive = true;
        continue;
      }
      if (ec) {
        events.push_back({{}, {}, {}, 0, false, ec});
        return events;
      }
      // No error, not done and nothing consumed from a non-empty buffer: async_read would
      // call put() on the same bytes forever.
      FUZZ_CHECK(used > 0 || parser.is_done(), in);
      receive = pos == avail;
    }
    auto& req = parser.get();
    events.push_back({std::string(to_std(req.method_string())),
                      std::string(to_std(req.target())),
                      std::move(req.body()),
                      req.version(),
                      req.keep_alive(),
                      {}});
  }
  return events;
}

// How the session answers a read error (server/session.cpp on_read), checked as a reply.
void check_read_error(const beast::error_code& ec) {
  const bool http_error =
      &ec.category() == &http::make_error_code(http::error::bad_target).category();
  FUZZ_CHECK(http_error, ec.message());
  FUZZ_CHECK(ec != http::error::need_more && ec != http::error::end_of_stream, ec.message());
  unsigned status = 400;
  if (ec == http::error::body_limit) status = 413;
  if (ec == http::error::header_limit) status = 431;
  fuzz::check_reply(server::error_reply(status, "malformed HTTP request: " + ec.message()), false);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const auto whole = read_stream(in, std::max<std::size_t>(size, 1));
  for (const auto& e : whole) {
    if (e.error)
      check_read_error(e.error);
    else
      fuzz::route_and_check(e.method, e.target, e.body);
  }
  const auto pieces = read_stream(in, 1 + size % 17);
  if (pieces != whole) {
    fuzz::fail("parsing in pieces reads other messages than parsing at once", __FILE__, __LINE__,
               "whole: " + std::to_string(whole.size()) + " events, last error '" +
                   (whole.empty() ? "" : whole.back().error.message()) +
                   "'; pieces: " + std::to_string(pieces.size()) + " events, last error '" +
                   (pieces.empty() ? "" : pieces.back().error.message()) + "'");
  }
  return 0;
}

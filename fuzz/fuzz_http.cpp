// libFuzzer target: raw bytes from a client, as a connection would receive them.
//
// The bytes go through server::request_reader, the code server::session reads requests
// with: Beast's parser with the server's limits, one message after another from one
// bounded buffer, so pipelined requests are read in turn until the bytes run out or a
// message is malformed. Every complete message is routed with server::route and checked
// (fuzz_check.hpp); every error must be one the session answers (400, 413, 431).
//
// The stream is read twice: all bytes at once, and arriving a few at a time (the chunk
// size comes from the input's length). Both must read the same messages and both end in an
// error or neither: Beast resumes a half-read header or body from where it stopped.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include "fuzz/fuzz_check.hpp"
#include "server/request_reader.hpp"
#include "server/session.hpp"

namespace {

namespace beast = boost::beast;
namespace http = beast::http;

/// Enough to cover pipelining without letting one input run for long.
constexpr std::size_t max_messages = 64;

/// One message read, or how reading stopped.
struct event {
  std::string method, target, body;
  unsigned version = 0;
  bool keep_alive = false;
  unsigned error_status = 0;  // set: the last event, the connection ends here
  std::string error_message;

  // Which error is not compared, only that there is one: once Beast has seen part of a
  // header it waits for the blank line before parsing it, so a malformed header read in
  // pieces can end as "partial message" or 431 where read at once it is, say, "bad version".
  bool operator==(const event& o) const {
    return method == o.method && target == o.target && body == o.body && version == o.version &&
           keep_alive == o.keep_alive && !error_status == !o.error_status;
  }
};

std::string_view to_std(boost::beast::string_view s) {
  return {s.data(), s.size()};
}

/// Reads `in` as a session does: reads of at most `step` bytes (and at most what the
/// buffer has room for) whenever the reader needs more. The end of `in` is the client
/// closing its side.
std::vector<event> read_stream(std::string_view in, std::size_t step) {
  using state = server::request_reader::state;
  std::vector<event> events;
  boost::beast::flat_buffer buffer{server::request_reader::buffer_limit};
  server::request_reader reader;
  std::size_t arrived = 0;
  auto failed = [&] {
    FUZZ_CHECK(reader.error(), in);
    events.push_back({{}, {}, {}, 0, false, reader.error_status(), reader.error_message()});
    return events;
  };
  while (events.size() < max_messages) {
    switch (reader.feed(buffer)) {
      case state::complete: {
        auto req = reader.take();
        events.push_back({std::string(to_std(req.method_string())),
                          std::string(to_std(req.target())),
                          std::move(req.body()),
                          req.version(),
                          req.keep_alive(),
                          0,
                          {}});
        break;
      }
      case state::continue_expected:
        break;  // a session writes 100 Continue here; the bytes go on as they come
      case state::failed:
        return failed();
      case state::need_more: {
        if (arrived == in.size()) {  // the client closed its side
          if (reader.at_eof() == state::failed) return failed();
          FUZZ_CHECK(!reader.started(), in);
          return events;
        }
        const std::size_t room = buffer.max_size() - buffer.size();
        FUZZ_CHECK(room > 0, in);  // a full buffer that needs more is a failure, not a wait
        const std::size_t n =
            std::min({step, in.size() - arrived, room, server::session::read_chunk});
        buffer.commit(boost::asio::buffer_copy(buffer.prepare(n),
                                               boost::asio::buffer(in.data() + arrived, n)));
        arrived += n;
        break;
      }
    }
  }
  return events;
}

// How the session answers a read error, checked as a reply.
void check_read_error(const event& e) {
  // The statuses request_reader::error_status() documents.
  bool known = false;
  for (const unsigned ok : {400u, 413u, 414u, 417u, 431u, 501u, 505u})
    known |= e.error_status == ok;
  FUZZ_CHECK(known, e.error_message);
  fuzz::check_reply(server::error_reply(e.error_status, e.error_message), false);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const auto whole = read_stream(in, std::max<std::size_t>(size, 1));
  for (const auto& e : whole) {
    if (e.error_status)
      check_read_error(e);
    else
      fuzz::route_and_check(e.method, e.target, e.body);
  }
  const auto pieces = read_stream(in, 1 + size % 17);
  if (pieces != whole) {
    fuzz::fail("parsing in pieces reads other messages than parsing at once", __FILE__, __LINE__,
               "whole: " + std::to_string(whole.size()) + " events, last error '" +
                   (whole.empty() ? "" : whole.back().error_message) +
                   "'; pieces: " + std::to_string(pieces.size()) + " events, last error '" +
                   (pieces.empty() ? "" : pieces.back().error_message) + "'");
  }
  return 0;
}

// libFuzzer target: a whole connection's byte stream, read the way a session reads it.
//
// Where fuzz_http reads one stream in two fixed ways, this target reads a stream that may
// be far longer than the input (a run-length escape, below, writes a 64 KiB field in a few
// bytes) in reads of random sizes, as TCP delivers them: several requests in a row,
// pipelined, chunked bodies with trailers, Expect headers, then the client closing. Each
// complete request goes through server::route and the checks of fuzz_check.hpp.
//
// Input: the first 8 bytes seed the read sizes (missing bytes are zero); the rest is the
// stream, where 0xFF c N; (N: 1 to 6 decimal digits) stands for byte c written N times, and
// any other 0xFF is itself. The count is decimal text so that libFuzzer's integer mutations
// (+1, -1, *2, /2) walk it across a limit. The expanded stream stops at max_stream bytes.
//
// Invariants, whatever the bytes and the read sizes:
// - nothing throws and nothing crashes (an exception ends the run as a crash);
// - the buffer never holds more than request_reader::buffer_limit bytes, and a reader
//   that needs more always has room to get it;
// - every complete message is consumed exactly: read in random pieces, the stream yields
//   the same messages, ending at the same byte offsets, as read in reads as large as the
//   buffer allows, and both end in an error or neither;
// - a complete request's header section is at most request_reader::header_limit bytes;
// - a failed read answers a 4xx (or 505, a version the server does not speak) that the
//   reply checks accept, and a client closing mid-message is a failure, between messages
//   not.

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

using server::request_reader;
using state = request_reader::state;

/// The longest stream one input expands to: enough for a body at the limit and a trailer
/// field past Beast's 64 KiB field limit on top.
constexpr std::size_t max_stream = 256 * 1024;
/// Enough to cover pipelining without letting one input run for long.
constexpr std::size_t max_messages = 64;

/// The stream an input describes (see the top of the file).
std::string expand(std::string_view in) {
  std::string out;
  for (std::size_t i = 0; i < in.size() && out.size() < max_stream; ++i) {
    std::size_t digits = 0, count = 0;
    if (static_cast<unsigned char>(in[i]) == 0xFF) {
      for (std::size_t d = i + 2; d < in.size() && digits < 6 && in[d] >= '0' && in[d] <= '9';
           ++d, ++digits)
        count = count * 10 + static_cast<std::size_t>(in[d] - '0');
    }
    if (digits == 0 || i + 2 + digits >= in.size() || in[i + 2 + digits] != ';') {
      out += in[i];  // not a run: the byte itself
      continue;
    }
    out.append(std::min(count, max_stream - out.size()), in[i + 1]);
    i += 2 + digits;  // past the ';'
  }
  return out;
}

/// Read sizes from a seed: mostly up to a session's read_chunk, often tiny.
struct read_sizes {
  std::uint64_t s;
  std::size_t next() {
    s += 0x9E3779B97F4A7C15ull;  // splitmix64
    std::uint64_t z = s;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return 1 + (z % 4 == 0 ? (z >> 8) % 16 : (z >> 8) % server::session::read_chunk);
  }
};

/// One message read, or how reading stopped.
struct event {
  std::string method, target, body;
  unsigned version = 0;
  bool keep_alive = false;
  std::size_t end = 0;        // the stream offset just past the message
  unsigned error_status = 0;  // set: the last event, the connection ends here
  std::string error_message;

  // Which error is not compared, only that there is one (see fuzz_http.cpp).
  bool operator==(const event& o) const {
    return method == o.method && target == o.target && body == o.body && version == o.version &&
           keep_alive == o.keep_alive && end == o.end && !error_status == !o.error_status;
  }
};

std::string_view to_std(boost::beast::string_view s) {
  return {s.data(), s.size()};
}

/// The bytes of a request's header section as the client sent them: request line and
/// field lines up to the blank line. Only header fields count (a trailer is not a header).
std::size_t header_bytes(std::string_view stream, std::size_t start) {
  const auto blank = stream.find("\r\n\r\n", start);
  return blank == std::string_view::npos ? stream.size() - start : blank + 4 - start;
}

/// Reads `stream` as a session does; `step` gives each read's size (0: as much as fits).
std::vector<event> read_stream(std::string_view stream, read_sizes* step) {
  std::vector<event> events;
  boost::beast::flat_buffer buffer{request_reader::buffer_limit};
  request_reader reader;
  std::size_t arrived = 0;
  std::size_t message_start = 0;
  auto failed = [&] {
    FUZZ_CHECK(reader.error(), stream.substr(message_start, 256));
    const unsigned status = reader.error_status();
    FUZZ_CHECK((status >= 400 && status < 500) || status == 501 || status == 505,
               reader.error_message());
    fuzz::check_reply(server::error_reply(status, reader.error_message()), false);
    events.push_back({{}, {}, {}, 0, false, 0, status, reader.error_message()});
    return events;
  };
  while (events.size() < max_messages) {
    const auto got = reader.feed(buffer);  // throws if Beast throws: a crash, reported
    FUZZ_CHECK(buffer.size() <= request_reader::buffer_limit, "buffer over its limit");
    switch (got) {
      case state::complete: {
        auto req = reader.take();
        const std::size_t end = arrived - buffer.size();
        // The header (not the trailer) of what was just read, in the original bytes.
        FUZZ_CHECK(header_bytes(stream, message_start) <= request_reader::header_limit,
                   "a request with a header section over header_limit was accepted: " +
                       std::string(stream.substr(message_start, 200)));
        events.push_back({std::string(to_std(req.method_string())),
                          std::string(to_std(req.target())),
                          std::move(req.body()),
                          req.version(),
                          req.keep_alive(),
                          end,
                          0,
                          {}});
        message_start = end;
        break;
      }
      case state::continue_expected:
        break;  // a session writes 100 Continue here; the bytes go on as they come
      case state::failed:
        return failed();
      case state::need_more: {
        if (arrived == stream.size()) {  // the client closed its side
          if (reader.at_eof() == state::failed) return failed();
          FUZZ_CHECK(!reader.started(), "a started message after at_eof");
          FUZZ_CHECK(buffer.size() == 0, "bytes left over after the last message");
          return events;
        }
        const std::size_t room = buffer.max_size() - buffer.size();
        FUZZ_CHECK(room > 0, "the reader needs more, but the buffer is full");
        std::size_t n = std::min(stream.size() - arrived, room);
        if (step) n = std::min(n, step->next());
        buffer.commit(boost::asio::buffer_copy(buffer.prepare(n),
                                               boost::asio::buffer(stream.data() + arrived, n)));
        arrived += n;
        break;
      }
    }
  }
  return events;
}

std::string describe(const std::vector<event>& events) {
  std::string out = std::to_string(events.size()) + " events:";
  for (const auto& e : events)
    out += e.error_status
               ? " [error " + std::to_string(e.error_status) + ": " + e.error_message + "]"
               : " [" + e.method + " " + e.target.substr(0, 40) + " ends at " +
                     std::to_string(e.end) + "]";
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  std::uint64_t seed = 0;
  for (std::size_t i = 0; i < 8 && i < in.size(); ++i)
    seed |= static_cast<std::uint64_t>(static_cast<unsigned char>(in[i])) << (8 * i);
  const std::string stream = expand(in.substr(std::min<std::size_t>(8, in.size())));

  const auto whole = read_stream(stream, nullptr);
  for (const auto& e : whole)
    if (!e.error_status) fuzz::route_and_check(e.method, e.target, e.body);

  read_sizes sizes{seed};
  const auto pieces = read_stream(stream, &sizes);
  if (pieces != whole)
    fuzz::fail("read in random pieces, the stream gives other messages than read whole", __FILE__,
               __LINE__, "whole: " + describe(whole) + "; pieces: " + describe(pieces));
  return 0;
}

// The actor wire protocol: NUL framing (split anywhere, several per read, limits) and the
// messages both ways (round trips, escaped NUL, malformed input).

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "actor/framing.hpp"
#include "actor/protocol.hpp"
#include "workers/square_sum.hpp"

namespace {

std::vector<std::string> feed_all(actor::frame_reader& f, const std::vector<std::string>& reads,
                                  bool& fits) {
  std::vector<std::string> out;
  fits = true;
  for (const auto& r : reads)
    if (!(fits = f.feed(r, [&](std::string_view m) { out.emplace_back(m); }))) break;
  return out;
}

// Three messages of both directions, one with an escaped NUL in a string.
std::string three_messages(std::vector<std::string>& expected) {
  std::string stream;
  actor::append_request(stream, 1, "square_sum", 1000);
  actor::append_value(stream, 2, 21065.833110879048, 4242);
  actor::append_error(stream, 3, std::string("bad\0byte", 8));
  std::size_t start = 0;
  for (std::size_t i = 0; i < stream.size(); ++i)
    if (stream[i] == '\0') {
      expected.push_back(stream.substr(start, i - start));
      start = i + 1;
    }
  return stream;
}

template <class T>
T expect(std::variant<T, actor::malformed>&& v) {
  if (auto* bad = std::get_if<actor::malformed>(&v)) FAIL("malformed: " << bad->reason);
  return std::get<T>(std::move(v));
}

}  // namespace

TEST_CASE("framing: a stream split at every byte position gives the same messages") {
  std::vector<std::string> expected;
  const auto stream = three_messages(expected);
  REQUIRE(expected.size() == 3);
  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    actor::frame_reader f;
    bool fits = false;
    const auto got = feed_all(f, {stream.substr(0, cut), stream.substr(cut)}, fits);
    CHECK(fits);
    CHECK_MESSAGE(got == expected, "cut at " << cut);
    CHECK(f.pending() == 0);
  }
  // And byte by byte.
  actor::frame_reader f;
  std::vector<std::string> bytes;
  for (char c : stream) bytes.emplace_back(1, c);
  bool fits = false;
  CHECK(feed_all(f, bytes, fits) == expected);
  CHECK(fits);
}

TEST_CASE("framing: several messages in one read, and a tail that waits for its NUL") {
  std::vector<std::string> expected;
  auto stream = three_messages(expected);
  stream += R"({"id":9,"val)";
  actor::frame_reader f;
  bool fits = false;
  CHECK(feed_all(f, {stream}, fits) == expected);
  CHECK(f.pending() == std::strlen(R"({"id":9,"val)"));
  std::vector<std::string> rest;
  CHECK(f.feed(std::string(R"(ue":1.5,"pid":7})") + '\0',
               [&](std::string_view m) { rest.emplace_back(m); }));
  REQUIRE(rest.size() == 1);
  const auto r = expect(actor::parse_reply(rest[0]));
  CHECK(r.id == 9);
  CHECK(r.value == 1.5);
  CHECK(r.pid == 7);
}

TEST_CASE("framing: an escaped NUL inside a JSON string stays inside its message") {
  std::string stream;
  actor::append_error(stream, 5, std::string("a\0b", 3));
  CHECK(std::count(stream.begin(), stream.end(), '\0') == 1);  // only the terminator
  CHECK(stream.find("\\u0000") != std::string::npos);
  actor::frame_reader f;
  std::vector<std::string> got;
  CHECK(f.feed(stream, [&](std::string_view m) { got.emplace_back(m); }));
  REQUIRE(got.size() == 1);
  const auto r = expect(actor::parse_reply(got[0]));
  CHECK_FALSE(r.ok);
  CHECK(r.error == std::string("a\0b", 3));
}

TEST_CASE("framing: a message over the limit is refused, one at the limit is not") {
  const std::size_t limit = 32;
  {
    actor::frame_reader f(limit);
    std::vector<std::string> got;
    CHECK(f.feed(std::string(limit, 'x') + '\0', [&](std::string_view m) { got.emplace_back(m); }));
    CHECK(got.size() == 1);
  }
  {
    actor::frame_reader f(limit);
    CHECK_FALSE(f.feed(std::string(limit + 1, 'x') + '\0', [](std::string_view) {}));
  }
  {
    // Without a NUL, in small reads: held while it fits, refused the moment it outgrows it.
    actor::frame_reader f(limit);
    const std::string eight(8, 'x');
    for (int read = 0; read < 4; ++read) CHECK(f.feed(eight, [](std::string_view) {}));
    CHECK(f.pending() == limit);
    CHECK_FALSE(f.feed("x", [](std::string_view) {}));
  }
  CHECK(actor::max_message >= 1024);
}

TEST_CASE("protocol: messages round-trip both ways, values bit-exact") {
  std::string wire;
  actor::append_request(wire, std::numeric_limits<std::uint64_t>::max(), "square_sum", 123456789);
  REQUIRE(wire.back() == '\0');
  wire.pop_back();
  CHECK(wire == R"({"id":18446744073709551615,"method":"square_sum","args":[123456789]})");
  const auto req = expect(actor::parse_request(wire));
  CHECK(req.id == std::numeric_limits<std::uint64_t>::max());
  CHECK(req.method == "square_sum");
  CHECK(req.n == 123456789);
  CHECK(req.invalid_args.empty());

  for (double v : {0.0, 0.1, 1.0 / 3, 1e300, 5e-324, workers::square_sum(1'000'000),
                   workers::square_sum(12345)}) {
    std::string out;
    actor::append_value(out, 77, v, 31337);
    out.pop_back();
    const auto r = expect(actor::parse_reply(out));
    CHECK(r.ok);
    CHECK(r.id == 77);
    CHECK(r.pid == 31337);
    CHECK(std::memcmp(&r.value, &v, sizeof v) == 0);
  }
  // Fields in another order, and extra ones, as an actor in another language may send.
  const auto other = expect(actor::parse_reply(R"({"pid":1,"extra":[1,2],"value":2,"id":3})"));
  CHECK(other.ok);
  CHECK(other.value == 2.0);
}

TEST_CASE("protocol: malformed messages are named, well-formed jobs with bad args are not") {
  const char* bad_replies[] = {
      "",
      "not json",
      "[1,2]",
      "42",
      R"({"value":1,"pid":1})",                     // no id
      R"({"id":-1,"value":1,"pid":1})",             // negative id
      R"({"id":"1","value":1,"pid":1})",            // id as a string
      R"({"id":1.5,"value":1,"pid":1})",            // fractional id
      R"({"id":1})",                                // neither value nor error
      R"({"id":1,"value":1,"error":"x","pid":1})",  // both
      R"({"id":1,"value":"1","pid":1})",            // value as a string
      R"({"id":1,"value":1})",                      // no pid
      R"({"id":1,"value":1,"pid":"7"})",            // pid as a string
      R"({"id":1,"error":42})",                     // error not a string
      R"({"id":1,"value":1,"pid":1)",               // truncated
      "{\"id\":1,\"error\":\"a\x01b\"}",            // raw control character in a string
  };
  for (const char* text : bad_replies)
    CHECK_MESSAGE(std::holds_alternative<actor::malformed>(actor::parse_reply(text)), text);

  const char* bad_requests[] = {
      "{}",
      R"({"method":"square_sum","args":[1]})",
      R"({"id":1,"args":[1]})",
      R"({"id":1,"method":7,"args":[1]})",
      R"({"id":1,"method":"square_sum"})",
      R"({"id":1,"method":"square_sum","args":1})",
  };
  for (const char* text : bad_requests)
    CHECK_MESSAGE(std::holds_alternative<actor::malformed>(actor::parse_request(text)), text);

  // The id is known: these get an error answer, not a closed connection.
  for (const char* text : {R"({"id":4,"method":"square_sum","args":[]})",
                           R"({"id":4,"method":"square_sum","args":[-1]})",
                           R"({"id":4,"method":"square_sum","args":[1.5]})",
                           R"({"id":4,"method":"square_sum","args":[1,2]})",
                           R"({"id":4,"method":"square_sum","args":["1"]})"}) {
    const auto r = expect(actor::parse_request(text));
    CHECK(r.id == 4);
    CHECK_FALSE(r.invalid_args.empty());
  }
}

TEST_CASE("protocol: a value that is not finite is written as null and read back as NaN") {
  for (double v :
       {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity()}) {
    std::string out;
    actor::append_value(out, 3, v, 9);
    out.pop_back();
    CHECK(out == R"({"id":3,"value":null,"pid":9})");
    const auto r = expect(actor::parse_reply(out));
    CHECK(r.ok);
    CHECK(std::isnan(r.value));
  }
}

TEST_CASE("protocol: a pid outside 1..2^63-1 is no process id: the reply stands, its pid is 0") {
  const std::pair<const char*, std::int64_t> cases[] = {
      {R"({"id":1,"value":2,"pid":1})", 1},
      {R"({"id":1,"value":2,"pid":9223372036854775807})", std::numeric_limits<std::int64_t>::max()},
      {R"({"id":1,"value":2,"pid":0})", 0},
      {R"({"id":1,"value":2,"pid":-5})", 0},
      {R"({"id":1,"value":2,"pid":-9223372036854775808})", 0},
      {R"({"id":1,"value":2,"pid":9223372036854775808})", 0},   // 2^63: used to wrap negative
      {R"({"id":1,"value":2,"pid":18446744073709551615})", 0},  // 2^64-1
      {R"({"id":1,"value":2,"pid":18446744073709551616})", 0},  // 2^64: a float to the parser
      {R"({"id":1,"value":2,"pid":12.5})", 0},
      {R"({"id":1,"value":2,"pid":1e3})", 0},
  };
  for (const auto& [text, pid] : cases) {
    const auto r = expect(actor::parse_reply(text));
    CHECK_MESSAGE(r.ok, text);
    CHECK_MESSAGE(r.pid == pid, text);
    CHECK(r.value == 2.0);
  }
}

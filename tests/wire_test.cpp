// The connection's bytes without a socket: requests read out of a buffer (the session's
// reader, also fuzzed) and responses written into one.

#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http.hpp>

#include "server/request_reader.hpp"
#include "server/response_writer.hpp"

namespace http = boost::beast::http;
using server::request_reader;
using state = request_reader::state;

namespace {

// Appends bytes to a connection's buffer, as a read would.
void arrive(boost::beast::flat_buffer& buffer, std::string_view bytes) {
  buffer.commit(boost::asio::buffer_copy(buffer.prepare(bytes.size()), boost::asio::buffer(bytes)));
}

http::response<http::string_body> parse_response(const std::string& bytes, bool head = false) {
  http::response_parser<http::string_body> parser;
  parser.eager(true);  // the body too, not only the header
  parser.skip(head);   // a HEAD answer has a Content-Length but no body
  boost::beast::error_code ec;
  const auto used = parser.put(boost::asio::buffer(bytes), ec);
  REQUIRE_MESSAGE(!ec, ec.message());
  REQUIRE(parser.is_done());
  CHECK(used == bytes.size());  // nothing after the message
  return parser.release();
}

}  // namespace

TEST_CASE("request reader: a request read at once, then a pipelined one from the same buffer") {
  boost::beast::flat_buffer buffer{request_reader::buffer_limit};
  request_reader reader;
  arrive(buffer,
         "GET /1000 HTTP/1.1\r\nHost: x\r\n\r\n"
         "POST /rpc HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}GET /");
  REQUIRE(reader.feed(buffer) == state::complete);
  const auto first = reader.take();
  CHECK(first.target() == "/1000");
  REQUIRE(reader.feed(buffer) == state::complete);
  const auto second = reader.take();
  CHECK(second.method() == http::verb::post);
  CHECK(second.body() == "{}");
  CHECK(reader.feed(buffer) == state::need_more);  // "GET /" waits for the rest
  CHECK(reader.started());
}

TEST_CASE("request reader: a request split at every byte reads the same") {
  const std::string bytes =
      "POST /rpc HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
  for (std::size_t split = 1; split < bytes.size(); ++split) {
    boost::beast::flat_buffer buffer{request_reader::buffer_limit};
    request_reader reader;
    arrive(buffer, std::string_view(bytes).substr(0, split));
    REQUIRE(reader.feed(buffer) == state::need_more);
    arrive(buffer, std::string_view(bytes).substr(split));
    REQUIRE(reader.feed(buffer) == state::complete);
    CHECK(reader.take().body() == "abcde");
    CHECK(buffer.size() == 0);
  }
}

TEST_CASE("request reader: malformed, oversized and truncated requests fail with their status") {
  struct bad {
    std::string bytes;
    unsigned status;
  };
  const bad cases[] = {
      {"GARBAGE\r\n\r\n", 400},
      {"GET /1 HTTP/1.1\r\nHost: x\r\nX: " + std::string(10 * 1024, 'a') + "\r\n\r\n", 431},
      {"POST /rpc HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n", 413},
      {"POST /rpc HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400},
  };
  for (const auto& c : cases) {
    CAPTURE(c.bytes.substr(0, 40));
    boost::beast::flat_buffer buffer{request_reader::buffer_limit};
    request_reader reader;
    arrive(buffer, c.bytes);
    REQUIRE(reader.feed(buffer) == state::failed);
    CHECK(reader.error_status() == c.status);
    CHECK(!reader.error_message().empty());
  }

  // The client closes its side half-way through a request: malformed, 400.
  boost::beast::flat_buffer buffer{request_reader::buffer_limit};
  request_reader reader;
  arrive(buffer, "POST /rpc HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc");
  REQUIRE(reader.feed(buffer) == state::need_more);
  CHECK(reader.at_eof() == state::failed);
  CHECK(reader.error_status() == 400);
  // ... and between requests it is a clean close.
  request_reader idle;
  CHECK(idle.at_eof() == state::need_more);
  CHECK_FALSE(idle.started());
}

TEST_CASE("response writer: status line, headers and body that an HTTP parser reads back") {
  server::reply r{503, R"({"error":"full"})", "application/json", {{"Retry-After", "1"}}};
  std::string out;
  server::write_response(out, r, {11, true, false});
  auto res = parse_response(out);
  CHECK(res.result_int() == 503);
  CHECK(res.reason() == "Service Unavailable");
  CHECK(res[http::field::content_type] == "application/json");
  CHECK(res[http::field::retry_after] == "1");
  CHECK(res[http::field::server] == "poolserver");
  CHECK(res.body() == r.body);
  CHECK(res.keep_alive());

  server::write_response(out, r, {11, false, false});  // reuses `out`
  CHECK_FALSE(parse_response(out).keep_alive());

  // To an HTTP/1.0 client: still HTTP/1.1 (RFC 9110 6.2), the connection said either way.
  server::write_response(out, r, {10, true, false});
  res = parse_response(out);
  CHECK(res.version() == 11);
  CHECK(res[http::field::connection] == "keep-alive");
  server::write_response(out, r, {10, false, false});
  res = parse_response(out);
  CHECK(res[http::field::connection] == "close");
  CHECK_FALSE(res.keep_alive());

  server::write_response(out, r, {11, true, true});  // HEAD
  res = parse_response(out, true);
  CHECK(res[http::field::content_length] == std::to_string(r.body.size()));
  CHECK(out.substr(out.size() - 4) == "\r\n\r\n");  // and nothing after the headers
}

TEST_CASE("response writer: Date is an IMF-fixdate of now (RFC 9110 6.6.1, 5.6.7)") {
  std::string date;
  server::append_http_date(date, 784111777);  // RFC 9110's own example
  CHECK(date == "Sun, 06 Nov 1994 08:49:37 GMT");
  date.clear();
  server::append_http_date(date, 951782400);  // a leap day, single-digit fields padded
  CHECK(date == "Tue, 29 Feb 2000 00:00:00 GMT");

  std::string out;
  const auto before = std::time(nullptr);
  server::write_response(out, server::error_reply(404, "no"), {11, true, false});
  const auto after = std::time(nullptr);
  const auto res = parse_response(out);
  const std::string sent(res[http::field::date]);
  // The date of one of the seconds the write spanned.
  bool matches = false;
  for (auto t = before; t <= after; ++t) {
    std::string expected;
    server::append_http_date(expected, t);
    matches = matches || sent == expected;
  }
  CHECK_MESSAGE(matches, sent);
}

TEST_CASE(
    "response writer: 1xx, 204 and 304 carry no content and no Content-Length (RFC 9110 8.6)") {
  std::string out;
  server::write_response(out, server::reply{100, "ignored", "application/json", {}},
                         {11, true, false});
  CHECK(out == "HTTP/1.1 100 Continue\r\n\r\n");
  for (const unsigned status : {204u, 304u}) {
    CAPTURE(status);
    server::write_response(out, server::reply{status, "ignored", "application/json", {}},
                           {11, true, false});
    CHECK(out.find("Content-Length") == std::string::npos);
    CHECK(out.find("Content-Type") == std::string::npos);
    CHECK(out.substr(out.size() - 4) == "\r\n\r\n");  // nothing after the headers
    const auto res = parse_response(out);             // a parser knows these have no body
    CHECK(res.result_int() == status);
    CHECK(res.body().empty());
    CHECK_FALSE(res[http::field::date].empty());
  }
}

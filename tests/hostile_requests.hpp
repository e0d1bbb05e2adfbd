#pragma once
// A table of malformed and hostile requests with the status each must get. Shared by the
// hostile-input test and the reliability report.

#include <sys/socket.h>
#include <sys/time.h>

#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

namespace test {

struct hostile_request {
  std::string name;
  std::string bytes;  ///< exactly what is written to the socket
  unsigned status;    ///< the answer it must get
};

inline std::string rpc(const std::string& body) {
  return "POST /rpc HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

inline std::string get(const std::string& target) {
  return "GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n";
}

inline const std::vector<hostile_request>& hostile_requests() {
  static const std::vector<hostile_request> cases = [] {
    using namespace std::string_literals;  // "..."s keeps embedded NUL bytes
    std::vector<hostile_request> c;
    // Request line and framing.
    c.push_back({"not HTTP at all", "GARBAGE\r\n\r\n", 400});
    c.push_back({"method only", "GET\r\n\r\n", 400});
    c.push_back({"unknown HTTP major version", "GET /1 HTTP/9.9\r\nHost: x\r\n\r\n", 505});
    c.push_back({"space in target", "GET /1 2 HTTP/1.1\r\nHost: x\r\n\r\n", 400});
    c.push_back({"NUL byte in path", "GET /1\0 HTTP/1.1\r\nHost: x\r\n\r\n"s, 400});
    c.push_back({"control byte in path", "GET /1\x01 HTTP/1.1\r\nHost: x\r\n\r\n", 400});
    c.push_back({"invalid UTF-8 in path", get("/\xff\xfe\xfd"), 404});
    c.push_back({"absolute-form target with an empty host", get("http:///1"), 400});
    c.push_back({"absolute-form https target over plain TCP", get("https://example.com/1"), 421});
    c.push_back({"asterisk target", "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", 501});
    c.push_back({"asterisk target on GET", get("*"), 400});
    c.push_back({"path traversal", get("/../../etc/passwd"), 404});
    c.push_back({"encoded traversal", get("/%2e%2e/%2e%2e/etc/passwd"), 404});
    c.push_back({"wrong method on job route",
                 "POST /1 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 405});
    c.push_back({"method not implemented", "DELETE /1 HTTP/1.1\r\nHost: x\r\n\r\n", 501});
    c.push_back({"lower-case method", "get /1 HTTP/1.1\r\nHost: x\r\n\r\n", 501});
    c.push_back({"GET on /rpc", get("/rpc"), 405});
    // Headers.
    c.push_back({"header without colon", "GET /1 HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", 400});
    c.push_back({"space in header name", "GET /1 HTTP/1.1\r\nHo st: x\r\n\r\n", 400});
    c.push_back({"huge header",
                 "GET /1 HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(16 * 1024, 'a') + "\r\n\r\n",
                 431});
    std::string many = "GET /1 HTTP/1.1\r\nHost: x\r\n";
    for (int i = 0; i < 2000; ++i) many += "X-" + std::to_string(i) + ": v\r\n";
    c.push_back({"two thousand headers", many + "\r\n", 431});
    c.push_back({"huge target", get("/" + std::string(12 * 1024, '1')), 414});
    // Content-Length and chunked bodies.
    c.push_back({"non-numeric Content-Length",
                 "POST /rpc HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400});
    c.push_back({"negative Content-Length",
                 "POST /rpc HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", 400});
    c.push_back({"overflowing Content-Length",
                 "POST /rpc HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
                 400});
    c.push_back(
        {"conflicting Content-Lengths",
         "POST /rpc HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
         400});
    c.push_back({"Content-Length over the body limit",
                 "POST /rpc HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n", 413});
    c.push_back(
        {"chunk size not hex",
         "POST /rpc HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n",
         400});
    c.push_back({"overflowing chunk size",
                 "POST /rpc HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
                 "chunked\r\n\r\nfffffffffffffffffff\r\n",
                 400});
    c.push_back({"chunked body over the limit",
                 "POST /rpc HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n20000\r\n" +
                     std::string(0x20000, 'a') + "\r\n0\r\n\r\n",
                 413});
    c.push_back({"unknown transfer coding",
                 "POST /rpc HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 400});
    c.push_back(
        {"chunked and Content-Length",
         "POST /rpc HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
         "5\r\nhello\r\n0\r\n\r\n",
         400});
    // n in the path and the query.
    c.push_back({"negative n", get("/-1"), 400});
    c.push_back({"n with exponent", get("/1e9"), 400});
    c.push_back({"hex n", get("/0x10"), 400});
    c.push_back({"n over MAX_N", get("/1000000001"), 422});
    c.push_back({"n overflowing 64 bits", get("/18446744073709551616"), 422});
    c.push_back({"query n with NUL escape", get("/square_sum?n=1%00"), 400});
    c.push_back({"truncated percent escape", get("/square_sum?n=%3"), 400});
    c.push_back({"n given twice", get("/square_sum?n=1&n=2"), 400});
    c.push_back({"unknown job kind", get("/cube?n=3"), 404});
    // JSON-RPC bodies.
    c.push_back({"truncated JSON", rpc("{\"jsonrpc\":\"2.0\",\"method\":"), 400});
    c.push_back({"empty body", rpc(""), 400});
    c.push_back(
        {"deeply nested arrays", rpc(std::string(20000, '[') + std::string(20000, ']')), 400});
    c.push_back({"deeply nested objects", rpc([] {
                   std::string s;
                   for (int i = 0; i < 5000; ++i) s += "{\"a\":";
                   s += "1";
                   s += std::string(5000, '}');
                   return s;
                 }()),
                 400});
    c.push_back({"huge JSON string", rpc("\"" + std::string(60 * 1024, 'x') + "\""), 400});
    c.push_back({"invalid UTF-8 in JSON string",
                 rpc("{\"jsonrpc\":\"2.0\",\"method\":\"\xff\xfe\",\"params\":[1],\"id\":1}"),
                 400});
    c.push_back(
        {"NUL byte in JSON", rpc("{\"jsonrpc\":\"2.0\",\0\"method\":\"square_sum\"}"s), 400});
    c.push_back({"batch request",
                 rpc("[{\"jsonrpc\":\"2.0\",\"method\":\"square_sum\",\"params\":[1],\"id\":1}]"),
                 400});
    c.push_back({"jsonrpc as a number",
                 rpc(R"({"jsonrpc":2.0,"method":"square_sum","params":[1],"id":1})"), 400});
    c.push_back(
        {"method null", rpc(R"({"jsonrpc":"2.0","method":null,"params":[1],"id":1})"), 400});
    c.push_back({"id an object",
                 rpc(R"({"jsonrpc":"2.0","method":"square_sum","params":[1],"id":{}})"), 400});
    c.push_back(
        {"unknown method", rpc(R"({"jsonrpc":"2.0","method":"rm -rf","params":[1],"id":1})"), 404});
    c.push_back({"n a string",
                 rpc(R"({"jsonrpc":"2.0","method":"square_sum","params":["5"],"id":1})"), 400});
    c.push_back(
        {"n true", rpc(R"({"jsonrpc":"2.0","method":"square_sum","params":[true],"id":1})"), 400});
    c.push_back(
        {"n null", rpc(R"({"jsonrpc":"2.0","method":"square_sum","params":[null],"id":1})"), 400});
    c.push_back({"n minus zero",
                 rpc(R"({"jsonrpc":"2.0","method":"square_sum","params":[-0],"id":1})"), 400});
    c.push_back(
        {"n overflowing 64 bits",
         rpc(R"({"jsonrpc":"2.0","method":"square_sum","params":[18446744073709551616],"id":1})"),
         400});
    c.push_back({"n 1e400",
                 rpc(R"({"jsonrpc":"2.0","method":"square_sum","params":[1e400],"id":1})"), 400});
    c.push_back({"n over MAX_N",
                 rpc(R"({"jsonrpc":"2.0","method":"square_sum","params":[1000000001],"id":1})"),
                 422});
    c.push_back({"params neither array nor object",
                 rpc(R"({"jsonrpc":"2.0","method":"square_sum","params":5,"id":1})"), 400});
    return c;
  }();
  return cases;
}

struct hostile_outcome {
  unsigned status = 0;      ///< 0 when no response came back
  bool json_error = false;  ///< the body is JSON with "error"
};

/// Sends one case on a fresh connection and reads the answer (10 s receive timeout).
inline hostile_outcome send_hostile(unsigned short port, const hostile_request& hc) {
  namespace net = boost::asio;
  namespace http = boost::beast::http;
  net::io_context ioc;
  net::ip::tcp::socket sock(ioc);
  sock.connect({net::ip::make_address("127.0.0.1"), port});
  timeval tv{10, 0};
  ::setsockopt(sock.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  boost::system::error_code ec;
  net::write(sock, net::buffer(hc.bytes), ec);  // the server may answer and close early
  hostile_outcome out;
  boost::beast::flat_buffer buf;
  http::response<http::string_body> res;
  http::read(sock, buf, res, ec);
  if (ec) return out;
  out.status = res.result_int();
  const auto body = nlohmann::json::parse(res.body(), nullptr, false);
  out.json_error = !body.is_discarded() && body.is_object() && body.contains("error");
  return out;
}

}  // namespace test

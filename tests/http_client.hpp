#pragma once
// A small blocking HTTP/1.1 client for tests (Beast), with a receive timeout so a broken
// server fails the test instead of hanging it.

#include <utility>

#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <string>
#include <vector>

namespace test {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using response = http::response<http::string_body>;

class http_client {
 public:
  explicit http_client(unsigned short port) : socket_(ioc_) {
    socket_.connect({net::ip::make_address("127.0.0.1"), port});
    timeval tv{20, 0};
    ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }

  /// Sends one request on this connection and reads its response.
  response request(http::verb method, std::string target, std::string body = {},
                   std::vector<std::pair<std::string, std::string>> fields = {}) {
    send(method, std::move(target), std::move(body), std::move(fields));
    return read(method == http::verb::head);
  }
  response get(std::string target) { return request(http::verb::get, std::move(target)); }

  /// Sends a request without waiting for the answer.
  void send(http::verb method, std::string target, std::string body = {},
            std::vector<std::pair<std::string, std::string>> fields = {}) {
    http::request<http::string_body> req{method, target, 11};
    req.set(http::field::host, "127.0.0.1");
    for (auto& [k, v] : fields) req.set(k, v);
    if (!body.empty() || method == http::verb::post) req.body() = std::move(body);
    req.prepare_payload();
    http::write(socket_, req);
  }

  /// Writes raw bytes (for malformed requests).
  void send_raw(std::string_view bytes) { net::write(socket_, net::buffer(bytes)); }

  /// Reads the next response; the answer to HEAD has headers only, whatever its
  /// Content-Length says.
  response read(bool head = false) {
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    parser.skip(head);
    http::read(socket_, buffer_, parser);
    return parser.release();
  }

  /// True once the server has closed the connection (reads EOF).
  bool closed_by_server() {
    char c;
    beast::error_code ec;
    if (buffer_.size() > 0) return false;
    socket_.read_some(net::buffer(&c, 1), ec);
    return ec == net::error::eof || ec == net::error::connection_reset;
  }

  net::ip::tcp::socket& socket() { return socket_; }

 private:
  net::io_context ioc_;
  net::ip::tcp::socket socket_;
  beast::flat_buffer buffer_;
};

}  // namespace test

#pragma once
// A hand-driven actor for tests: a blocking socket that speaks the actor protocol, so a test
// decides what an actor answers, when, in which order and in how many writes, or how it
// misbehaves.

#include <utility>

#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <deque>
#include <string>
#include <variant>
#include <vector>

#include <doctest/doctest.h>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include "actor/framing.hpp"
#include "actor/protocol.hpp"

namespace test {

class fake_actor {
 public:
  /// `receive_buffer` > 0 sets SO_RCVBUF before connecting: a small one makes the server's
  /// writes stall soon when this actor does not read.
  explicit fake_actor(unsigned short port, int receive_buffer = 0) : socket_(ioc_) {
    socket_.open(boost::asio::ip::tcp::v4());
    if (receive_buffer > 0)
      socket_.set_option(boost::asio::socket_base::receive_buffer_size(receive_buffer));
    socket_.connect({boost::asio::ip::make_address("127.0.0.1"), port});
    // For flood(): a server that neither reads nor closes fails the test instead of hanging it.
    timeval tv{10, 0};
    ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  }

  /// The next job the server sends (fails the test after 10 s without one).
  actor::job_request next_job() {
    while (inbox_.empty()) REQUIRE(read_some());
    auto parsed = actor::parse_request(inbox_.front());
    inbox_.pop_front();
    REQUIRE(std::holds_alternative<actor::job_request>(parsed));
    return std::get<actor::job_request>(std::move(parsed));
  }

  /// The next message the server sends, whatever it is (fails the test after 10 s).
  actor::from_server next_message() {
    while (inbox_.empty()) REQUIRE(read_some());
    auto parsed = actor::parse_from_server(inbox_.front());
    inbox_.pop_front();
    return parsed;
  }
  /// Greets the server as a poolactor would; returns what the server answered.
  actor::from_server greet(std::vector<std::string> kinds = {"square_sum"},
                           std::string token = {}, std::uint64_t capacity = 0) {
    actor::hello h;
    h.pid = 4242;
    h.kinds = std::move(kinds);
    h.capacity = capacity;
    h.version = "test";
    h.token = std::move(token);
    std::string out;
    actor::append_hello(out, h);
    send(out);
    return next_message();
  }
  void leave() {
    std::string out;
    actor::append_leave(out);
    send(out);
  }

  /// Writes raw bytes.
  void send(const std::string& bytes) { boost::asio::write(socket_, boost::asio::buffer(bytes)); }
  /// Writes `chunk` again and again until `limit` bytes are written or a write fails (the
  /// server closed the connection); returns the bytes written.
  std::size_t flood(const std::string& chunk, std::size_t limit) {
    std::size_t written = 0;
    // send(2) itself: Asio's blocking write waits on poll() without end when SO_SNDTIMEO fires.
    while (written < limit) {
      const auto n = ::send(socket_.native_handle(), chunk.data() + written % chunk.size(),
                            chunk.size() - written % chunk.size(), MSG_NOSIGNAL);
      if (n <= 0) break;
      written += static_cast<std::size_t>(n);
    }
    return written;
  }
  void answer(std::uint64_t id, double value, std::int64_t pid) {
    std::string out;
    actor::append_value(out, id, value, pid);
    send(out);
  }

  /// Closes this end (as an actor that exits would).
  void close() {
    boost::system::error_code ec;
    socket_.close(ec);
  }

  /// Whether the server closed this connection (reads until EOF; jobs meanwhile are kept).
  bool closed_by_server() {
    while (read_some()) {
    }
    return eof_;
  }

 private:
  // False on EOF, error or 10 s without a byte (polled here: Asio's blocking read ignores
  // SO_RCVTIMEO, it waits on poll() again).
  bool read_some() {
    pollfd ready{socket_.native_handle(), POLLIN, 0};
    if (::poll(&ready, 1, 10'000) <= 0) return false;
    char buf[4096];
    boost::system::error_code ec;
    const auto n = socket_.read_some(boost::asio::buffer(buf), ec);
    if (ec) {
      eof_ = ec == boost::asio::error::eof || ec == boost::asio::error::connection_reset;
      return false;
    }
    return frames_.feed(std::string_view(buf, n),
                        [&](std::string_view m) { inbox_.emplace_back(m); });
  }

  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::socket socket_;
  actor::frame_reader frames_;
  std::deque<std::string> inbox_;
  bool eof_ = false;
};

}  // namespace test

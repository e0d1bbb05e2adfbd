#pragma once
// HAProxy's agent-check responder (AGENT_PORT): HAProxy connects every agent-inter and reads
// one line; this writes it at once and closes. The line is HAProxy 2.6's agent protocol
// ("agent-check" in its configuration manual): "ready up 73%" while serving (the weight
// follows the load, observability/agent_weight.hpp; "ready" and "up" bring a server back
// from a drain of its earlier life), "drain" once the server is stopping.
//
// Bounded whatever connects: nothing is read but what has already arrived (at most a small
// buffer, discarded), nothing is kept once the accept handler returns, so a connection holds
// its descriptor only for the length of that handler and a flood costs no memory.

#include <utility>  // before Asio: see docs/architecture.md, known pitfalls

#include <cstdint>
#include <functional>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "sockets/accept_pacing.hpp"

namespace server {

class agent_check {
 public:
  /// Listens on host:port (port 0: any free port; throws naming AGENT_PORT if it cannot);
  /// `answer` gives the line each connection gets, without its "\n".
  agent_check(boost::asio::io_context& io, const std::string& host, std::uint16_t port,
              std::function<std::string()> answer);
  agent_check(const agent_check&) = delete;
  agent_check& operator=(const agent_check&) = delete;

  /// The bound address (the port real even when 0 was asked for).
  boost::asio::ip::tcp::endpoint local_endpoint() const { return endpoint_; }
  /// Starts accepting (on the io_context's thread from then on).
  void start();
  /// Stops accepting; HAProxy then finds the port closed, which it does not count as a
  /// failure (its health check decides whether the server is up). Call on the io_context's
  /// thread.
  void close();

  /// The line for a server that is stopping, or else serving with weight `percent`.
  static std::string line(bool draining, int percent);

 private:
  void do_accept();
  /// Writes the line to a connection just accepted and closes it.
  void answer(boost::asio::ip::tcp::socket& socket);

  boost::asio::ip::tcp::acceptor acceptor_;
  const boost::asio::ip::tcp::endpoint endpoint_;
  std::function<std::string()> answer_;
  boost::asio::steady_timer retry_;
  sockets::accept_pacing pacing_{"agent accept"};
  bool closed_ = false;
};

}  // namespace server

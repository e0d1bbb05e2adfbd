#include "server/agent_check.hpp"

#include <array>
#include <stdexcept>

#include <fmt/format.h>
#include <boost/asio/buffer.hpp>

#include "sockets/listen.hpp"

namespace server {

namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

tcp::acceptor listen_for_agent(net::io_context& io, const std::string& host, std::uint16_t port) {
  try {
    return sockets::listen_on(io, host, port, "HOST");
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(std::string("AGENT_PORT: ") + e.what());
  }
}

}  // namespace

agent_check::agent_check(net::io_context& io, const std::string& host, std::uint16_t port,
                         std::function<std::string()> answer)
    : acceptor_(listen_for_agent(io, host, port)),
      endpoint_(acceptor_.local_endpoint()),
      answer_(std::move(answer)),
      retry_(io) {}

std::string agent_check::line(bool draining, int percent) {
  // "drain" alone: HAProxy keeps the weight it has and sends nothing new. "ready" ends a
  // drain (or maint) that an agent set, "up" a "down" one did: a restarted server on the
  // same port must say both, since only an agent can undo what an agent did.
  return draining ? std::string("drain") : fmt::format("ready up {}%", percent);
}

void agent_check::start() {
  do_accept();
}

void agent_check::close() {
  closed_ = true;
  boost::system::error_code ec;
  acceptor_.close(ec);
  retry_.cancel();
}

void agent_check::do_accept() {
  acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
    if (closed_ || ec == net::error::operation_aborted) return;
    if (ec) {
      // Out of descriptors and the like: wait as the other listeners do, rather than spin.
      const auto pause = pacing_.failed(ec);
      if (pause.count() == 0) return do_accept();
      retry_.expires_after(pause);
      retry_.async_wait([this](boost::system::error_code e) {
        if (!e && !closed_) do_accept();
      });
      return;
    }
    pacing_.succeeded();
    answer(socket);
    do_accept();
  });
}

void agent_check::answer(tcp::socket& socket) {
  boost::system::error_code ec;
  const std::string text = answer_() + "\n";
  // A dozen bytes into the empty send buffer of a new connection: a non-blocking write takes
  // them whole, so no operation outlives this handler. A write that fails (the peer already
  // reset) loses that one check, which HAProxy does not count against the server.
  socket.non_blocking(true, ec);
  if (!ec) socket.write_some(net::buffer(text), ec);
  // HAProxy sends nothing unless told to (agent-send); whatever did arrive is read and
  // dropped, so that closing sends a FIN after the line rather than a reset that may
  // destroy it in the peer's buffer. Never more than arrived: nothing waits here.
  std::array<char, 512> discard;
  socket.shutdown(tcp::socket::shutdown_send, ec);
  socket.read_some(net::buffer(discard), ec);
  socket.close(ec);
}

}  // namespace server

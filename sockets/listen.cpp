#include "sockets/listen.hpp"

#include <stdexcept>

namespace sockets {

namespace net = boost::asio;
using tcp = net::ip::tcp;

tcp::acceptor listen_on(net::io_context& ioc, const std::string& host, std::uint16_t port,
                        std::string_view host_setting) {
  boost::system::error_code ec;
  const auto address = net::ip::make_address(host, ec);
  if (ec)
    throw std::runtime_error(std::string(host_setting) + ": cannot use '" + host +
                             "': " + ec.message());
  const tcp::endpoint endpoint{address, port};
  tcp::acceptor acceptor(ioc);
  auto check = [&](const char* what) {
    if (ec)
      throw std::runtime_error("cannot listen on " + host + ":" + std::to_string(port) + " (" +
                               what + "): " + ec.message());
  };
  acceptor.open(endpoint.protocol(), ec);
  check("open");
  acceptor.set_option(net::socket_base::reuse_address(true), ec);
  check("SO_REUSEADDR");
  acceptor.bind(endpoint, ec);
  check("bind");
  acceptor.listen(net::socket_base::max_listen_connections, ec);
  check("listen");
  return acceptor;
}

}  // namespace sockets

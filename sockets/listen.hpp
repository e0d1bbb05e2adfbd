#pragma once
// A listening TCP socket on a configured address, or an exception that names the setting.

#include <utility>  // before Asio: see docs/architecture.md, known pitfalls

#include <cstdint>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace sockets {

/// Binds and listens on host:port (port 0: any free port). Throws std::runtime_error naming
/// `host_setting` (e.g. "HOST") when the address is unusable or the bind fails.
boost::asio::ip::tcp::acceptor listen_on(boost::asio::io_context& ioc, const std::string& host,
                                         std::uint16_t port, std::string_view host_setting);

}  // namespace sockets

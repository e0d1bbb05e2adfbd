#pragma once
// The executor, socket and timer types of a connection, shared by the HTTP sessions and the
// actor links: each connection lives on one io_context, run by one thread, so it needs no
// strand and no type-erased executor.

#include <utility>  // before Asio: see docs/architecture.md, known pitfalls

#include <boost/asio/basic_stream_socket.hpp>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "pool/job_clock.hpp"

namespace sockets {

/// The executor of a connection: its io_context's, with no strand or type erasure.
using io_executor = boost::asio::io_context::executor_type;
using tcp_socket = boost::asio::basic_stream_socket<boost::asio::ip::tcp, io_executor>;
using steady_timer =
    boost::asio::basic_waitable_timer<pool::clock, boost::asio::wait_traits<pool::clock>,
                                      io_executor>;

}  // namespace sockets

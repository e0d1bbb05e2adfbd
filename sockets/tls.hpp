#pragma once
// What authenticates the two ends of the actor port: the TLS contexts of the server and of
// poolactor (mutual TLS, PEM files named by ACTOR_TLS_CERT, ACTOR_TLS_KEY, ACTOR_TLS_CA), and
// the comparison of a shared token (ACTOR_TOKEN) that leaks nothing through its timing.

#include <utility>  // before Asio: see docs/architecture.md, known pitfalls

#include <string>
#include <string_view>

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>

#include "sockets/asio_types.hpp"

namespace sockets {

/// A TLS connection on one io_context, as `tcp_socket` is a plain one.
using tls_socket = boost::asio::ssl::stream<tcp_socket>;

/// The PEM files of one end of the actor port.
struct tls_files {
  std::string cert;  ///< ACTOR_TLS_CERT: this end's certificate, then any intermediate ones
  std::string key;   ///< ACTOR_TLS_KEY: its private key, unencrypted
  std::string ca;    ///< ACTOR_TLS_CA: the CA (one or more) the peer's certificate must chain to
};

/// The server's context: TLS 1.2 or later, its certificate and key from `files`, and every
/// actor must present a certificate that chains to `files.ca` (else its handshake fails).
/// Throws std::runtime_error naming the setting, the file and the reason (the system's or
/// OpenSSL's) when a file cannot be read or used.
boost::asio::ssl::context server_tls_context(const tls_files& files);

/// poolactor's context: TLS 1.2 or later, its certificate and key from `files`, and the
/// server's certificate must chain to `files.ca` and name `server_host`, the host name or IP
/// address poolactor connects to (a DNS or IP subject alternative name). Throws as
/// server_tls_context.
boost::asio::ssl::context client_tls_context(const tls_files& files,
                                             const std::string& server_host);

/// Whether two secrets are equal, without the time it takes telling where they differ or
/// whether their lengths match: compares their SHA-256 digests with CRYPTO_memcmp. (Hashing
/// takes a step per 64 bytes of each, which shows a length only to 64 bytes, not a content.)
bool same_secret(std::string_view a, std::string_view b);

}  // namespace sockets

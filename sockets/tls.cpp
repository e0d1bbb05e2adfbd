#include "sockets/tls.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include <boost/asio/ssl/host_name_verification.hpp>

namespace sockets {

namespace ssl = boost::asio::ssl;

namespace {

// A PEM file of certificates or a key is a few KiB; a bigger one is the wrong file.
constexpr std::size_t max_pem_bytes = 1 << 20;

[[noreturn]] void fail(std::string_view setting, const std::string& path,
                       const std::string& reason) {
  throw std::runtime_error(std::string(setting) + ": cannot use '" + path + "': " + reason);
}

// The whole file, or an error with the system's reason. Read here rather than by OpenSSL,
// whose errors for a missing or unreadable file say less ("system lib").
std::string read_file(std::string_view setting, const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(setting, path, std::strerror(errno));
  std::string text;
  std::array<char, 16384> buf;
  for (;;) {
    const auto n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      fail(setting, path, std::strerror(err));
    }
    if (n == 0) break;
    text.append(buf.data(), static_cast<std::size_t>(n));
    if (text.size() > max_pem_bytes) {
      ::close(fd);
      fail(setting, path, "over 1 MiB: not a PEM certificate or key");
    }
  }
  ::close(fd);
  return text;
}

// What OpenSSL says went wrong: the last error it queued (the most specific one: "no start
// line" rather than "PEM lib"), else what Asio made of it. Empties the queue.
std::string openssl_reason(const boost::system::error_code& ec) {
  const unsigned long last = ::ERR_peek_last_error();
  ::ERR_clear_error();
  if (last != 0)
    if (const char* reason = ::ERR_reason_error_string(last)) return reason;
  return ec.message();
}

// A file's PEM text, wiped from memory when done: it may be a private key.
class pem_text {
 public:
  pem_text(std::string_view setting, const std::string& path)
      : setting_(setting), path_(path), text_(read_file(setting, path)) {}
  ~pem_text() { ::OPENSSL_cleanse(text_.data(), text_.size()); }
  pem_text(const pem_text&) = delete;
  pem_text& operator=(const pem_text&) = delete;

  boost::asio::const_buffer buffer() const { return boost::asio::buffer(text_); }
  bool contains(std::string_view s) const { return text_.find(s) != std::string::npos; }
  /// Throws naming the setting and the file.
  [[noreturn]] void fail(const std::string& reason) const {
    sockets::fail(setting_, path_, reason);
  }
  /// Throws when `ec` is an error (a certificate, or the CA's), with a hint when the file
  /// holds no certificate at all: OpenSSL's reason then is "no start line".
  void check_certificates(const boost::system::error_code& ec) const {
    if (!ec) return;
    auto reason = openssl_reason(ec);
    if (!contains("-----BEGIN CERTIFICATE-----")) reason += " (no PEM certificate in it)";
    fail(reason);
  }

 private:
  std::string_view setting_;
  const std::string& path_;
  std::string text_;
};

// What both ends share: the protocol floor, this end's certificate and key, the CA.
ssl::context make_context(ssl::context::method method, const tls_files& files) {
  ssl::context ctx(method);
  // TLS 1.2 at least; SSLv3, TLS 1.0 and 1.1 have known weaknesses.
  ::SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_compression);
  // An encrypted key must fail at start-up, not wait for a passphrase on the terminal.
  ctx.set_password_callback([](std::size_t, ssl::context::password_purpose) { return ""; });
  boost::system::error_code ec;

  const pem_text cert("ACTOR_TLS_CERT", files.cert);
  ctx.use_certificate_chain(cert.buffer(), ec);
  cert.check_certificates(ec);

  const pem_text key("ACTOR_TLS_KEY", files.key);
  ctx.use_private_key(key.buffer(), ssl::context::pem, ec);
  if (!ec && ::SSL_CTX_check_private_key(ctx.native_handle()) != 1)
    ec = boost::asio::error::invalid_argument;
  if (ec) {
    auto reason = openssl_reason(ec);
    if (key.contains("ENCRYPTED"))
      reason += " (the key is encrypted: give it unencrypted)";
    else if (!key.contains("PRIVATE KEY-----"))
      reason += " (no PEM private key in it)";
    else if (reason.find("mismatch") != std::string::npos)
      reason += " (not the key of the certificate in ACTOR_TLS_CERT)";
    key.fail(reason);
  }

  const pem_text ca("ACTOR_TLS_CA", files.ca);
  ctx.add_certificate_authority(ca.buffer(), ec);
  ca.check_certificates(ec);
  return ctx;
}

}  // namespace

ssl::context server_tls_context(const tls_files& files) {
  auto ctx = make_context(ssl::context::tls_server, files);
  ctx.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
  // Actors hold their connection for long: resuming a session would save nothing, and
  // without a cache a verified session cannot outlive a change of CA either.
  ::SSL_CTX_set_session_cache_mode(ctx.native_handle(), SSL_SESS_CACHE_OFF);
  ::SSL_CTX_set_num_tickets(ctx.native_handle(), 0);
  return ctx;
}

ssl::context client_tls_context(const tls_files& files, const std::string& server_host) {
  auto ctx = make_context(ssl::context::tls_client, files);
  ctx.set_verify_mode(ssl::verify_peer);
  ctx.set_verify_callback(ssl::host_name_verification(server_host));
  return ctx;
}

bool same_secret(std::string_view a, std::string_view b) {
  // Digests of one length: CRYPTO_memcmp reads all of both whatever they hold, and a
  // shorter or longer guess is compared in the same time as one of the right length.
  std::array<unsigned char, EVP_MAX_MD_SIZE> da{}, db{};
  unsigned int na = 0, nb = 0;
  if (::EVP_Digest(a.data(), a.size(), da.data(), &na, ::EVP_sha256(), nullptr) != 1 ||
      ::EVP_Digest(b.data(), b.size(), db.data(), &nb, ::EVP_sha256(), nullptr) != 1 || na != nb)
    return false;
  return ::CRYPTO_memcmp(da.data(), db.data(), na) == 0;
}

}  // namespace sockets

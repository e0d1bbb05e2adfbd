// The actor port's TLS contexts (sockets/tls.cpp): real handshakes over loopback between a
// server context and an actor's, with good, wrong and missing certificates; the errors for
// files that cannot be used; and the constant-time comparison of tokens.

#include <utility>  // before Asio: see docs/architecture.md, known pitfalls

#include <chrono>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>

#include <openssl/ssl.h>

#include <doctest/doctest.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/write.hpp>

#include "sockets/tls.hpp"
#include "tls_support.hpp"

namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;

// What each end of one connection saw: its handshake, then the actor's read of the greeting
// the server writes once its handshake succeeds (empty optional: not reached).
struct tls_outcome {
  std::optional<boost::system::error_code> server, actor, actor_read;
  std::string greeting;
};

// One connection on 127.0.0.1 between a server with `server_ctx` and an actor with
// `actor_ctx`; an end whose handshake fails closes its socket, as the real ones will.
tls_outcome tls_connect(ssl::context& server_ctx, ssl::context& actor_ctx) {
  net::io_context io;
  net::ip::tcp::acceptor acceptor(io, {net::ip::make_address("127.0.0.1"), 0});
  sockets::tls_socket server(io.get_executor(), server_ctx);
  sockets::tls_socket actor(io.get_executor(), actor_ctx);
  tls_outcome out;
  std::string sent = "hello";
  char received[5] = {};

  acceptor.async_accept(server.next_layer(), [&](boost::system::error_code ec) {
    REQUIRE_FALSE(ec);
    server.async_handshake(ssl::stream_base::server, [&](boost::system::error_code ec) {
      out.server = ec;
      if (ec) return server.next_layer().close();
      net::async_write(server, net::buffer(sent), [](boost::system::error_code, std::size_t) {});
    });
  });
  actor.next_layer().async_connect(acceptor.local_endpoint(), [&](boost::system::error_code ec) {
    REQUIRE_FALSE(ec);
    actor.async_handshake(ssl::stream_base::client, [&](boost::system::error_code ec) {
      out.actor = ec;
      if (ec) return actor.next_layer().close();
      // With TLS 1.3 the actor's handshake ends before the server has checked its
      // certificate: a refusal shows in the first read.
      net::async_read(actor, net::buffer(received),
                      [&](boost::system::error_code ec, std::size_t n) {
                        out.actor_read = ec;
                        out.greeting.assign(received, n);
                      });
    });
  });
  io.run_for(std::chrono::seconds(30));
  REQUIRE(io.stopped());  // every handler ran: nothing hung
  return out;
}

// An actor's context with no certificate: it only checks the server's.
ssl::context actor_without_certificate() {
  ssl::context ctx(ssl::context::tls_client);
  ctx.load_verify_file(test::certs().file("good", "ca.pem"));
  ctx.set_verify_mode(ssl::verify_peer);
  ctx.set_verify_callback(ssl::host_name_verification("127.0.0.1"));
  return ctx;
}

// The error message of making a server context from `files`; empty when it is made.
std::string tls_context_error(const sockets::tls_files& files) {
  try {
    sockets::server_tls_context(files);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path) << text;
}

}  // namespace

TEST_CASE("tls: an actor with a certificate from the server's CA connects") {
  const auto& certs = test::certs();
  auto server_ctx = sockets::server_tls_context(certs.server());
  auto actor_ctx = sockets::client_tls_context(certs.actor(), "127.0.0.1");
  const auto out = tls_connect(server_ctx, actor_ctx);
  REQUIRE(out.server);
  CHECK_MESSAGE(!*out.server, out.server->message());
  REQUIRE(out.actor);
  CHECK_MESSAGE(!*out.actor, out.actor->message());
  CHECK(out.greeting == "hello");
}

TEST_CASE("tls: an actor certificate signed by another CA is refused") {
  const auto& certs = test::certs();
  auto server_ctx = sockets::server_tls_context(certs.server());
  auto actor_ctx = sockets::client_tls_context(certs.wrong_actor(), "127.0.0.1");
  const auto out = tls_connect(server_ctx, actor_ctx);
  REQUIRE(out.server);
  CHECK(*out.server);  // the server refuses the handshake
  CHECK(out.greeting.empty());
  // The actor learns it: its handshake fails (TLS 1.2) or its first read does (TLS 1.3).
  CHECK(((out.actor && *out.actor) || (out.actor_read && *out.actor_read)));
}

TEST_CASE("tls: an actor without a certificate is refused") {
  auto server_ctx = sockets::server_tls_context(test::certs().server());
  auto actor_ctx = actor_without_certificate();
  const auto out = tls_connect(server_ctx, actor_ctx);
  REQUIRE(out.server);
  CHECK(*out.server);
  CHECK(out.greeting.empty());
  CHECK(((out.actor && *out.actor) || (out.actor_read && *out.actor_read)));
}

TEST_CASE("tls: the server's certificate is a server's, not an actor's") {
  // The server's own certificate is for serverAuth only: an actor cannot pass it as its own.
  const auto& certs = test::certs();
  auto server_ctx = sockets::server_tls_context(certs.server());
  auto actor_ctx = sockets::client_tls_context(certs.server(), "127.0.0.1");
  const auto out = tls_connect(server_ctx, actor_ctx);
  REQUIRE(out.server);
  CHECK(*out.server);
  CHECK(out.greeting.empty());
}

TEST_CASE("tls: the actor checks the server's name and CA") {
  const auto& certs = test::certs();
  auto server_ctx = sockets::server_tls_context(certs.server());
  // The names in the server's certificate: the script's defaults and the ones it was given.
  for (const char* name : {"127.0.0.1", "::1", "localhost", "actors.example", "10.1.2.3"}) {
    CAPTURE(name);
    auto actor_ctx = sockets::client_tls_context(certs.actor(), name);
    const auto out = tls_connect(server_ctx, actor_ctx);
    REQUIRE(out.actor);
    CHECK_MESSAGE(!*out.actor, out.actor->message());
    CHECK(out.greeting == "hello");
  }
  for (const char* name : {"other.example", "10.1.2.4", "127.0.0.2", "actors.example.org"}) {
    CAPTURE(name);
    auto actor_ctx = sockets::client_tls_context(certs.actor(), name);
    const auto out = tls_connect(server_ctx, actor_ctx);
    REQUIRE(out.actor);
    CHECK(*out.actor);  // the actor refuses a server that is not the one it asked for
    CHECK(out.greeting.empty());
    REQUIRE(out.server);
    CHECK(*out.server);
  }
  // A server whose certificate another CA signed: the wrong CA's actor certificate stands
  // in for one (it chains to that CA), and the actor refuses it.
  auto impostor_ctx =
      sockets::server_tls_context({certs.file("wrong", "actor.pem"),
                                   certs.file("wrong", "actor.key"), certs.file("good", "ca.pem")});
  auto actor_ctx = sockets::client_tls_context(certs.actor(), "127.0.0.1");
  const auto out = tls_connect(impostor_ctx, actor_ctx);
  REQUIRE(out.actor);
  CHECK(*out.actor);
  CHECK(out.greeting.empty());
}

TEST_CASE("tls: both contexts ask for TLS 1.2 at least") {
  const auto& certs = test::certs();
  auto server_ctx = sockets::server_tls_context(certs.server());
  auto actor_ctx = sockets::client_tls_context(certs.actor(), "127.0.0.1");
  CHECK(SSL_CTX_get_min_proto_version(server_ctx.native_handle()) == TLS1_2_VERSION);
  CHECK(SSL_CTX_get_min_proto_version(actor_ctx.native_handle()) == TLS1_2_VERSION);
  CHECK((SSL_CTX_get_verify_mode(server_ctx.native_handle()) & SSL_VERIFY_FAIL_IF_NO_PEER_CERT) !=
        0);
  CHECK((SSL_CTX_get_verify_mode(actor_ctx.native_handle()) & SSL_VERIFY_PEER) != 0);
}

TEST_CASE("tls: a file that cannot be used is an error naming the setting, file and reason") {
  const auto& certs = test::certs();
  const auto missing = (certs.dir() / "missing.pem").string();
  auto with = [&](auto member, std::string path) {
    auto files = certs.server();
    files.*member = std::move(path);
    return tls_context_error(files);
  };
  using files = sockets::tls_files;
  CHECK(with(&files::cert, missing) ==
        "ACTOR_TLS_CERT: cannot use '" + missing + "': No such file or directory");
  CHECK(with(&files::key, missing) ==
        "ACTOR_TLS_KEY: cannot use '" + missing + "': No such file or directory");
  CHECK(with(&files::ca, missing) ==
        "ACTOR_TLS_CA: cannot use '" + missing + "': No such file or directory");
  const auto dir = certs.dir().string();
  CHECK(with(&files::cert, dir) == "ACTOR_TLS_CERT: cannot use '" + dir + "': Is a directory");

  // Files that are there but hold the wrong thing: OpenSSL's reason.
  const auto garbage = (certs.dir() / "garbage.pem").string();
  write_text(garbage, "not a certificate\n");
  for (auto member : {&files::cert, &files::key, &files::ca}) {
    const auto msg = with(member, garbage);
    CAPTURE(msg);
    CHECK(msg.find(": cannot use '" + garbage + "': ") != std::string::npos);
    CHECK(msg.size() > msg.find("': ") + 4);  // a reason follows
  }
  CHECK(with(&files::cert, garbage).starts_with("ACTOR_TLS_CERT: "));
  CHECK(with(&files::cert, garbage).ends_with(" (no PEM certificate in it)"));
  CHECK(with(&files::key, garbage).starts_with("ACTOR_TLS_KEY: "));
  CHECK(with(&files::key, garbage).ends_with(" (no PEM private key in it)"));
  CHECK(with(&files::ca, garbage).starts_with("ACTOR_TLS_CA: "));
  CHECK(with(&files::ca, garbage).ends_with(" (no PEM certificate in it)"));
  // The certificate and the key swapped: each is the wrong kind of PEM.
  CHECK(
      with(&files::cert, certs.file("good", "server.key")).ends_with("(no PEM certificate in it)"));
  CHECK(
      with(&files::key, certs.file("good", "server.pem")).ends_with("(no PEM private key in it)"));

  // A key that is not the certificate's, and an encrypted key.
  const auto other_key = certs.file("wrong", "actor.key");
  const auto mismatch = with(&files::key, other_key);
  CHECK(mismatch.starts_with("ACTOR_TLS_KEY: cannot use '" + other_key + "': "));
  CHECK(mismatch.ends_with("(not the key of the certificate in ACTOR_TLS_CERT)"));
  const auto encrypted = (certs.dir() / "encrypted.key").string();
  const auto command = "openssl pkey -in '" + certs.file("good", "server.key") +
                       "' -aes256 -passout pass:secret -out '" + encrypted + "'";
  REQUIRE(std::system(command.c_str()) == 0);
  const auto locked = with(&files::key, encrypted);
  CHECK(locked.starts_with("ACTOR_TLS_KEY: cannot use '" + encrypted + "': "));
  CHECK(locked.find("encrypted") != std::string::npos);

  // The actor's context reads the same files, with the same errors.
  auto files_of_actor = certs.actor();
  files_of_actor.ca = missing;
  CHECK_THROWS_WITH_AS(
      sockets::client_tls_context(files_of_actor, "127.0.0.1"),
      ("ACTOR_TLS_CA: cannot use '" + missing + "': No such file or directory").c_str(),
      std::runtime_error);
  CHECK(tls_context_error(certs.server()).empty());
}

TEST_CASE("tls: same_secret compares whole secrets") {
  const std::string token = "0123456789abcdef0123456789abcdef";
  CHECK(sockets::same_secret(token, token));
  CHECK(sockets::same_secret(token, std::string(token)));
  CHECK(sockets::same_secret("", ""));
  auto last = token;
  last.back() = 'g';
  CHECK_FALSE(sockets::same_secret(token, last));
  auto first = token;
  first.front() = '1';
  CHECK_FALSE(sockets::same_secret(token, first));
  CHECK_FALSE(sockets::same_secret(token, token.substr(0, 31)));  // a prefix is not the secret
  CHECK_FALSE(sockets::same_secret(token, token + "x"));
  CHECK_FALSE(sockets::same_secret(token, ""));
  CHECK_FALSE(sockets::same_secret("", token));
  // Bytes after a NUL count: the secrets are compared as their whole length.
  CHECK_FALSE(sockets::same_secret(std::string_view("ab\0c", 4), std::string_view("ab\0d", 4)));
  CHECK(sockets::same_secret(std::string_view("ab\0c", 4), std::string_view("ab\0c", 4)));
}

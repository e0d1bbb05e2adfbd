#pragma once
// Certificates for the actor port's TLS, made by scripts/make-actor-certs.sh in a temporary
// directory of the test process (about 0.3 s), so that tests run in parallel (ctest -j) and
// alone (the test binary by hand) without a fixture; the directory is removed at exit.

#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include <doctest/doctest.h>

#include "sockets/tls.hpp"

namespace test {

/// Two unrelated sets: `good` (a CA, the server's certificate for 127.0.0.1, ::1,
/// localhost, actors.example and 10.1.2.3, and an actor's) and `wrong` (another CA and an
/// actor certificate that it signed).
class actor_certs {
 public:
  actor_certs() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "poolserver-certs-XXXXXX");
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    dir_ = tmpl;
    make("good", "actors.example 10.1.2.3");
    make("wrong", "");
  }
  ~actor_certs() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  actor_certs(const actor_certs&) = delete;
  actor_certs& operator=(const actor_certs&) = delete;

  /// A file of a set: file("good", "ca.pem").
  std::string file(const char* set, const char* name) const { return dir_ / set / name; }
  /// The server's ACTOR_TLS_* files.
  sockets::tls_files server() const {
    return {file("good", "server.pem"), file("good", "server.key"), file("good", "ca.pem")};
  }
  /// An actor's ACTOR_TLS_* files, its certificate from the server's CA.
  sockets::tls_files actor() const {
    return {file("good", "actor.pem"), file("good", "actor.key"), file("good", "ca.pem")};
  }
  /// An actor's files whose certificate another CA signed (it still trusts the server).
  sockets::tls_files wrong_actor() const {
    return {file("wrong", "actor.pem"), file("wrong", "actor.key"), file("good", "ca.pem")};
  }
  /// The temporary directory, for a test's own files.
  const std::filesystem::path& dir() const { return dir_; }

 private:
  void make(const char* set, const std::string& names) {
    const std::string command =
        "'" MAKE_ACTOR_CERTS "' '" + (dir_ / set).string() + "' " + names + " >/dev/null";
    REQUIRE_MESSAGE(std::system(command.c_str()) == 0, command);
  }

  std::filesystem::path dir_;
};

/// This process's certificates, made on first use.
inline const actor_certs& certs() {
  static const actor_certs made;
  return made;
}

}  // namespace test

// Who may join the actor port: a shared token (ACTOR_TOKEN) checked in the greeting, and
// mutual TLS (ACTOR_TLS_*) with the real poolactor. A refused actor is counted by reason and
// never gets a job.

#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <variant>

#include "actor_support.hpp"
#include "child_process.hpp"
#include "fake_actor.hpp"
#include "tls_support.hpp"

namespace {

using test::actor_port;
using test::body_of;
using test::fake_actor;
using test::http_client;
using test::running_server;
using test::wait_for_actors;
using test::with_actors;
namespace http = boost::beast::http;
using namespace std::chrono_literals;

const std::string token = "a-token-of-at-least-16-bytes";

// A refusal, then the connection closed: nothing else (no job) came first.
void check_refused(fake_actor& a, const actor::from_server& answer, const std::string& why) {
  REQUIRE(std::holds_alternative<actor::refused>(answer));
  CHECK(std::get<actor::refused>(answer).reason.find(why) != std::string::npos);
  CHECK(a.closed_by_server());
}

}  // namespace

TEST_CASE("actor token: a missing or wrong token is refused and counted, the right one serves") {
  auto cfg = with_actors(0);
  cfg.actor_token = token;
  cfg.actor_timeout = 300ms;
  running_server s(cfg);
  {
    fake_actor none(actor_port(s));
    check_refused(none, none.greet(), "asks for a token");
    fake_actor wrong(actor_port(s));
    check_refused(wrong, wrong.greet({"square_sum"}, token + "x"), "wrong token");
    // A seed actor cannot say a token: it is refused once ACTOR_TIMEOUT_MS passes in silence.
    fake_actor seed(actor_port(s));
    check_refused(seed, seed.next_message(), "no greeting");
  }
  CHECK(s.metric("poolserver_actor_refusals_total{reason=\"credentials\"}") == 2);
  CHECK(s.metric("poolserver_actor_refusals_total{reason=\"greeting\"}") == 1);
  CHECK(s.srv->workers().remotes().empty());

  fake_actor good(actor_port(s));
  REQUIRE(std::holds_alternative<actor::welcome>(good.greet({"square_sum"}, token)));
  wait_for_actors(s, 1);
  http_client c(s.port);
  c.send(http::verb::get, "/9");
  const auto job = good.next_job();
  good.answer(job.id, 2.0, 31);
  CHECK(body_of(c.read())["actor"] == 31);
}

TEST_CASE("actor TLS: poolactor with good certificates serves, wrong or none are refused") {
  const auto& certs = test::certs();
  auto cfg = with_actors(0);
  cfg.actor_token = token;  // TLS and a token together, as the README sets them up
  cfg.actor_tls_cert = certs.server().cert;
  cfg.actor_tls_key = certs.server().key;
  cfg.actor_tls_ca = certs.server().ca;
  running_server s(cfg);
  const auto address = "127.0.0.1:" + std::to_string(actor_port(s));
  auto tls_env = [](const sockets::tls_files& f) {
    return std::vector<std::string>{"THREADS=1", "ACTOR_TOKEN=" + token,
                                    "ACTOR_TLS_CERT=" + f.cert, "ACTOR_TLS_KEY=" + f.key,
                                    "ACTOR_TLS_CA=" + f.ca};
  };
  test::child good(tls_env(certs.actor()), POOLACTOR_BINARY, {address});
  wait_for_actors(s, 1);
  http_client c(s.port);
  const auto r = c.get("/1000");
  CHECK(r.result_int() == 200);
  CHECK(body_of(r)["actor"] == good.pid());

  // Signed by another CA, then no certificate at all: refused at the handshake, every retry.
  {
    test::child wrong(tls_env(certs.wrong_actor()), POOLACTOR_BINARY, {address});
    test::wait_until(
        [&] { return s.metric("poolserver_actor_refusals_total{reason=\"tls\"}") >= 1; });
    test::child plain({"THREADS=1"}, POOLACTOR_BINARY, {address});
    test::wait_until(
        [&] { return s.metric("poolserver_actor_refusals_total{reason=\"tls\"}") >= 3; });
    CHECK(s.srv->workers().remotes().size() == 1);
  }
  // An actor that does not trust the server's certificate refuses it itself.
  auto distrust = tls_env(certs.actor());
  distrust.back() = "ACTOR_TLS_CA=" + certs.file("wrong", "ca.pem");
  test::child doubter(distrust, POOLACTOR_BINARY, {address});
  REQUIRE(doubter.read_until("TLS handshake with"));
  CHECK(doubter.output().find("certificate verify failed") != std::string::npos);
  CHECK(s.srv->workers().remotes().size() == 1);
  // Every job went to the good actor.
  for (int i = 0; i < 5; ++i) CHECK(body_of(c.get("/100"))["actor"] == good.pid());
}

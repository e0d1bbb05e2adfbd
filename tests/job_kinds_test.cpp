// Job kinds per backend: KINDS says what a process runs (the second built-in kind, sleep_ms,
// included); a kind goes only to backends that run it; a kind only actors offer appears with
// the first and is gone (503, not 404) with the last; poolactor offers its KINDS.

#include <doctest/doctest.h>

#include <chrono>
#include <map>
#include <string>
#include <variant>

#include "actor_support.hpp"
#include "child_process.hpp"
#include "config/config.hpp"
#include "fake_actor.hpp"
#include "pool/remote_kinds.hpp"
#include "workers/job_registry.hpp"

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

config::settings load_kinds(const std::string& kinds) {
  return config::load(
      [&](std::string_view name) -> std::optional<std::string> {
        if (name == "KINDS") return kinds;
        return std::nullopt;
      },
      2);
}

}  // namespace

TEST_CASE("KINDS: built-in names, comma-separated, none twice, default square_sum") {
  CHECK(config::settings{}.kinds == std::vector<std::string>{"square_sum"});
  CHECK(load_kinds("square_sum, sleep_ms").kinds ==
        std::vector<std::string>{"square_sum", "sleep_ms"});
  CHECK(load_kinds("sleep_ms").kinds == std::vector<std::string>{"sleep_ms"});
  for (const char* bad : {"cube", "square_sum,square_sum", "square_sum,", ",sleep_ms"}) {
    CAPTURE(bad);
    try {
      load_kinds(bad);
      FAIL("accepted");
    } catch (const config::config_error& e) {
      CHECK(std::string(e.what()).find("square_sum, sleep_ms") != std::string::npos);
    }
  }
  const auto r = workers::registry_of({"sleep_ms"});
  CHECK(r.default_kind() == "sleep_ms");
  CHECK(r.find("square_sum") == nullptr);
  CHECK(workers::registry_of({"sleep_ms", "square_sum"}).default_kind() == "square_sum");
}

TEST_CASE("sleep_ms: sleeps n ms, returns n, and stops within a step when cancelled") {
  pool::cancel_token never;
  const auto start = std::chrono::steady_clock::now();
  CHECK(workers::sleep_ms(20, never) == 20.0);
  CHECK(std::chrono::steady_clock::now() - start >= 20ms);
  pool::cancel_token stop;
  stop.cancel(pool::stop_reason::client_gone);
  CHECK_THROWS_AS(workers::sleep_ms(60'000, stop), pool::job_cancelled);
}

TEST_CASE("remote kinds: appear with the first backend, gone with the last, names checked") {
  pool::remote_kinds k;
  CHECK(k.lookup("cube").now == pool::remote_kinds::state::unknown);
  k.offered({"cube", "square_sum"});
  k.offered({"cube"});
  const auto found = k.lookup("cube");
  CHECK(found.now == pool::remote_kinds::state::offered);
  CHECK(found.name == "cube");
  k.withdrawn({"cube"});
  CHECK(k.lookup("cube").now == pool::remote_kinds::state::offered);
  k.withdrawn({"cube", "square_sum"});
  CHECK(k.lookup("cube").now == pool::remote_kinds::state::gone);
  CHECK(k.lookup("cube").name.data() == found.name.data());  // the same stored name
  CHECK(pool::remote_kinds::valid_name("a.b-c_9"));
  CHECK_FALSE(pool::remote_kinds::valid_name(""));
  CHECK_FALSE(pool::remote_kinds::valid_name("a/b"));
  CHECK_FALSE(pool::remote_kinds::valid_name(std::string(65, 'a')));
  CHECK_FALSE(k.can_offer({"ok", "not ok"}));
  std::vector<std::string> many;
  for (std::size_t i = 0; i < pool::remote_kinds::max_names; ++i) many.push_back(std::to_string(i));
  CHECK_FALSE(k.can_offer(many));  // two names remembered already
  many.resize(pool::remote_kinds::max_names - 2);
  CHECK(k.can_offer(many));
}

TEST_CASE("job kinds: a kind goes only to the actors that offer it, and 503 once none does") {
  running_server s(with_actors(1));  // a local worker: square_sum and the test kinds
  CHECK(http_client(s.port).get("/cube?n=1").result_int() == 404);  // nobody offers it yet
  fake_actor cubes(actor_port(s));
  REQUIRE(std::holds_alternative<actor::welcome>(cubes.greet({"cube"})));
  wait_for_actors(s, 1);

  http_client c(s.port);
  for (int i = 0; i < 4; ++i) {
    c.send(http::verb::get, "/cube?n=" + std::to_string(i));
    const auto job = cubes.next_job();
    CHECK(job.method == "cube");
    CHECK(job.n == static_cast<std::uint64_t>(i));
    cubes.answer(job.id, i * i * i, 8);
    const auto body = body_of(c.read());
    CHECK(body["actor"] == 8);
  }
  c.send(http::verb::post, "/rpc", R"({"jsonrpc":"2.0","id":1,"method":"cube","params":[5]})");
  const auto rpc = cubes.next_job();
  cubes.answer(rpc.id, 125, 8);
  CHECK(body_of(c.read())["result"]["sum"] == 125);
  // square_sum runs on the local worker, never on the actor that offers cube only.
  for (int i = 0; i < 6; ++i) {
    const auto body = body_of(c.get("/100"));
    CHECK(body.contains("worker"));
  }
  CHECK(s.metric("poolserver_actor_jobs_produced_total{actor=\"" +
                 s.srv->workers().remotes().at(0)->name() + "\"}") == 5);

  cubes.close();
  wait_for_actors(s, 0);
  auto gone = c.get("/cube?n=2");
  CHECK(gone.result_int() == 503);
  CHECK(gone[http::field::retry_after] == "1");
  CHECK(body_of(gone)["reason"] == "no_backend");
  auto rpc_gone = body_of(
      c.request(http::verb::post, "/rpc", R"({"jsonrpc":"2.0","id":2,"method":"cube","params":[1]})"));
  CHECK(rpc_gone["error"]["data"]["reason"] == "no_backend");
  CHECK(c.get("/never_offered?n=2").result_int() == 404);
}

TEST_CASE("job kinds: poolactor offers its KINDS, a kind the server does not run included") {
  running_server s(with_actors(0));  // runs square_sum locally only (and no worker)
  const auto address = "127.0.0.1:" + std::to_string(actor_port(s));
  test::child a({"THREADS=1", "KINDS=sleep_ms"}, POOLACTOR_BINARY, {address});
  wait_for_actors(s, 1);
  http_client c(s.port);
  const auto r = c.get("/sleep_ms?n=5");
  CHECK(r.result_int() == 200);
  const auto body = body_of(r);
  CHECK(body["sum"] == 5.0);
  CHECK(body["actor"] == a.pid());
  // It does not offer square_sum, and nothing else does.
  const auto none = c.get("/1000");
  CHECK(none.result_int() == 503);
  CHECK(body_of(none)["error"].get<std::string>().find("square_sum") != std::string::npos);
}

TEST_CASE("job kinds: KINDS=square_sum,sleep_ms runs sleep_ms on the server's own workers") {
  test::server_process with({"THREADS=1", "KINDS=square_sum,sleep_ms"});
  const auto body = body_of(http_client(with.port).get("/sleep_ms?n=5"));
  CHECK(body["sum"] == 5.0);
  CHECK(body["worker"] == 0);
  test::server_process without({"THREADS=1"});
  CHECK(http_client(without.port).get("/sleep_ms?n=5").result_int() == 404);
}

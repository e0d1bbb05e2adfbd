// The server's side of remote actors, with hand-driven actors (fake_actor.hpp): jobs go out
// in the protocol's format, answers come back in any order and framing, a misbehaving or
// silent actor is removed and its jobs run elsewhere, exactly once.

#include <doctest/doctest.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "actor_support.hpp"
#include "child_process.hpp"
#include "fake_actor.hpp"

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

}  // namespace

TEST_CASE("actors: a job goes out as the protocol says, and the answer names the actor's pid") {
  running_server s(with_actors(0));
  fake_actor a(actor_port(s));
  wait_for_actors(s, 1);

  http_client c(s.port);
  c.send(http::verb::get, "/7");
  const auto job = a.next_job();
  CHECK(job.method == "square_sum");
  CHECK(job.n == 7);
  a.answer(job.id, 42.5, 4242);
  const auto r = c.read();
  CHECK(r.result_int() == 200);
  CHECK(body_of(r) == nlohmann::json{{"actor", 4242}, {"sum", 42.5}, {"value", 7}});
  CHECK(r.body() == R"({"actor":4242,"sum":42.5,"value":7})");

  c.send(http::verb::post, "/rpc",
         R"({"jsonrpc":"2.0","id":"x","method":"square_sum","params":[9]})");
  const auto rpc = a.next_job();
  CHECK(rpc.n == 9);
  CHECK(rpc.id != job.id);
  a.answer(rpc.id, 1.25, 4242);
  const auto rr = body_of(c.read());
  CHECK(rr["result"] == nlohmann::json{{"actor", 4242}, {"sum", 1.25}, {"value", 9}});
  CHECK(s.metric("poolserver_actor_jobs_completed_total{actor=\"" +
                 s.srv->workers().remotes().at(0)->name() + "\"}") == 2);
  CHECK(s.metric("poolserver_jobs_completed_total") == 2);
}

TEST_CASE("actors: with no backend at all a request gets 503 saying the pool is empty") {
  running_server s(with_actors(0));
  http_client c(s.port);
  auto r = c.get("/5");
  CHECK(r.result_int() == 503);
  CHECK(r[http::field::retry_after] == "1");
  CHECK(body_of(r)["error"].get<std::string>().find("pool is empty") != std::string::npos);
  r = c.get("/readyz");
  CHECK(r.result_int() == 503);
  CHECK(body_of(r)["status"] == "no backends");
  CHECK(s.metric("poolserver_rejections_total{reason=\"no_backend\"}") == 1);

  fake_actor a(actor_port(s));
  wait_for_actors(s, 1);
  CHECK(c.get("/readyz").result_int() == 200);
}

TEST_CASE("actors: answers in any order, several in one write or one split over many") {
  running_server s(with_actors(0));
  fake_actor a(actor_port(s));
  wait_for_actors(s, 1);

  std::vector<std::unique_ptr<http_client>> clients;
  std::map<std::uint64_t, std::uint64_t> n_of_id;
  for (int i = 0; i < 4; ++i) {
    clients.push_back(std::make_unique<http_client>(s.port));
    clients.back()->send(http::verb::get, "/" + std::to_string(100 + i));
    const auto job = a.next_job();  // one at a time: client i's job is the i-th
    n_of_id[job.id] = job.n;
    CHECK(job.n == static_cast<std::uint64_t>(100 + i));
  }
  // Reverse order; the last two answers in one write, the first two split byte by byte.
  std::string packed;
  std::string split;
  int k = 0;
  for (auto it = n_of_id.rbegin(); it != n_of_id.rend(); ++it, ++k)
    actor::append_value(k < 2 ? packed : split, it->first, static_cast<double>(it->second) / 4, 7);
  a.send(packed);
  for (char ch : split) a.send(std::string(1, ch));
  for (int i = 0; i < 4; ++i) {
    const auto body = body_of(clients[i]->read());
    CHECK(body["value"] == 100 + i);
    CHECK(body["sum"] == (100.0 + i) / 4);
    CHECK(body["actor"] == 7);
  }
}

TEST_CASE("actors: an actor that breaks the protocol is removed, its job runs elsewhere once") {
  running_server s(with_actors(0));
  fake_actor bad(actor_port(s));
  wait_for_actors(s, 1);
  http_client c(s.port);
  c.send(http::verb::get, "/31");  // the only backend: the bad actor
  const auto job = bad.next_job();
  fake_actor good(actor_port(s));
  wait_for_actors(s, 2);

  std::string why = "malformed";
  bool gone = false;  // the actor closed the connection itself
  SUBCASE("malformed JSON") {
    bad.send(std::string("{\"id\":") + '\0');
  }
  SUBCASE("an answer for an id it was never sent") {
    bad.answer(job.id + 1000, 1.0, 99);
  }
  SUBCASE("a message over the size limit") {
    bad.send(std::string(actor::max_message + 1, ' '));
  }
  SUBCASE("closing the connection in the middle of a message") {
    bad.send(R"({"id":)");
    bad.close();
    why = "closed";
    gone = true;
  }
  if (!gone) CHECK(bad.closed_by_server());
  const auto again = good.next_job();  // the same job, under a new id
  CHECK(again.n == 31);
  CHECK(again.id != job.id);
  good.answer(again.id, 3.5, 555);
  const auto r = c.read();
  CHECK(r.result_int() == 200);
  CHECK(body_of(r)["actor"] == 555);
  CHECK(s.metric("poolserver_actor_redispatched_jobs_total") == 1);
  CHECK(s.metric("poolserver_actor_disconnects_total{reason=\"" + why + "\"}") == 1);
  wait_for_actors(s, 1);
  CHECK(c.get("/healthz").result_int() == 200);  // the server lives on
}

TEST_CASE("actors: a silent actor is removed after ACTOR_TIMEOUT_MS, its job runs elsewhere") {
  auto settings = with_actors(0);
  settings.actor_timeout = 200ms;
  running_server s(settings);
  fake_actor silent(actor_port(s));
  wait_for_actors(s, 1);
  http_client c(s.port);
  const auto sent = std::chrono::steady_clock::now();
  c.send(http::verb::get, "/12");
  CHECK(silent.next_job().n == 12);
  fake_actor good(actor_port(s));
  wait_for_actors(s, 2);
  const auto again = good.next_job();
  CHECK(std::chrono::steady_clock::now() - sent >= 200ms);
  good.answer(again.id, 6.0, 77);
  CHECK(body_of(c.read())["actor"] == 77);
  CHECK(silent.closed_by_server());
  CHECK(s.metric("poolserver_actor_disconnects_total{reason=\"timeout\"}") == 1);
}

TEST_CASE("actors: an error answer is the job's failure, a lost job with no room left is 503") {
  running_server s(with_actors(0));
  auto a = std::make_unique<fake_actor>(actor_port(s));
  wait_for_actors(s, 1);
  http_client c(s.port);

  c.send(http::verb::get, "/3");
  std::string err;
  actor::append_error(err, a->next_job().id, "boom");
  a->send(err);
  auto r = c.read();
  CHECK(r.result_int() == 500);
  CHECK(body_of(r)["error"].get<std::string>().find("boom") != std::string::npos);

  c.send(http::verb::get, "/4");
  CHECK(a->next_job().n == 4);
  a->close();  // the only backend leaves with the job
  r = c.read();
  CHECK(r.result_int() == 503);
  CHECK(r[http::field::retry_after] == "1");
  CHECK(body_of(r)["error"].get<std::string>().find("no other backend had room") !=
        std::string::npos);
  CHECK(s.metric("poolserver_actor_refused_jobs_total") == 1);
}

TEST_CASE("actors: at ACTOR_MAX_IN_FLIGHT an actor takes no more jobs: 503 at once") {
  auto settings = with_actors(0);
  settings.actor_max_in_flight = 1;
  running_server s(settings);
  fake_actor a(actor_port(s));
  wait_for_actors(s, 1);

  http_client c1(s.port);
  c1.send(http::verb::get, "/20");
  const auto job = a.next_job();
  http_client c2(s.port);
  const auto full = c2.get("/21");
  CHECK(full.result_int() == 503);
  CHECK(body_of(full)["error"].get<std::string>().find("ACTOR_MAX_IN_FLIGHT") != std::string::npos);
  CHECK(s.metric("poolserver_actor_producer_waits_total{actor=\"" +
                 s.srv->workers().remotes().at(0)->name() + "\"}") == 1);
  CHECK(s.metric("poolserver_actor_in_flight{actor=\"" + s.srv->workers().remotes().at(0)->name() +
                 "\"}") == 1);
  a.answer(job.id, 2.0, 9);
  CHECK(body_of(c1.read())["actor"] == 9);
  // Room again.
  c2.send(http::verb::get, "/22");
  const auto next = a.next_job();
  CHECK(next.n == 22);
  a.answer(next.id, 3.0, 9);
  CHECK(c2.read().result_int() == 200);
}

TEST_CASE("actors: the answer names the actor whatever its pid, one outside 1..2^63-1 shows 0") {
  running_server s(with_actors(0));
  fake_actor a(actor_port(s));
  wait_for_actors(s, 1);
  http_client c(s.port);
  // The answer's text after {"id":<id>,"value":2.5, and what the response names.
  const std::pair<std::string, std::string> cases[] = {
      {R"("pid":0})", R"({"actor":0,"sum":2.5,"value":5})"},  // was {"sum":..,"worker":0}
      {R"("pid":-7})", R"({"actor":0,"sum":2.5,"value":5})"},
      {R"("pid":9223372036854775808})", R"({"actor":0,"sum":2.5,"value":5})"},  // was negative
      {R"("pid":18446744073709551615})", R"({"actor":0,"sum":2.5,"value":5})"},
      {R"("pid":9223372036854775807})", R"({"actor":9223372036854775807,"sum":2.5,"value":5})"},
  };
  for (const auto& [pid, expected] : cases) {
    c.send(http::verb::get, "/5");
    const auto job = a.next_job();
    a.send(R"({"id":)" + std::to_string(job.id) + R"(,"value":2.5,)" + pid + '\0');
    const auto r = c.read();
    CHECK_MESSAGE(r.result_int() == 200, pid);
    CHECK_MESSAGE(r.body() == expected, pid);
  }
  c.send(http::verb::post, "/rpc",
         R"({"jsonrpc":"2.0","id":1,"method":"square_sum","params":[5]})");
  const auto job = a.next_job();
  a.send(R"({"id":)" + std::to_string(job.id) + R"(,"value":2.5,"pid":0})" + '\0');
  // Once the actor gave a valid pid, an answer without one is named by it.
  CHECK(body_of(c.read())["result"] ==
        nlohmann::json{{"actor", 9223372036854775807}, {"sum", 2.5}, {"value", 5}});
}

TEST_CASE("actors: the access log names the backend that ran the job, an actor with pid 0 too") {
  test::server_process server({"THREADS=1", "ACTOR_PORT=0", "ACCESS_LOG=1"});
  fake_actor a(server.actor_port);
  REQUIRE(server.proc.read_until("joined the pool"));
  http_client c(server.port);
  c.send(http::verb::get, "/6");  // round robin: the worker first, then the actor
  CHECK(body_of(c.read())["worker"] == 0);
  c.send(http::verb::get, "/7");
  const auto job = a.next_job();
  a.answer(job.id, 1.5, 0);
  CHECK(c.read().body() == R"({"actor":0,"sum":1.5,"value":7})");
  CHECK(server.proc.read_until("GET /7 200"));
  CHECK(server.proc.read_until("\n"));
  const auto& out = server.proc.output();
  const auto line = out.substr(out.find("GET /7 200"));
  CHECK(line.substr(0, line.find('\n')).find("backend=actor:0") != std::string::npos);
  CHECK(out.find("backend=worker:0") != std::string::npos);
}

// The lifecycle messages of the actor protocol (actor/protocol.hpp), on the wire and at a real
// server with hand-driven actors: the greeting and its welcome or refusal, the leave, the
// deadline a job carries and the cancel of a job nobody waits for; seed actors that send
// none of them still join; a drain ends in time whatever the actors hold.

#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <thread>
#include <variant>

#include "actor/protocol.hpp"
#include "actor_links/actor_ledger.hpp"
#include "actor_support.hpp"
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

std::string unframed(std::string framed) {
  REQUIRE(!framed.empty());
  CHECK(framed.back() == '\0');
  framed.pop_back();
  return framed;
}

template <class T>
bool is_malformed(const T& parsed) {
  return std::holds_alternative<actor::malformed>(parsed);
}

}  // namespace

TEST_CASE("actor protocol: a greeting, welcome, refusal, cancel and leave read back as written") {
  actor::hello h;
  h.pid = 77;
  h.kinds = {"square_sum", "sleep_ms"};
  h.capacity = 8;
  h.workers = 2;
  h.version = "1.2.3";
  h.token = "s3cret \"quoted\"";
  std::string out;
  actor::append_hello(out, h);
  auto parsed = actor::parse_from_actor(unframed(out));
  REQUIRE(std::holds_alternative<actor::hello>(parsed));
  const auto& back = std::get<actor::hello>(parsed);
  CHECK(back.pid == 77);
  CHECK(back.kinds == h.kinds);
  CHECK(back.capacity == 8);
  CHECK(back.workers == 2);
  CHECK(back.version == "1.2.3");
  CHECK(back.token == h.token);

  out.clear();
  actor::append_leave(out);
  CHECK(std::holds_alternative<actor::leave>(actor::parse_from_actor(unframed(out))));

  out.clear();
  actor::append_welcome(out, {"9.9", 5});
  auto w = actor::parse_from_server(unframed(out));
  REQUIRE(std::holds_alternative<actor::welcome>(w));
  CHECK(std::get<actor::welcome>(w).version == "9.9");
  CHECK(std::get<actor::welcome>(w).max_in_flight == 5);

  out.clear();
  actor::append_refused(out, "wrong token");
  auto r = actor::parse_from_server(unframed(out));
  REQUIRE(std::holds_alternative<actor::refused>(r));
  CHECK(std::get<actor::refused>(r).reason == "wrong token");

  out.clear();
  actor::append_cancel(out, 12, "client_gone");
  auto c = actor::parse_from_server(unframed(out));
  REQUIRE(std::holds_alternative<actor::cancel>(c));
  CHECK(std::get<actor::cancel>(c).id == 12);
  CHECK(std::get<actor::cancel>(c).reason == "client_gone");

  out.clear();
  actor::append_request(out, 3, "square_sum", 10, 250);
  auto j = actor::parse_from_server(unframed(out));
  REQUIRE(std::holds_alternative<actor::job_request>(j));
  CHECK(std::get<actor::job_request>(j).deadline_ms == 250u);
  // The seed's job has no deadline, and reads as before.
  out.clear();
  actor::append_request(out, 4, "square_sum", 10);
  CHECK(unframed(out) == R"({"id":4,"method":"square_sum","args":[10]})");
  auto seed = actor::parse_from_server(unframed(out));
  REQUIRE(std::holds_alternative<actor::job_request>(seed));
  CHECK_FALSE(std::get<actor::job_request>(seed).deadline_ms.has_value());
  // A seed reply is still a reply.
  CHECK(std::holds_alternative<actor::job_reply>(
      actor::parse_from_actor(R"({"id":4,"value":1.5,"pid":9})")));
}

TEST_CASE("actor protocol: malformed greetings, leaves, cancels and deadlines are refused") {
  for (const char* text : {
           R"({"hello":1})",
           R"({"hello":{}})",
           R"({"hello":{"kinds":[]}})",
           R"({"hello":{"kinds":"square_sum"}})",
           R"({"hello":{"kinds":[7]}})",
           R"({"hello":{"kinds":[""]}})",
           R"({"hello":{"kinds":["square_sum"],"capacity":-1}})",
           R"({"hello":{"kinds":["square_sum"],"workers":1.5}})",
           R"({"hello":{"kinds":["square_sum"],"token":5}})",
           R"({"hello":{"kinds":["square_sum"],"version":[]}})",
           R"({"leave":false})",
           R"({"leave":"yes"})",
       }) {
    CAPTURE(text);
    CHECK(is_malformed(actor::parse_from_actor(text)));
  }
  std::string long_name(actor::max_kind_name + 1, 'k');
  CHECK(is_malformed(actor::parse_from_actor(R"({"hello":{"kinds":[")" + long_name + R"("]}})")));
  std::string many = R"({"hello":{"kinds":[)";
  for (std::size_t i = 0; i <= actor::max_kinds; ++i)
    many += (i ? ",\"k" : "\"k") + std::to_string(i) + "\"";
  many += "]}}";
  CHECK(is_malformed(actor::parse_from_actor(many)));
  for (const char* text : {
           R"({"welcome":true})",
           R"({"welcome":{"max_in_flight":-3}})",
           R"({"refused":1})",
           R"({"cancel":"7"})",
           R"({"cancel":-1})",
           R"({"id":1,"method":"square_sum","args":[1],"deadline_ms":-5})",
           R"({"id":1,"method":"square_sum","args":[1],"deadline_ms":"soon"})",
       }) {
    CAPTURE(text);
    CHECK(is_malformed(actor::parse_from_server(text)));
  }
}

TEST_CASE("actor ledger: a greeted actor's jobs carry their deadline, a seed actor's do not") {
  auto ids = std::make_shared<std::uint64_t>(0);
  actor_links::actor_ledger ledger({}, [ids] { return ++*ids; }, "t");
  const auto now = pool::clock::now();
  auto job_due_in = [&](pool::clock::duration d) {
    pool::job j;
    j.method = "square_sum";
    j.arg = 5;
    j.token = std::make_shared<pool::cancel_token>(now + d);
    j.done = [](pool::job_result&&) {};
    return j;
  };
  bool flush = false;
  auto j1 = job_due_in(2500ms);
  REQUIRE(ledger.try_submit(j1, now, flush));
  std::string sent;
  REQUIRE(ledger.take_unsent(sent, now));
  auto seed = actor::parse_from_server(unframed(sent));
  CHECK_FALSE(std::get<actor::job_request>(seed).deadline_ms.has_value());

  ledger.greeted(0);
  auto j2 = job_due_in(2500ms);
  REQUIRE(ledger.try_submit(j2, now, flush));
  sent.clear();
  REQUIRE(ledger.take_unsent(sent, now));
  auto greeted = actor::parse_from_server(unframed(sent));
  CHECK(std::get<actor::job_request>(greeted).deadline_ms == 2500u);

  // Once the actor leaves it takes no job, and no wait is counted for that.
  ledger.leave();
  auto j3 = job_due_in(2500ms);
  CHECK_FALSE(ledger.try_submit(j3, now, flush));
  CHECK(ledger.stats().producer_waits == 0);
  CHECK(ledger.in_flight() == 2);
}

TEST_CASE("actor ledger: a job nobody waits for is cancelled at a greeted actor, once") {
  auto ids = std::make_shared<std::uint64_t>(0);
  actor_links::actor_ledger ledger({}, [ids] { return ++*ids; }, "t");
  ledger.greeted(0);
  const auto now = pool::clock::now();
  auto token = std::make_shared<pool::cancel_token>();
  pool::job j;
  j.method = "square_sum";
  j.token = token;
  j.done = [](pool::job_result&&) {};
  bool flush = false;
  REQUIRE(ledger.try_submit(j, now, flush));
  std::string sent;
  REQUIRE(ledger.take_unsent(sent, now));
  CHECK_FALSE(ledger.cancel_abandoned());  // still awaited
  token->cancel(pool::stop_reason::client_gone);
  ledger.cancel_abandoned();
  sent.clear();
  REQUIRE(ledger.take_unsent(sent, now));
  auto c = actor::parse_from_server(unframed(sent));
  REQUIRE(std::holds_alternative<actor::cancel>(c));
  CHECK(std::get<actor::cancel>(c).id == 1);
  CHECK(std::get<actor::cancel>(c).reason == "client_gone");
  CHECK_FALSE(ledger.cancel_abandoned());  // said once
  sent.clear();
  CHECK_FALSE(ledger.take_unsent(sent, now));
}

TEST_CASE("actor greeting: welcomed, it joins at once, and its jobs carry their deadline") {
  auto cfg = with_actors(0);
  cfg.actor_max_in_flight = 16;
  running_server s(cfg);
  fake_actor a(actor_port(s));
  const auto answer = a.greet({"square_sum"}, {}, 4);
  REQUIRE(std::holds_alternative<actor::welcome>(answer));
  CHECK(std::get<actor::welcome>(answer).max_in_flight == 4);  // its capacity, under the limit
  CHECK(std::get<actor::welcome>(answer).version == POOLSERVER_VERSION);
  wait_for_actors(s, 1);

  http_client c(s.port);
  c.send(http::verb::get, "/7", {}, {{"X-Request-Timeout-Ms", "5000"}});
  const auto job = a.next_job();
  CHECK(job.n == 7);
  REQUIRE(job.deadline_ms.has_value());
  CHECK(*job.deadline_ms > 0);
  CHECK(*job.deadline_ms <= 5000);
  a.answer(job.id, 3.5, 0);  // no pid in the answer: the greeting's names it
  const auto body = body_of(c.read());
  CHECK(body["actor"] == 4242);
  CHECK(body["sum"] == 3.5);
}

TEST_CASE("actor greeting: a seed actor that never greets joins and gets no deadline") {
  running_server s(with_actors(0));
  fake_actor a(actor_port(s));
  wait_for_actors(s, 1);
  http_client c(s.port);
  c.send(http::verb::get, "/7", {}, {{"X-Request-Timeout-Ms", "5000"}});
  const auto job = a.next_job();
  CHECK_FALSE(job.deadline_ms.has_value());
  a.answer(job.id, 1.0, 99);
  CHECK(body_of(c.read())["actor"] == 99);
}

TEST_CASE("actor greeting: malformed, late or repeated greetings are refused or end the link") {
  running_server s(with_actors(0));
  {
    fake_actor a(actor_port(s));
    a.send(std::string(R"({"hello":{"kinds":[]}})") + '\0');
    auto m = a.next_message();
    REQUIRE(std::holds_alternative<actor::refused>(m));
    CHECK(std::get<actor::refused>(m).reason.find("kinds") != std::string::npos);
    CHECK(a.closed_by_server());
  }
  {
    fake_actor a(actor_port(s));
    a.send(std::string("not json") + '\0');
    REQUIRE(std::holds_alternative<actor::refused>(a.next_message()));
    CHECK(a.closed_by_server());
  }
  CHECK(s.metric("poolserver_actor_refusals_total{reason=\"greeting\"}") == 2);
  CHECK(s.srv->workers().remotes().empty());

  // A greeting after the actor answered a job, or a second greeting: it is removed.
  {
    fake_actor seed(actor_port(s));
    wait_for_actors(s, 1);
    http_client c(s.port);
    c.send(http::verb::get, "/3");
    seed.answer(seed.next_job().id, 1.0, 5);
    CHECK(c.read().result_int() == 200);
    std::string hello;
    actor::append_hello(hello, {1, {"square_sum"}, 0, 0, "", ""});
    seed.send(hello);
    CHECK(seed.closed_by_server());
    wait_for_actors(s, 0);
  }
  // A greeting that comes after the window, but first: the seed actor it was taken for greets.
  {
    fake_actor late(actor_port(s));
    wait_for_actors(s, 1);
    REQUIRE(std::holds_alternative<actor::welcome>(late.greet()));
    http_client c(s.port);
    c.send(http::verb::get, "/3", {}, {{"X-Request-Timeout-Ms", "5000"}});
    const auto job = late.next_job();
    CHECK(job.deadline_ms.has_value());
    late.answer(job.id, 1.0, 5);
    CHECK(c.read().result_int() == 200);
    late.close();
    wait_for_actors(s, 0);
  }
  {
    fake_actor twice(actor_port(s));
    REQUIRE(std::holds_alternative<actor::welcome>(twice.greet()));
    wait_for_actors(s, 1);
    std::string again;
    actor::append_hello(again, {1, {"square_sum"}, 0, 0, "", ""});
    twice.send(again);
    CHECK(twice.closed_by_server());
    wait_for_actors(s, 0);
  }
  // A leave from an actor that never greeted breaks the protocol too.
  {
    fake_actor seed(actor_port(s));
    wait_for_actors(s, 1);
    seed.leave();
    CHECK(seed.closed_by_server());
    wait_for_actors(s, 0);
  }
  CHECK(s.metric("poolserver_actor_disconnects_total{reason=\"malformed\"}") == 3);
}

TEST_CASE("actor leave: no new job goes to it, and it is let go once its jobs are answered") {
  running_server s(with_actors(0));
  fake_actor leaving(actor_port(s));
  REQUIRE(std::holds_alternative<actor::welcome>(leaving.greet()));
  wait_for_actors(s, 1);
  http_client held(s.port);
  held.send(http::verb::get, "/11");
  const auto kept = leaving.next_job();

  fake_actor staying(actor_port(s));
  REQUIRE(std::holds_alternative<actor::welcome>(staying.greet()));
  wait_for_actors(s, 2);
  leaving.leave();
  // The leave is read on the link's thread: once a job goes elsewhere, the rest do too. Jobs
  // sent before it was read would be answered like any other.
  std::this_thread::sleep_for(200ms);
  for (int i = 0; i < 6; ++i) {
    http_client c(s.port);
    c.send(http::verb::get, "/" + std::to_string(20 + i));
    const auto job = staying.next_job();
    CHECK(job.n == static_cast<std::uint64_t>(20 + i));
    staying.answer(job.id, 1.0, 5);
    CHECK(c.read().result_int() == 200);
  }
  CHECK(s.srv->workers().remotes().size() == 2);  // still there: its job is in flight
  leaving.answer(kept.id, 2.0, 6);
  CHECK(held.read().result_int() == 200);
  CHECK(leaving.closed_by_server());
  wait_for_actors(s, 1);
  CHECK(s.metric("poolserver_actor_disconnects_total{reason=\"left\"}") == 1);
  CHECK(s.metric("poolserver_actor_redispatched_jobs_total") == 0);
  const auto counts = test::settled(s);
  CHECK(counts.completed == 7);
  CHECK(counts.identity());
}

TEST_CASE("actor cancel: a greeted actor is told when a job's client leaves or its deadline ends") {
  running_server s(with_actors(0));
  fake_actor a(actor_port(s));
  REQUIRE(std::holds_alternative<actor::welcome>(a.greet()));
  wait_for_actors(s, 1);
  {
    std::uint64_t id = 0;
    {
      http_client gone(s.port);
      gone.send(http::verb::get, "/13");
      id = a.next_job().id;
    }  // the client closes its connection
    auto m = a.next_message();
    REQUIRE(std::holds_alternative<actor::cancel>(m));
    CHECK(std::get<actor::cancel>(m).id == id);
    CHECK(std::get<actor::cancel>(m).reason == "client_gone");
    std::string out;
    actor::append_error(out, id, "cancelled: client_gone");
    a.send(out);
  }
  http_client c(s.port);
  c.send(http::verb::get, "/14", {}, {{"X-Request-Timeout-Ms", "100"}});
  const auto job = a.next_job();
  CHECK(job.deadline_ms <= 100u);
  CHECK(c.read().result_int() == 504);
  auto m = a.next_message();
  REQUIRE(std::holds_alternative<actor::cancel>(m));
  CHECK(std::get<actor::cancel>(m).id == job.id);
  CHECK(std::get<actor::cancel>(m).reason == "deadline");
  std::string out;
  actor::append_error(out, job.id, "cancelled: deadline");
  a.send(out);
  const auto counts = test::settled(s);
  CHECK(counts.cancelled_by("client_gone") == 1);
  CHECK(counts.cancelled_by("deadline") == 1);
  CHECK(counts.identity());
  CHECK(s.srv->workers().remotes().size() == 1);  // an answer to a cancel is a fine answer
}

TEST_CASE("drain with busy actors: DRAIN_TIMEOUT_MS holds whatever the actors do") {
  auto cfg = with_actors(0);
  cfg.drain_timeout = 300ms;
  running_server s(cfg);
  fake_actor greeted(actor_port(s));
  REQUIRE(std::holds_alternative<actor::welcome>(greeted.greet()));
  fake_actor seed(actor_port(s));
  wait_for_actors(s, 2);
  // Each actor holds a job it never answers.
  http_client c1(s.port);
  http_client c2(s.port);
  c1.send(http::verb::get, "/21");
  c2.send(http::verb::get, "/22");
  test::wait_until([&] { return s.srv->workers().in_flight() == 2; });

  const auto start = std::chrono::steady_clock::now();
  s.srv->stop();
  CHECK(c1.read().result_int() == 503);
  CHECK(c2.read().result_int() == 503);
  s.thread.join();
  const auto took = std::chrono::steady_clock::now() - start;
  MESSAGE("the server stopped " << std::chrono::duration<double, std::milli>(took).count()
                                << " ms after SIGTERM, DRAIN_TIMEOUT_MS 300");
  CHECK(took < cfg.drain_timeout + 1s);
  CHECK(greeted.closed_by_server());
  CHECK(seed.closed_by_server());
}

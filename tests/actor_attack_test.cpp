// The actor port under attack, with hand-driven peers: silent, slow, flooding, non-reading
// and malformed actors, and many at once. Each connection's worst outcome is losing its own
// link; the server goes on serving, every request gets exactly one answer, and the pool's
// counts keep produced = completed + failed + cancelled + in_flight.

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "actor_support.hpp"
#include "fake_actor.hpp"
#include "log_capture.hpp"

namespace {

using test::actor_port;
using test::body_of;
using test::fake_actor;
using test::http_client;
using test::running_server;
using test::settled;
using counts = test::pool_counts;
using test::wait_for_actors;
using test::with_actors;
namespace http = boost::beast::http;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

// A reply in the protocol's framing, written by hand.
std::string framed(const std::string& text) {
  return text + '\0';
}

std::string value_reply(std::uint64_t id, const std::string& rest = R"("value":2.5,"pid":9)") {
  return R"({"id":)" + std::to_string(id) + "," + rest + "}";
}

double disconnects(running_server& s, const std::string& why) {
  return s.metric("poolserver_actor_disconnects_total{reason=\"" + why + "\"}");
}

// The actor sees its connection closed just before the link's end is counted.
void wait_for_disconnects(running_server& s, const std::string& why, double n) {
  test::wait_until([&] { return disconnects(s, why) == n; });
}

// Jobs submitted to the pool directly (no HTTP), each counting its answers.
struct direct_jobs {
  std::shared_ptr<std::atomic<int>> done = std::make_shared<std::atomic<int>>(0);
  std::shared_ptr<std::atomic<int>> twice = std::make_shared<std::atomic<int>>(0);
  int accepted = 0;

  bool submit(running_server& s, std::uint64_t n) {
    pool::job j;
    j.method = "square_sum";
    j.arg = n;
    j.work = [](const pool::cancel_token&) { return 0.0; };
    auto answered = std::make_shared<std::atomic<bool>>(false);
    j.done = [done = done, twice = twice, answered](pool::job_result&&) {
      if (answered->exchange(true)) ++*twice;
      ++*done;
    };
    const bool ok = s.srv->workers().try_submit(j).status == pool::submit_status::accepted;
    accepted += ok;
    return ok;
  }
};

}  // namespace

TEST_CASE("actor attack: a silent actor is removed within 1.25 timeouts, its jobs run elsewhere") {
  auto settings = with_actors(0);
  settings.actor_timeout = 200ms;
  running_server s(settings);
  fake_actor silent(actor_port(s));
  wait_for_actors(s, 1);
  std::vector<std::unique_ptr<http_client>> clients;
  const auto sent = steady::now();
  for (int i = 0; i < 3; ++i) {
    clients.push_back(std::make_unique<http_client>(s.port));
    clients.back()->send(http::verb::get, "/" + std::to_string(40 + i));
    silent.next_job();
  }
  fake_actor good(actor_port(s));
  for (int i = 0; i < 3; ++i) {
    const auto job = good.next_job();
    good.answer(job.id, 1.0, 77);
  }
  const auto waited = steady::now() - sent;
  for (auto& c : clients) CHECK(body_of(c->read())["actor"] == 77);
  MESSAGE("jobs of the silent actor ran elsewhere after "
          << std::chrono::duration<double, std::milli>(waited).count() << " ms");
  CHECK(waited >= 200ms);
  CHECK(waited < 200ms * 5 / 4 + 500ms);  // the watch's period, plus a loaded machine's slack
  CHECK(silent.closed_by_server());
  wait_for_disconnects(s, "timeout", 1);
  const auto n = settled(s);
  CHECK(n.value("poolserver_actor_redispatched_jobs_total") == 3);
  CHECK(n.cancelled_by("actor_lost") == 3);
  CHECK(n.completed == 3);
  CHECK(n.identity());
}

TEST_CASE("actor attack: an answer trickled a byte at a time counts only once whole") {
  auto settings = with_actors(0);
  settings.actor_timeout = 500ms;
  running_server s(settings);
  fake_actor a(actor_port(s));
  wait_for_actors(s, 1);
  http_client c(s.port);

  // Whole within the timeout: answered.
  c.send(http::verb::get, "/5");
  for (char ch : framed(value_reply(a.next_job().id))) {
    a.send(std::string(1, ch));
    std::this_thread::sleep_for(2ms);
  }
  CHECK(body_of(c.read())["actor"] == 9);

  // A byte every 50 ms of an answer that never ends: the bytes do not count as being heard,
  // so the link ends at the timeout all the same.
  c.send(http::verb::get, "/6");
  const auto id = a.next_job().id;
  const auto start = steady::now();
  const auto prefix = R"({"id":)" + std::to_string(id) + R"(,"value":2.5,"pid":9,"pad":")";
  std::size_t i = 0;
  bool open = true;
  while (open && steady::now() - start < 5s) {
    const char ch = i < prefix.size() ? prefix[i] : 'x';
    ++i;
    open = a.flood(std::string(1, ch), 1) == 1;
    std::this_thread::sleep_for(50ms);
    if (disconnects(s, "timeout") == 1) break;
  }
  const auto ended = steady::now() - start;
  CHECK(disconnects(s, "timeout") == 1);
  CHECK(ended < 500ms * 5 / 4 + 1s);
  CHECK(c.read().result_int() == 503);  // no backend left to run it again
  CHECK(settled(s).identity());
}

TEST_CASE("actor attack: a flood ends the flooder's link at once, the server goes on") {
  running_server s(with_actors(1));
  fake_actor flooder(actor_port(s));
  wait_for_actors(s, 1);
  std::string chunk;
  std::string why = "malformed";
  SUBCASE("garbage messages") {
    for (int i = 0; i < 4096; ++i) chunk += framed("garbage!");
  }
  SUBCASE("one message without end") {
    chunk = std::string(64 * 1024, 'x');
  }
  SUBCASE("answers for ids it was never sent") {
    for (std::uint64_t id = 1'000'000; chunk.size() < 64 * 1024; ++id)
      chunk += framed(value_reply(id));
  }
  SUBCASE("empty messages") {
    chunk = std::string(64 * 1024, '\0');
  }
  const std::size_t limit = 256u << 20;
  const auto written = flooder.flood(chunk, limit);
  MESSAGE("the server closed the flooder's link after " << written << " bytes");
  CHECK(written < limit);  // it stopped reading and closed: the flood cannot go on
  wait_for_disconnects(s, why, 1);
  http_client c(s.port);
  CHECK(body_of(c.get("/100"))["worker"] == 0);
  CHECK(c.get("/healthz").result_int() == 200);
}

TEST_CASE("actor attack: an actor that never reads is removed, every job is answered once") {
  auto settings = with_actors(0);
  settings.actor_timeout = 300ms;
  settings.actor_max_in_flight = 100'000;
  running_server s(settings);
  fake_actor deaf(actor_port(s), 4096);
  wait_for_actors(s, 1);
  direct_jobs jobs;
  for (int i = 0; i < 20'000; ++i) jobs.submit(s, 1000);
  CHECK(jobs.accepted > 0);
  test::wait_until([&] { return *jobs.done == jobs.accepted; });
  CHECK(*jobs.twice == 0);
  wait_for_disconnects(s, "timeout", 1);
  CHECK(settled(s).identity());
}

TEST_CASE("actor attack: a malformed answer ends its link, the job runs on another actor once") {
  running_server s(with_actors(0));
  fake_actor bad(actor_port(s));
  wait_for_actors(s, 1);
  http_client c(s.port);
  c.send(http::verb::get, "/31");
  const auto id = bad.next_job().id;
  fake_actor good(actor_port(s));
  wait_for_actors(s, 2);
  const auto ids = std::to_string(id);
  const std::string cases[] = {
      "not json",
      "",
      "[1,2]",
      "\"a string\"",
      "null",
      R"({"id":")" + ids + R"(","value":1,"pid":1})",      // id as a string
      R"({"id":-1,"value":1,"pid":1})",                    // negative id
      R"({"id":18446744073709551616,"value":1,"pid":1})",  // id past 64 bits
      R"({"id":1e400,"value":1,"pid":1})",                 // a number no double holds
      value_reply(id, R"("value":1e400,"pid":1)"),
      value_reply(id, R"("value":NaN,"pid":1)"),
      value_reply(id, R"("value":Infinity,"pid":1)"),
      value_reply(id, R"("value":"2.5","pid":1)"),
      value_reply(id, R"("value":[2.5],"pid":1)"),
      value_reply(id, R"("value":2.5,"pid":"9")"),
      value_reply(id, R"("value":2.5)"),  // no pid
      value_reply(id, R"("error":7)"),
      value_reply(id, R"("value":2.5,"error":"x","pid":1)"),
      R"({"id":)" + ids + "}",
      R"({"id":)" + ids + R"(,"value":2.5,"pid":1)",  // truncated
      std::string(actor::max_message + 1, ' '),       // one byte over the limit, NUL after it
  };
  for (const auto& text : cases) {
    CAPTURE(text.substr(0, 80));
    SUBCASE(("case " + std::to_string(&text - cases)).c_str()) {
      bad.send(framed(text));
      CHECK(bad.closed_by_server());
      wait_for_disconnects(s, "malformed", 1);
      const auto again = good.next_job();
      CHECK(again.n == 31);
      good.answer(again.id, 3.5, 555);
      const auto r = c.read();
      CHECK(r.result_int() == 200);
      CHECK(body_of(r)["actor"] == 555);
      const auto n = settled(s);
      CHECK(n.produced == 2);
      CHECK(n.completed == 1);
      CHECK(n.identity());
      CHECK(c.get("/healthz").result_int() == 200);
    }
  }
}

TEST_CASE("actor attack: the largest message and deep nesting are read, a duplicate is not") {
  running_server s(with_actors(0));
  fake_actor a(actor_port(s));
  wait_for_actors(s, 1);
  http_client c(s.port);
  c.send(http::verb::get, "/12");
  const auto first = a.next_job().id;
  auto text = value_reply(first, R"("value":2.5,"pid":9,"pad":")");
  text += std::string(actor::max_message - text.size() - 2, 'p') + "\"}";
  REQUIRE(text.size() == actor::max_message);
  a.send(framed(text));
  CHECK(body_of(c.read())["actor"] == 9);

  // An extra field nested 30,000 deep (unknown fields are ignored; the parser must not
  // recurse that deep on the IO thread's stack).
  c.send(http::verb::get, "/13");
  const auto id = a.next_job().id;
  a.send(framed(value_reply(
      id, R"("value":2.5,"pid":9,"x":)" + std::string(30'000, '[') + std::string(30'000, ']'))));
  CHECK(body_of(c.read())["value"] == 13);
  CHECK(s.metric("poolserver_actors") == 1);

  a.send(framed(value_reply(id)));  // the same answer again
  CHECK(a.closed_by_server());
  wait_for_disconnects(s, "malformed", 1);
  const auto n = settled(s);
  CHECK(n.produced == 2);
  CHECK(n.completed == 2);
  CHECK(n.identity());
}

TEST_CASE("actor attack: 100 actors join at once, each runs a job, all leave at once") {
  running_server s(with_actors(0));
  constexpr int count = 100;
  std::vector<std::unique_ptr<fake_actor>> actors;
  for (int i = 0; i < count; ++i) actors.push_back(std::make_unique<fake_actor>(actor_port(s)));
  wait_for_actors(s, count);
  std::vector<std::unique_ptr<http_client>> clients;
  for (int i = 0; i < count; ++i) {
    clients.push_back(std::make_unique<http_client>(s.port));
    clients.back()->send(http::verb::get, "/" + std::to_string(i));
  }
  // Round robin: one job each, whichever order they joined in.
  for (int i = 0; i < count; ++i) {
    const auto job = actors[i]->next_job();
    actors[i]->answer(job.id, static_cast<double>(job.n), 1000 + i);
  }
  std::set<int> pids;
  for (auto& c : clients) {
    const auto body = body_of(c->read());
    pids.insert(body["actor"].get<int>());
    CHECK(body["sum"] == body["value"]);
  }
  CHECK(pids.size() == count);
  for (auto& a : actors) a->close();
  wait_for_disconnects(s, "closed", count);
  const auto n = settled(s);
  CHECK(n.completed == count);
  CHECK(n.identity());
  CHECK(http_client(s.port).get("/healthz").result_int() == 200);
}
TEST_CASE("actor attack: an actor that answers by guessing ids but never reads is removed") {
  // Ids are sequential, so an actor can answer jobs it never read: nothing in flight stays
  // silent, while the jobs written to it pile up in the server. The write that cannot finish
  // is what must end the link, and what waits to be written must stay bounded meanwhile.
  auto settings = with_actors(0);
  settings.actor_timeout = 300ms;
  settings.actor_max_in_flight = 1024;
  running_server s(settings);
  fake_actor deaf(actor_port(s), 4096);
  wait_for_actors(s, 1);
  direct_jobs jobs;
  std::uint64_t next_id = 1;  // this server's first job id
  const auto start = steady::now();
  while (disconnects(s, "timeout") == 0 && steady::now() - start < 20s) {
    std::string answers;
    for (int i = 0; i < 1024 && jobs.submit(s, 1000); ++i)
      answers += framed(value_reply(next_id++));
    if (!answers.empty() && deaf.flood(answers, 1) == 0) break;
    if (answers.empty()) std::this_thread::sleep_for(1ms);  // refused: its buffer is full
  }
  const auto took = steady::now() - start;
  MESSAGE(jobs.accepted << " jobs accepted; link ended after "
                        << std::chrono::duration<double, std::milli>(took).count() << " ms");
  CHECK(disconnects(s, "timeout") == 1);
  test::wait_until([&] { return *jobs.done == jobs.accepted; });
  CHECK(*jobs.twice == 0);
  CHECK(settled(s).identity());
}
TEST_CASE("actor attack: an actor whose pid changes with every answer does not flood the log") {
  test::captured_log log(spdlog::level::info);  // before the server's threads log, after them
  running_server s(with_actors(0));
  fake_actor a(actor_port(s));
  wait_for_actors(s, 1);
  direct_jobs jobs;
  for (int i = 0; i < 200; ++i) {
    REQUIRE(jobs.submit(s, 10));
    a.answer(a.next_job().id, 1.0, 5000 + i);
  }
  test::wait_until([&] { return *jobs.done == 200; });
  MESSAGE(log.lines_with("is process") << " 'is process' lines for 200 answers");
  CHECK(log.lines_with("is process") <= 1);
}

TEST_CASE("actor attack: a value sent as null (poolactor's non-finite) answers its job") {
  // poolactor writes a value that is not finite as null, as the HTTP answer does. Were that a
  // protocol breach, a job whose result is NaN would end every actor link it was sent to.
  running_server s(with_actors(0));
  fake_actor a(actor_port(s));
  wait_for_actors(s, 1);
  http_client c(s.port);
  c.send(http::verb::get, "/5");
  a.send(framed(value_reply(a.next_job().id, R"("value":null,"pid":7)")));
  const auto r = c.read();
  CHECK(r.result_int() == 200);
  CHECK(r.body() == R"({"actor":7,"sum":null,"value":5})");
  CHECK(s.metric("poolserver_actors") == 1);
  CHECK(s.metric("poolserver_actor_disconnects_total{reason=\"malformed\"}") == 0);
}

TEST_CASE("actor attack: past ACTOR_MAX_CONNECTIONS an actor is closed at once, and counted") {
  test::captured_log log;  // before the server's threads log, after them
  auto settings = with_actors(0);
  settings.actor_max_connections = 2;
  running_server s(settings);
  fake_actor first(actor_port(s));
  fake_actor second(actor_port(s));
  wait_for_actors(s, 2);
  std::vector<std::unique_ptr<fake_actor>> refused;
  for (int i = 0; i < 5; ++i) refused.push_back(std::make_unique<fake_actor>(actor_port(s)));
  for (auto& a : refused) CHECK(a->closed_by_server());
  CHECK(s.srv->workers().remotes().size() == 2);
  CHECK(counts(s).value("poolserver_actor_connections_refused_total") == 5);
  CHECK(log.text.str().find("refused: ACTOR_MAX_CONNECTIONS (2) actors are connected") !=
        std::string::npos);
  CHECK(log.lines_with("refused") == 1);  // one line a second at most

  // A place freed is a place taken, and the newcomer runs jobs.
  first.close();
  wait_for_actors(s, 1);
  fake_actor third(actor_port(s));
  wait_for_actors(s, 2);
  second.close();
  wait_for_actors(s, 1);
  http_client c(s.port);
  c.send(http::verb::get, "/10");
  const auto job = third.next_job();
  third.answer(job.id, 1.0, 4242);
  CHECK(body_of(c.read())["actor"] == 4242);
  CHECK(counts(s).value("poolserver_actor_connects_total") == 3);
}

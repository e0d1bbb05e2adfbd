// The pool-wide identity produced = completed + failed + cancelled + in_flight, read from
// /metrics, along every path a job takes through an actor: answered, lost with its actor
// and run elsewhere, refused, past its deadline or left by its client while the actor holds
// it, and stopped by shutdown. Each attempt is counted once: a job whose actor is lost is
// produced again where it runs next, and its first attempt ends as
// cancelled{reason="actor_lost"}.

#include <doctest/doctest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "actor_support.hpp"
#include "fake_actor.hpp"

namespace {

using test::actor_port;
using test::body_of;
using test::fake_actor;
using test::http_client;
using test::running_server;
using test::settled;
using test::wait_for_actors;
using test::with_actors;
using counts = test::pool_counts;
namespace http = boost::beast::http;
using namespace std::chrono_literals;

// Whether the server's end of the connection from 127.0.0.1:`client_port` is still open
// (established, or the client's FIN received and the server not closed yet), per /proc/net/tcp.
bool server_end_open(unsigned short server_port, unsigned short client_port) {
  std::ifstream tcp("/proc/net/tcp");
  char local[32], remote[32];
  std::snprintf(local, sizeof local, "0100007F:%04X", server_port);
  std::snprintf(remote, sizeof remote, "0100007F:%04X", client_port);
  for (std::string line; std::getline(tcp, line);) {
    std::istringstream f(line);
    std::string sl, l, r, state;
    f >> sl >> l >> r >> state;
    if (l == local && r == remote && (state == "01" || state == "08")) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("actor accounting: answered with a value and with an error") {
  running_server s(with_actors(0));
  fake_actor a(actor_port(s));
  wait_for_actors(s, 1);
  http_client c(s.port);
  c.send(http::verb::get, "/3");
  a.answer(a.next_job().id, 1.0, 42);
  CHECK(c.read().result_int() == 200);
  c.send(http::verb::get, "/4");
  std::string err;
  actor::append_error(err, a.next_job().id, "boom");
  a.send(err);
  CHECK(c.read().result_int() == 500);
  const counts n = settled(s);
  CHECK(n.produced == 2);
  CHECK(n.completed == 1);
  CHECK(n.failed == 1);
  CHECK(n.cancelled == 0);
  CHECK(n.identity());
}

TEST_CASE("actor accounting: a job lost with its actor and run elsewhere is counted once each") {
  auto settings = with_actors(0);
  settings.actor_timeout = 200ms;
  running_server s(settings);
  auto lost = std::make_unique<fake_actor>(actor_port(s));
  wait_for_actors(s, 1);
  http_client c(s.port);
  c.send(http::verb::get, "/8");
  const auto job = lost->next_job();
  fake_actor good(actor_port(s));
  wait_for_actors(s, 2);

  std::string why;
  SUBCASE("closed") {
    why = "closed";
    lost->close();
  }
  SUBCASE("malformed") {
    why = "malformed";
    lost->send(std::string("not json") + '\0');
  }
  SUBCASE("timeout") {
    why = "timeout";  // it says nothing for ACTOR_TIMEOUT_MS
  }
  const auto again = good.next_job();
  CHECK(again.n == 8);
  good.answer(again.id, 2.0, 7);
  CHECK(body_of(c.read())["actor"] == 7);

  const counts n = settled(s);
  CHECK(n.value("poolserver_actor_disconnects_total{reason=\"" + why + "\"}") == 1);
  CHECK(n.value("poolserver_actor_redispatched_jobs_total") == 1);
  CHECK(n.produced == 2);  // once at each actor
  CHECK(n.completed == 1);
  CHECK(n.cancelled_by("actor_lost") == 1);
  CHECK(n.cancelled == 1);
  CHECK(n.identity());
}

TEST_CASE("actor accounting: a job lost with the only backend is refused (503), counted once") {
  running_server s(with_actors(0));
  auto a = std::make_unique<fake_actor>(actor_port(s));
  wait_for_actors(s, 1);
  http_client c(s.port);
  c.send(http::verb::get, "/4");
  CHECK(a->next_job().n == 4);
  a->close();
  CHECK(c.read().result_int() == 503);
  const counts n = settled(s);
  CHECK(n.value("poolserver_actor_refused_jobs_total") == 1);
  CHECK(n.produced == 1);
  CHECK(n.cancelled_by("actor_lost") == 1);
  CHECK(n.completed + n.failed == 0);
  CHECK(n.identity());
}

TEST_CASE("actor accounting: a 504 while the actor holds the job is a cancellation, once") {
  auto settings = with_actors(0);
  settings.request_timeout = 150ms;
  settings.actor_timeout = 10s;
  running_server s(settings);
  auto a = std::make_unique<fake_actor>(actor_port(s));
  wait_for_actors(s, 1);
  http_client c(s.port);
  c.send(http::verb::get, "/9");
  const auto job = a->next_job();
  CHECK(c.read().result_int() == 504);
  CHECK(counts(s).in_flight == 1);  // the actor still holds it: its capacity is taken

  SUBCASE("then the actor answers it") {
    a->answer(job.id, 3.0, 5);
  }
  SUBCASE("then the actor is lost") {
    a->close();
  }
  const counts n = settled(s);
  CHECK(n.produced == 1);
  CHECK(n.cancelled_by("deadline") == 1);
  CHECK(n.cancelled == 1);
  CHECK(n.completed == 0);
  CHECK(n.value("poolserver_actor_redispatched_jobs_total") == 0);  // nobody waits for it
  CHECK(n.identity());
}

TEST_CASE("actor accounting: a client that leaves while the actor holds its job") {
  running_server s(with_actors(0));
  fake_actor a(actor_port(s));
  wait_for_actors(s, 1);
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::socket client(ioc);
  client.connect({boost::asio::ip::make_address("127.0.0.1"), s.port});
  const auto client_port = client.local_endpoint().port();
  boost::asio::write(client,
                     boost::asio::buffer(std::string("GET /10 HTTP/1.1\r\nHost: x\r\n\r\n")));
  const auto id = a.next_job().id;
  client.close();  // the client leaves; the server closes its end when it sees that
  test::wait_until([&] { return !server_end_open(s.port, client_port); });
  a.answer(id, 1.0, 5);
  const counts n = settled(s);
  CHECK(n.value("poolserver_actors") == 1);  // counted at the answer, the link lives on
  CHECK(n.value("poolserver_jobs_consumed_total") == 1);
  CHECK(n.produced == 1);
  CHECK(n.cancelled_by("client_gone") == 1);
  CHECK(n.completed == 0);
  CHECK(n.identity());
}

TEST_CASE("actor accounting: shutdown with a job at the actor counts it cancelled by shutdown") {
  auto settings = with_actors(0);
  settings.drain_timeout = 100ms;
  running_server s(settings);
  fake_actor a(actor_port(s));
  wait_for_actors(s, 1);
  http_client c(s.port);
  c.send(http::verb::get, "/11");
  a.next_job();
  s.srv->stop();  // the drain deadline answers 503; the link ends at the end of the drain
  CHECK(c.read().result_int() == 503);
  s.thread.join();
  s.thread = std::thread([] {});  // ~running_server stops (a no-op now) and joins this one
  const auto total = s.srv->workers().snapshot().total;
  CHECK(total.produced == 1);
  CHECK(total.cancelled_by[static_cast<std::size_t>(pool::stop_reason::shutdown)][1] == 1);
  CHECK(total.produced == total.completed + total.failed + total.cancelled + total.in_flight);
}

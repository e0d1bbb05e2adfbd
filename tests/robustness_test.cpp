// What a hostile review broke (issue 13), each against a real server on a loopback port:
// trailers that made Beast throw out of an IO thread, drains held open by clients and actors,
// Expect: 100-continue left unanswered, connections counted after their socket closed, and
// memory kept by idle keep-alive connections.

#include <utility>

#include <doctest/doctest.h>

#include <sys/socket.h>

#include <chrono>
#include <string>
#include <thread>

#include "fake_actor.hpp"
#include "test_server.hpp"

using test::body_of;
using test::http_client;
using test::running_server;
namespace http = boost::beast::http;
namespace net = boost::asio;
using namespace std::chrono_literals;

namespace {

/// Writes what the server takes; it may close the connection before the last byte.
void send_all(http_client& c, const std::string& bytes) {
  boost::system::error_code ec;
  net::write(c.socket(), net::buffer(bytes), ec);
}

std::string chunked_get_with_trailer(std::string_view target, std::size_t trailer_bytes) {
  return "GET " + std::string(target) +
         " HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-Trailer: " +
         std::string(trailer_bytes, 'a') + "\r\n\r\n";
}

/// Runs until the server's run() has returned; how long that took after stop().
std::chrono::milliseconds time_drain(running_server& s) {
  const auto start = std::chrono::steady_clock::now();
  s.srv->stop();
  s.thread.join();
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               start);
}

}  // namespace

TEST_CASE("trailers: a trailer field of 64 KiB is answered 431 and the process goes on") {
  for (const std::size_t io_threads : {1, 2}) {
    CAPTURE(io_threads);
    auto cfg = test::test_settings();
    cfg.io_threads = io_threads;
    running_server s(cfg);
    // Beast throws length_error for a field over 64 KiB; this killed the process.
    for (const std::size_t size : {std::size_t{65 * 1024}, std::size_t{9 * 1024}}) {
      CAPTURE(size);
      http_client c(s.port);
      send_all(c, chunked_get_with_trailer("/5", size));
      const auto r = c.read();
      CHECK(r.result_int() == 431);
      CHECK(body_of(r)["error"].get<std::string>().find("trailer") != std::string::npos);
      CHECK(c.closed_by_server());
    }
    // A trailer within the limit is read and the request served.
    http_client ok(s.port);
    send_all(ok, chunked_get_with_trailer("/5", 100));
    const auto r = ok.read();
    CHECK(r.result_int() == 200);
    CHECK(body_of(r)["value"] == 5);
    CHECK(http_client(s.port).get("/100").result_int() == 200);
    CHECK(s.metric("poolserver_http_handler_errors_total") == 0);
  }
}

TEST_CASE("Expect: 100-continue gets 100 Continue before the body, then the answer") {
  running_server s;
  const std::string body = R"({"jsonrpc":"2.0","id":1,"method":"square_sum","params":[4]})";
  http_client c(s.port);
  c.send_raw(
      "POST /rpc HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Expect: 100-continue\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n");
  CHECK(c.read().result_int() == 100);  // before a byte of the body was sent
  c.send_raw(body);
  const auto r = c.read();
  CHECK(r.result_int() == 200);
  CHECK(body_of(r)["result"]["value"] == 4);
  CHECK(r.keep_alive());
  // The connection goes on, and a request without Expect gets no 100.
  CHECK(c.get("/3").result_int() == 200);

  SUBCASE("a request that fails on its request line is answered at once, without 100") {
    http_client d(s.port);
    d.send_raw(
        "POST /no/such/route HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
        "Content-Length: 10\r\n\r\n");
    const auto early = d.read();
    CHECK(early.result_int() == 404);
    CHECK_FALSE(early.keep_alive());  // the body was never read: the stream cannot go on
  }
  SUBCASE("a body over the limit is refused at once with 413") {
    http_client d(s.port);
    d.send_raw(
        "POST /rpc HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
        "Content-Length: 1000000\r\n\r\n");
    CHECK(d.read().result_int() == 413);
  }
  SUBCASE("an expectation other than 100-continue is answered 417") {
    http_client d(s.port);
    d.send_raw("GET /3 HTTP/1.1\r\nHost: x\r\nExpect: something-else\r\n\r\n");
    const auto r417 = d.read();
    CHECK(r417.result_int() == 417);
    CHECK(body_of(r417)["error"].get<std::string>().find("100-continue") != std::string::npos);
  }
  SUBCASE("HTTP/1.0 knows no 100 Continue: the expectation is ignored") {
    http_client d(s.port);
    d.send_raw("POST /rpc HTTP/1.0\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: " +
               std::to_string(body.size()) + "\r\n\r\n");
    std::this_thread::sleep_for(100ms);
    d.send_raw(body);
    const auto r10 = d.read();
    CHECK(r10.result_int() == 200);  // the first response, not a 100
  }
}

TEST_CASE("a client that closed its socket stops counting at once, even while its job runs") {
  running_server s(1, 8);
  {
    http_client c(s.port);
    c.send(http::verb::get, "/block?n=1");  // the job holds the worker until released
    test::wait_until([&] { return s.srv->workers().stats(0).consumed == 1; });
    CHECK(s.srv->open_connections() == 1);
  }
  // The job still runs (it ignores cancellation); the connection is gone all the same.
  test::wait_until([&] { return s.srv->open_connections() == 0; });
  CHECK(s.metric("poolserver_http_connections") == 1);  // the scrape's own connection
  CHECK(s.srv->workers().in_flight() == 1);
  s.blocker->release();
  test::wait_until([&] { return s.srv->workers().in_flight() == 0; });
}

TEST_CASE("drain: at DRAIN_TIMEOUT_MS every connection is closed, whatever its phase") {
  auto cfg = test::test_settings();
  cfg.drain_timeout = 300ms;
  cfg.header_timeout = 60s;  // before: the drain waited for these
  cfg.idle_timeout = 60s;
  running_server s(cfg);

  http_client trickling(s.port);  // a request that never finishes arriving
  trickling.send_raw("GET /1 HTTP/1.1\r\nHost: x\r\nX-Slow: ");
  // A client that asks for big answers and does not read them: the writes stall.
  http_client deaf(s.port);
  const int small = 4096;
  ::setsockopt(deaf.socket().native_handle(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  std::string pipelined;
  for (int i = 0; i < 64; ++i) pipelined += "GET /dashboard HTTP/1.1\r\nHost: x\r\n\r\n";
  deaf.send_raw(pipelined);
  http_client spinning(s.port);  // a job that runs until cancelled
  spinning.send(http::verb::get, "/spin?n=1");
  test::wait_until([&] { return s.srv->workers().in_flight() == 1; });
  test::wait_until([&] { return s.srv->open_connections() == 3; });

  const auto took = time_drain(s);
  CHECK(took >= 300ms);
  CHECK(took < 3s);  // before: the 60 s header timeout or the 30 s write timeout
  CHECK(trickling.closed_by_server());
  const auto r = spinning.read();
  CHECK(r.result_int() == 503);
  CHECK(s.srv->open_connections() == 0);
}

TEST_CASE("drain: an actor holding a job does not keep the process past DRAIN_TIMEOUT_MS") {
  auto cfg = test::test_settings();
  cfg.threads = 0;
  cfg.actor_port = 0;
  cfg.actor_timeout = 60s;  // before: the drain waited for the actor to time out
  cfg.drain_timeout = 300ms;
  running_server s(cfg);
  test::fake_actor actor(s.srv->actor_endpoint()->port());
  test::wait_until([&] { return s.srv->workers().remotes().size() == 1; });
  http_client c(s.port);
  c.send(http::verb::get, "/5");
  actor.next_job();  // and never answers

  const auto took = time_drain(s);
  CHECK(took < 3s);
  const auto r = c.read();
  CHECK(r.result_int() == 503);
  CHECK(actor.closed_by_server());
}

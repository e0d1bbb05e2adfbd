// Hostile input over real sockets: each malformed request gets the right error status and a JSON
// error, and the server keeps serving. The table is also what docs/reliability.md counts.

#include <utility>

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "hostile_requests.hpp"
#include "test_server.hpp"

TEST_CASE("hostile input: every malformed request gets the right error status and a JSON error") {
  test::running_server s;
  const auto& cases = test::hostile_requests();
  REQUIRE(cases.size() >= 40);
  int served_after = 0;
  for (const auto& hc : cases) {
    CAPTURE(hc.name);
    const auto got = test::send_hostile(s.port, hc);
    CHECK(got.status == hc.status);
    CHECK(got.json_error);  // a JSON body with "error"
    // The server keeps serving: a normal request on a new connection.
    test::http_client after(s.port);
    served_after += after.get("/100").result_int() == 200;
  }
  CHECK(served_after == static_cast<int>(cases.size()));
  // Nothing that was sent became a job.
  CHECK(s.metric("poolserver_jobs_produced_total") == static_cast<double>(cases.size()));
}

TEST_CASE("hostile input: HEAD gets headers only, a pipelined bad request after a good one") {
  test::running_server s;
  test::http_client c(s.port);
  c.send_raw("HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /10 HTTP/1.1\r\nHost: x\r\n\r\n");
  {
    boost::beast::http::response_parser<boost::beast::http::string_body> p;
    p.skip(true);  // a response to HEAD has no body, whatever its Content-Length says
    boost::beast::flat_buffer b;
    boost::beast::http::read(c.socket(), b, p);
    CHECK(p.get().result_int() == 200);
    CHECK(p.get().body().empty());
    // The next response must start right after the headers: no stray body bytes.
    test::response next;
    boost::beast::http::read(c.socket(), b, next);
    CHECK(next.result_int() == 200);
    CHECK(test::body_of(next)["value"] == 10);
  }
  test::http_client d(s.port);
  d.send_raw("GET /10 HTTP/1.1\r\nHost: x\r\n\r\nGET /10 HTTP/1.1\r\nBad Header\r\n\r\n");
  CHECK(d.read().result_int() == 200);
  const auto bad = d.read();
  CHECK(bad.result_int() == 400);
  CHECK(d.closed_by_server());
}

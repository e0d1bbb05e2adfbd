#include "server/router.hpp"
#include "observability/json_number.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <stdexcept>
#include <vector>

#include "workers/square_sum.hpp"

using json = nlohmann::json;

namespace {

struct fixture {
  workers::job_registry registry = workers::default_registry();
  server::router_context ctx{registry, 1'000'000'000};

  server::route_result get(std::string_view target) {
    return server::route({"GET", target, ""}, ctx);
  }
  server::route_result rpc(std::string_view body) {
    return server::route({"POST", "/rpc", body}, ctx);
  }
};

server::job_call as_job(const server::route_result& r) {
  REQUIRE(std::holds_alternative<server::job_call>(r));
  return std::get<server::job_call>(r);
}

server::reply as_reply(const server::route_result& r) {
  REQUIRE(std::holds_alternative<server::reply>(r));
  return std::get<server::reply>(r);
}

}  // namespace

TEST_CASE("router: compute routes become jobs") {
  fixture f;
  CHECK(as_job(f.get("/1000000")).n == 1'000'000);
  CHECK(as_job(f.get("/0")).n == 0);
  CHECK(as_job(f.get("/007")).n == 7);
  CHECK(as_job(f.get("/1000000000")).n == 1'000'000'000);
  CHECK(as_job(f.get("/square_sum?n=1000000")).n == 1'000'000);
  CHECK(as_job(f.get("/square_sum?n=%31%30")).n == 10);
  CHECK(as_job(f.get("/square_sum?pretty=1&n=5")).n == 5);
  const auto call = as_job(f.get("/square_sum?n=12"));
  CHECK(call.kind == "square_sum");
  CHECK((*call.fn)(12, pool::cancel_token{}) == workers::square_sum(12));
  CHECK_FALSE(call.jsonrpc);

  for (int i = 0; i < 100; ++i) CHECK(as_job(f.get("/")).n < server::random_n_bound);
  f.ctx.max_n = 10;
  for (int i = 0; i < 100; ++i) CHECK(as_job(f.get("/")).n <= 10);
}

TEST_CASE("router: an absolute-form target routes as its path and query (RFC 9112 3.2.2)") {
  fixture f;
  CHECK(as_job(f.get("http://example.com/1000")).n == 1000);
  CHECK(as_job(f.get("HTTP://Example.COM:8080/square_sum?n=12")).n == 12);
  CHECK(as_job(f.get("http://[::1]:8080/7")).n == 7);
  CHECK(as_job(f.get("http://host")).n < server::random_n_bound);  // no path: "/"
  CHECK(as_job(f.get("http://host?x=1")).n < server::random_n_bound);
  CHECK(std::holds_alternative<server::scrape>(f.get("http://host/metrics")));
  const auto rpc = as_job(server::route(
      {"POST", "http://host/rpc", R"({"jsonrpc":"2.0","method":"square_sum","params":[3],"id":1})"},
      f.ctx));
  CHECK(rpc.jsonrpc);
  CHECK(rpc.n == 3);
}

TEST_CASE("router: HEAD is answered like GET on every GET route (RFC 9110 9.1)") {
  fixture f;
  auto head = [&](std::string_view target) { return server::route({"HEAD", target, ""}, f.ctx); };
  CHECK(as_job(head("/1000")).n == 1000);
  CHECK(as_job(head("/square_sum?n=5")).n == 5);
  CHECK(as_job(head("/")).n < server::random_n_bound);
  CHECK(as_reply(head("/healthz")).status == 200);
  CHECK(std::holds_alternative<server::scrape>(head("/metrics")));
  CHECK(std::holds_alternative<server::stats_page>(head("/stats")));
  CHECK(as_reply(head("/abc")).status == 404);
  CHECK(as_reply(head("/-1")).status == 400);
}

TEST_CASE("router: a kind added to the registry is routable by name, with no router change") {
  fixture f;
  f.registry.add("cube", [](std::uint64_t n, const pool::cancel_token&) {
    return static_cast<double>(n * n * n);
  });
  const auto call = as_job(f.get("/cube?n=3"));
  CHECK(call.kind == "cube");
  CHECK((*call.fn)(3, pool::cancel_token{}) == 27.0);
  const auto rpc = as_job(f.rpc(R"({"jsonrpc":"2.0","method":"cube","params":[4],"id":1})"));
  CHECK((*rpc.fn)(rpc.n, pool::cancel_token{}) == 64.0);
}

TEST_CASE("router: health and metrics") {
  fixture f;
  const auto health = as_reply(f.get("/healthz"));
  CHECK(health.status == 200);
  CHECK(json::parse(health.body)["status"] == "ok");
  CHECK(std::holds_alternative<server::scrape>(f.get("/metrics")));
  CHECK(std::holds_alternative<server::stats_page>(f.get("/stats")));
  CHECK(std::holds_alternative<server::dashboard_page>(f.get("/dashboard")));
}

TEST_CASE("router: JSON-RPC requests") {
  fixture f;
  const auto a =
      as_job(f.rpc(R"({"jsonrpc":"2.0","method":"square_sum","params":[1000000],"id":7})"));
  CHECK(a.n == 1'000'000);
  CHECK(a.jsonrpc);
  CHECK(a.rpc_id == 7);
  const auto b =
      as_job(f.rpc(R"({"jsonrpc":"2.0","method":"square_sum","params":{"n":5},"id":"x"})"));
  CHECK(b.n == 5);
  CHECK(b.rpc_id == "x");
  CHECK(as_job(f.rpc(R"({"jsonrpc":"2.0","method":"square_sum","params":[0],"id":null})"))
            .rpc_id.is_null());
}

TEST_CASE("router: bad input gets the right status and a JSON error that says what was wrong") {
  struct bad {
    const char* method;
    std::string target;
    std::string body;
    unsigned status;
    int rpc_code;          // 0: a plain error body
    const char* mentions;  // a piece of the message
  };
  const bad cases[] = {
      {"GET", "/abc", "", 404, 0, "no route"},
      {"GET", "/1000/extra", "", 404, 0, "no route"},
      {"GET", "/square_sum/", "", 404, 0, "no route"},
      {"GET", "/-5", "", 400, 0, "non-negative integer"},
      {"GET", "/+5", "", 400, 0, "non-negative integer"},
      {"GET", "/12abc", "", 400, 0, "non-negative integer"},
      {"GET", "/1.5", "", 400, 0, "non-negative integer"},
      {"GET", "/1000000001", "", 422, 0, "at most 1000000000"},
      {"GET", "/99999999999999999999999999", "", 422, 0, "at most"},
      {"GET", "/square_sum", "", 400, 0, "missing"},
      {"GET", "/square_sum?n=", "", 400, 0, "missing"},
      {"GET", "/square_sum?n=-1", "", 400, 0, "non-negative integer"},
      {"GET", "/square_sum?n=1&n=2", "", 400, 0, "more than once"},
      {"GET", "/square_sum?n=%zz", "", 400, 0, "percent-escape"},
      {"GET", "/square_sum?n=5000000000", "", 422, 0, "at most"},
      {"GET", "relative", "", 400, 0, "must start with '/'"},
      {"GET", std::string("/\xff\xfe\x00x", 5), "", 404, 0, "no route"},
      {"POST", "/1000", "", 405, 0, "GET, HEAD"},
      {"POST", "/metrics", "", 405, 0, "GET, HEAD"},
      {"POST", "/square_sum?n=1", "", 405, 0, "GET, HEAD"},
      {"GET", "/rpc", "", 405, 0, "POST"},
      {"HEAD", "/rpc", "", 405, 0, "POST"},
      {"DELETE", "/metrics", "", 501, 0, "not implemented"},
      {"PUT", "/healthz", "", 501, 0, "not implemented"},
      {"get", "/1", "", 501, 0, "'get' is not implemented"},
      {"OPTIONS", "*", "", 501, 0, "not implemented"},
      {"CONNECT", "example.com:443", "", 501, 0, "not implemented"},
      {"GET", "*", "", 400, 0, "only for OPTIONS"},
      {"GET", "http:///1", "", 400, 0, "empty host"},
      {"GET", "http://:80/1", "", 400, 0, "empty host"},
      {"GET", "http:/1", "", 400, 0, "needs an authority"},
      {"GET", "http://user@host/1", "", 400, 0, "userinfo"},
      {"GET", "https://host/1", "", 421, 0, "http URIs only"},
      {"GET", "ftp://host/1", "", 421, 0, "http URIs only"},
      {"GET", "http://host/abc", "", 404, 0, "no route for '/abc'"},
      {"POST", "/rpc", "{bad", 400, -32700, "not valid JSON"},
      {"POST", "/rpc", "", 400, -32700, "not valid JSON"},
      {"POST", "/rpc", "[]", 400, -32600, "batch"},
      {"POST", "/rpc", "42", 400, -32600, "JSON object"},
      {"POST", "/rpc", R"({"jsonrpc":"2.0","method":"square_sum","params":[1]})", 400, -32600,
       "id is required"},
      {"POST", "/rpc", R"({"jsonrpc":"2.0","method":"square_sum","params":[1],"id":[1]})", 400,
       -32600, "id must be"},
      {"POST", "/rpc", R"({"jsonrpc":"1.0","method":"square_sum","params":[1],"id":1})", 400,
       -32600, "jsonrpc"},
      {"POST", "/rpc", R"({"method":"square_sum","params":[1],"id":1})", 400, -32600, "jsonrpc"},
      {"POST", "/rpc", R"({"jsonrpc":"2.0","method":5,"params":[1],"id":1})", 400, -32600,
       "method"},
      {"POST", "/rpc", R"({"jsonrpc":"2.0","method":"nope","params":[1],"id":1})", 404, -32601,
       "'nope'"},
      {"POST", "/rpc", R"({"jsonrpc":"2.0","method":"square_sum","id":1})", 400, -32602,
       "expected [n]"},
      {"POST", "/rpc", R"({"jsonrpc":"2.0","method":"square_sum","params":[],"id":1})", 400, -32602,
       "expected [n]"},
      {"POST", "/rpc", R"({"jsonrpc":"2.0","method":"square_sum","params":[1,2],"id":1})", 400,
       -32602, "expected [n]"},
      {"POST", "/rpc", R"({"jsonrpc":"2.0","method":"square_sum","params":{"m":1},"id":1})", 400,
       -32602, "expected [n]"},
      {"POST", "/rpc", R"({"jsonrpc":"2.0","method":"square_sum","params":["5"],"id":1})", 400,
       -32602, "non-negative integer"},
      {"POST", "/rpc", R"({"jsonrpc":"2.0","method":"square_sum","params":[1.5],"id":1})", 400,
       -32602, "non-negative integer"},
      {"POST", "/rpc", R"({"jsonrpc":"2.0","method":"square_sum","params":[-1],"id":1})", 400,
       -32602, "non-negative integer"},
      {"POST", "/rpc", R"({"jsonrpc":"2.0","method":"square_sum","params":[1e300],"id":1})", 400,
       -32602, "non-negative integer"},
      {"POST", "/rpc", R"({"jsonrpc":"2.0","method":"square_sum","params":[2000000000],"id":1})",
       422, -32602, "at most"},
      {"POST", "/rpc",
       R"({"jsonrpc":"2.0","method":"square_sum","params":[99999999999999999999999],"id":1})", 400,
       -32602, "non-negative integer"},
  };
  fixture f;
  for (const auto& c : cases) {
    CAPTURE(c.method);
    CAPTURE(c.target);
    CAPTURE(c.body);
    const auto r = as_reply(server::route({c.method, c.target, c.body}, f.ctx));
    CHECK(r.status == c.status);
    CHECK(r.content_type == "application/json");
    json body;
    REQUIRE_NOTHROW(body = json::parse(r.body));
    if (c.rpc_code) {
      CHECK(body["jsonrpc"] == "2.0");
      CHECK(body["error"]["code"] == c.rpc_code);
      CHECK(body["error"]["message"].get<std::string>().find(c.mentions) != std::string::npos);
      CHECK(body.contains("id"));
    } else {
      CHECK(body["status"] == c.status);
      CHECK(body["error"].get<std::string>().find(c.mentions) != std::string::npos);
    }
    if (c.status == 405) {
      REQUIRE(r.headers.size() == 1);
      CHECK(r.headers[0].first == "Allow");
    }
  }
}

TEST_CASE("router: the JSON-RPC id is echoed in errors") {
  fixture f;
  const auto r = as_reply(f.rpc(R"({"jsonrpc":"2.0","method":"nope","id":"abc"})"));
  CHECK(json::parse(r.body)["id"] == "abc");
}

TEST_CASE("router: job replies carry the value, the full-precision sum and the worker") {
  fixture f;
  const auto call = as_job(f.get("/1000000"));
  pool::job_result r;
  r.status = pool::job_status::completed;
  r.value = workers::square_sum(1'000'000);
  r.backend = 3;
  const auto ok = server::job_reply(call, r);
  CHECK(ok.status == 200);
  const auto body = json::parse(ok.body);
  CHECK(body["value"] == 1'000'000);
  CHECK(body["worker"] == 3);
  CHECK(body["sum"].get<double>() == r.value);  // bit-exact round trip

  const auto rpc_call =
      as_job(f.rpc(R"({"jsonrpc":"2.0","method":"square_sum","params":[1000000],"id":7})"));
  const auto rpc_body = json::parse(server::job_reply(rpc_call, r).body);
  CHECK(rpc_body["id"] == 7);
  CHECK(rpc_body["result"]["sum"].get<double>() == r.value);
  CHECK(rpc_body["result"]["worker"] == 3);

  pool::job_result failed;
  failed.error = "boom";
  const auto err = server::job_reply(call, failed);
  CHECK(err.status == 500);
  CHECK(json::parse(err.body)["error"].get<std::string>().find("boom") != std::string::npos);
  const auto rpc_err = json::parse(server::job_reply(rpc_call, failed).body);
  CHECK(rpc_err["error"]["code"] == server::rpc_code::job_failed);
  CHECK(rpc_err["id"] == 7);
}

TEST_CASE("router: JSON doubles read back bit-exact - integral values keep a fraction") {
  auto written = [](double v) {
    std::string s;
    observability::append_json_double(s, v);
    return s;
  };
  CHECK(written(0.0) == "0.0");
  CHECK(written(1.0) == "1.0");
  CHECK(written(2.5) == "2.5");
  CHECK(written(1e300) == "1e+300");
  CHECK(written(std::numeric_limits<double>::infinity()) == "null");
  // Every result a job can give (n up to 2^53), and doubles from every binade besides.
  std::mt19937_64 rng(12345);
  std::vector<double> values;
  for (std::uint64_t n : {0ull, 1ull, 2ull, 3ull, 1000ull, 1'000'000ull, 47'877'748ull})
    values.push_back(workers::square_sum(n));
  for (int i = 0; i < 20000; ++i) {
    double v;
    const std::uint64_t bits = rng() & ~(std::uint64_t{0x7ff} << 52);  // finite: exponent < max
    std::memcpy(&v, &bits, sizeof v);
    values.push_back(v);
    values.push_back(std::ldexp(static_cast<double>(rng() >> 11), -(i % 40)));
  }
  for (const double v : values) {
    const auto s = written(v);
    const auto parsed = json::parse(s);
    REQUIRE(parsed.is_number_float());
    CHECK(parsed.get<double>() == v);
  }
}

TEST_CASE("router: preconditions on resources without entity tags (RFC 9110 13.1, 13.2.2)") {
  using server::precondition_failed;
  using server::preconditions;
  const auto status = [](std::string_view method, preconditions p) -> unsigned {
    const auto r = precondition_failed(method, p);
    return r ? r->status : 0;  // 0: the request goes on
  };
  CHECK(status("GET", {}) == 0);
  // If-Match: "*" holds (the resource exists); any list of tags fails, strong or weak.
  CHECK(status("GET", {"*", std::nullopt}) == 0);
  CHECK(status("POST", {" * ", std::nullopt}) == 0);
  CHECK(status("GET", {"\"abc\"", std::nullopt}) == 412);
  CHECK(status("GET", {"W/\"abc\", \"def\"", std::nullopt}) == 412);
  CHECK(status("GET", {"*, \"abc\"", std::nullopt}) == 412);  // not the "*" form
  // If-None-Match: "*" fails: 304 for GET and HEAD, 412 otherwise; a list of tags holds.
  CHECK(status("GET", {std::nullopt, "*"}) == 304);
  CHECK(status("HEAD", {std::nullopt, "*"}) == 304);
  CHECK(status("POST", {std::nullopt, "*"}) == 412);
  CHECK(status("GET", {std::nullopt, "\"abc\""}) == 0);
  CHECK(status("GET", {std::nullopt, "W/\"abc\""}) == 0);
  // If-Match is evaluated first (13.2.2): a failing If-Match is 412 even for a GET.
  CHECK(status("GET", {"\"abc\"", "*"}) == 412);
  CHECK(status("GET", {"*", "*"}) == 304);
  const auto not_modified = precondition_failed("GET", {std::nullopt, "*"});
  REQUIRE(not_modified);
  CHECK(not_modified->body.empty());
}

TEST_CASE("router: the route table gives the 404 help, the Allow headers and the default kind") {
  fixture f;
  const auto missing = as_reply(f.get("/nowhere"));
  CHECK(missing.status == 404);
  for (const char* route : {"/", "POST /rpc", "/metrics", "/stats", "/dashboard", "/healthz",
                            "/readyz", "/<n>", "/<kind>?n=<n>"}) {
    CHECK(server::route_help().find(route) != std::string::npos);
  }
  CHECK(json::parse(missing.body)["error"] ==
        "no route for '/nowhere'; try " + server::route_help());

  const auto allow = [&](const char* method, const char* target) {
    const auto r = as_reply(server::route({method, target, ""}, f.ctx));
    CHECK(r.status == 405);
    for (const auto& [name, value] : r.headers)
      if (name == "Allow") return value;
    return std::string("(none)");
  };
  CHECK(allow("GET", "/rpc") == "POST");
  CHECK(allow("POST", "/metrics") == "GET, HEAD");
  CHECK(allow("POST", "/7") == "GET, HEAD");
  CHECK(allow("POST", "/square_sum?n=1") == "GET, HEAD");

  // A kind cannot hide a fixed route, and / and /<n> run whatever kind is the default.
  f.registry.add("metrics", [](std::uint64_t, const pool::cancel_token&) { return 1.0; });
  CHECK(std::holds_alternative<server::scrape>(f.get("/metrics")));
  f.registry.add("cube", [](std::uint64_t n, const pool::cancel_token&) {
    return static_cast<double>(n * n * n);
  });
  f.registry.set_default("cube");
  CHECK(as_job(f.get("/3")).kind == "cube");
  CHECK(as_job(f.get("/")).kind == "cube");
  workers::job_registry none;  // no default kind: / and /<n> are 404, /<kind> still works
  none.add("cube", [](std::uint64_t n, const pool::cancel_token&) { return double(n); });
  const server::router_context bare{none, 100};
  CHECK(as_reply(server::route({"GET", "/3", ""}, bare)).status == 404);
  CHECK(as_reply(server::route({"GET", "/", ""}, bare)).status == 404);
  CHECK(as_job(server::route({"GET", "/cube?n=3", ""}, bare)).kind == "cube");
}

namespace router_admission {

using opt = std::optional<std::string_view>;

/// A GET with the admission headers (unset: not sent).
server::route_result get(fixture& f, std::string_view target, opt timeout, opt priority = {},
                         opt client_id = {}) {
  return server::route({"GET", target, "", timeout, priority, client_id}, f.ctx);
}

/// A JSON-RPC call of square_sum(3) with `members` added, and the admission headers.
server::route_result rpc(fixture& f, const json& members, opt timeout = {}, opt priority = {},
                         opt client_id = {}) {
  json req{{"jsonrpc", "2.0"}, {"method", "square_sum"}, {"params", {3}}, {"id", 7}};
  if (members.is_object()) req.update(members);
  const auto body = req.dump();
  return server::route({"POST", "/rpc", body, timeout, priority, client_id}, f.ctx);
}

std::optional<long> timeout_of(const server::route_result& r) {
  const auto call = as_job(r);
  if (!call.timeout) return std::nullopt;
  return static_cast<long>(call.timeout->count());
}

/// A 400 whose message mentions `what`: a plain error, or a JSON-RPC one that echoes the id.
void check_bad(const server::route_result& r, bool jsonrpc, std::string_view what) {
  const auto reply = as_reply(r);
  CHECK(reply.status == 400);
  const auto body = json::parse(reply.body);
  if (jsonrpc) {
    CHECK(body["jsonrpc"] == "2.0");
    CHECK(body["error"]["code"] == server::rpc_code::invalid_request);
    CHECK(body["id"] == 7);
    CHECK(body["error"]["message"].get<std::string>().find(what) != std::string::npos);
  } else {
    CHECK(body["status"] == 400);
    CHECK(body["error"].get<std::string>().find(what) != std::string::npos);
  }
}

}  // namespace router_admission

TEST_CASE(
    "router: a deadline from the header, the query or the JSON-RPC member, and the shorter holds") {
  using namespace router_admission;
  fixture f;
  // Not given: no deadline of the client's (REQUEST_TIMEOUT_MS alone), normal priority.
  CHECK_FALSE(timeout_of(f.get("/square_sum?n=5")).has_value());
  CHECK(as_job(f.get("/square_sum?n=5")).prio == pool::priority::normal);
  CHECK_FALSE(timeout_of(f.rpc(R"({"jsonrpc":"2.0","method":"square_sum","params":[3],"id":7})"))
                  .has_value());

  // Each source alone, on every job route.
  CHECK(timeout_of(get(f, "/square_sum?n=5", "250")) == 250);
  CHECK(timeout_of(get(f, "/5", "250")) == 250);
  CHECK(timeout_of(get(f, "/", "250")) == 250);
  CHECK(timeout_of(f.get("/square_sum?n=5&timeout_ms=300")) == 300);
  CHECK(timeout_of(f.get("/square_sum?timeout_ms=300&n=5")) == 300);
  CHECK(timeout_of(f.get("/5?timeout_ms=300")) == 300);
  CHECK(timeout_of(f.get("/?timeout_ms=300")) == 300);
  CHECK(timeout_of(rpc(f, {{"timeout_ms", 400}})) == 400);
  CHECK(as_job(get(f, "/5", "250")).n == 5);  // the job itself is unchanged
  CHECK(as_job(rpc(f, {{"timeout_ms", 400}})).jsonrpc);

  // The bounds: 1 ms to a day.
  CHECK(timeout_of(get(f, "/5", "1")) == 1);
  CHECK(timeout_of(get(f, "/5", "86400000")) == 86'400'000);
  CHECK(timeout_of(f.get("/5?timeout_ms=86400000")) == 86'400'000);
  CHECK(timeout_of(rpc(f, {{"timeout_ms", 86'400'000}})) == 86'400'000);

  // Two sources: the shorter, whichever it is.
  CHECK(timeout_of(get(f, "/5?timeout_ms=300", "250")) == 250);
  CHECK(timeout_of(get(f, "/5?timeout_ms=300", "500")) == 300);
  CHECK(timeout_of(rpc(f, {{"timeout_ms", 400}}, "100")) == 100);
  CHECK(timeout_of(rpc(f, {{"timeout_ms", 400}}, "900")) == 400);
  CHECK(timeout_of(rpc(f, {}, "900")) == 900);  // the header alone, for JSON-RPC too
}

TEST_CASE("router: a bad deadline is 400 that names it, from any source") {
  using namespace router_admission;
  fixture f;
  // Zero, negative, not a number, over a day, and two header lines ("5, 6" once joined).
  for (const char* bad :
       {"0", "-5", "abc", "1.5", "", " 5", "5ms", "86400001", "99999999999999999999999", "5, 6"}) {
    CAPTURE(bad);
    check_bad(get(f, "/square_sum?n=5", bad), false, "X-Request-Timeout-Ms");
    check_bad(get(f, "/5", bad), false, "X-Request-Timeout-Ms");
    check_bad(rpc(f, {}, bad), true, "X-Request-Timeout-Ms");  // headers count for JSON-RPC
  }
  for (const char* bad : {"0", "-5", "abc", "1.5", "", "86400001", "1e3"}) {
    CAPTURE(bad);
    check_bad(f.get(std::string("/square_sum?n=5&timeout_ms=") + bad), false, "timeout_ms");
    check_bad(f.get(std::string("/5?timeout_ms=") + bad), false, "timeout_ms");
  }
  check_bad(f.get("/5?timeout_ms=100&timeout_ms=200"), false, "more than once");
  check_bad(f.get("/5?timeout_ms=%zz"), false, "percent-escape");
  // A good header does not excuse a bad query, nor the other way round.
  check_bad(get(f, "/5?timeout_ms=0", "100"), false, "timeout_ms");
  check_bad(get(f, "/5?timeout_ms=100", "0"), false, "X-Request-Timeout-Ms");
  for (const json& bad : {json(0), json(-5), json("100"), json(1.5), json(86'400'001),
                          json(nullptr), json(true), json::array({100})}) {
    CAPTURE(bad.dump());
    check_bad(rpc(f, {{"timeout_ms", bad}}), true, "timeout_ms");
    check_bad(rpc(f, {{"timeout_ms", bad}}, "100"), true, "timeout_ms");
  }
}

TEST_CASE(
    "router: a priority from the header, the query or the JSON-RPC member, and the lowest holds") {
  using namespace router_admission;
  fixture f;
  using pool::priority;
  const auto prio = [](const server::route_result& r) { return as_job(r).prio; };
  for (const auto& [name, p] :
       {std::pair{"high", priority::high}, std::pair{"normal", priority::normal},
        std::pair{"low", priority::low}}) {
    CAPTURE(name);
    CHECK(prio(get(f, "/square_sum?n=5", {}, name)) == p);
    CHECK(prio(get(f, "/5", {}, name)) == p);
    CHECK(prio(f.get(std::string("/square_sum?n=5&priority=") + name)) == p);
    CHECK(prio(f.get(std::string("/?priority=") + name)) == p);
    CHECK(prio(rpc(f, {{"priority", name}})) == p);
    CHECK(prio(rpc(f, {}, {}, name)) == p);
  }
  // Two sources: the lower, whichever it is (a client cannot lift what a proxy set).
  CHECK(prio(get(f, "/5?priority=low", {}, "high")) == priority::low);
  CHECK(prio(get(f, "/5?priority=high", {}, "low")) == priority::low);
  CHECK(prio(get(f, "/5?priority=high", {}, "normal")) == priority::normal);
  CHECK(prio(get(f, "/5?priority=high", {}, "high")) == priority::high);
  CHECK(prio(rpc(f, {{"priority", "high"}}, {}, "normal")) == priority::normal);
  CHECK(prio(rpc(f, {{"priority", "low"}}, {}, "high")) == priority::low);
  // The deadline and the priority together, each from its own source.
  const auto both = as_job(get(f, "/5?priority=low", "120"));
  CHECK(both.prio == priority::low);
  CHECK(both.timeout == std::chrono::milliseconds(120));
}

TEST_CASE("router: a bad priority is 400 (names are case-sensitive), from any source") {
  using namespace router_admission;
  fixture f;
  for (const char* bad :
       {"HIGH", "High", "Low", "urgent", "", " high", "high ", "1", "high, low"}) {
    CAPTURE(bad);
    check_bad(get(f, "/square_sum?n=5", {}, bad), false, "X-Priority");
    check_bad(get(f, "/5", {}, bad), false, "X-Priority");
    check_bad(rpc(f, {}, {}, bad), true, "X-Priority");
  }
  for (const char* bad : {"HIGH", "urgent", "", "0"}) {
    CAPTURE(bad);
    check_bad(f.get(std::string("/square_sum?n=5&priority=") + bad), false, "priority");
  }
  check_bad(f.get("/5?priority=high&priority=low"), false, "more than once");
  for (const json& bad :
       {json("HIGH"), json("urgent"), json(1), json(nullptr), json::array({"high"})}) {
    CAPTURE(bad.dump());
    check_bad(rpc(f, {{"priority", bad}}), true, "priority");
  }
}

TEST_CASE("router: X-Client-Id is at most 128 bytes") {
  using namespace router_admission;
  fixture f;
  const std::string ok(server::max_client_id, 'c'), too_long(server::max_client_id + 1, 'c');
  CHECK(as_job(get(f, "/5", {}, {}, ok)).n == 5);
  CHECK(as_job(get(f, "/5", {}, {}, "")).n == 5);
  CHECK(as_job(rpc(f, {}, {}, {}, ok)).jsonrpc);
  check_bad(get(f, "/5", {}, {}, too_long), false, "X-Client-Id");
  check_bad(get(f, "/square_sum?n=5", {}, {}, too_long), false, "X-Client-Id");
  check_bad(rpc(f, {}, {}, {}, too_long), true, "X-Client-Id");
  // Only jobs read it: a page is served whatever the header says.
  CHECK(std::holds_alternative<server::scrape>(get(f, "/metrics", {}, {}, too_long)));
}

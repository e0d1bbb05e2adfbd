// Admission control through HTTP, against the real server on loopback: a client deadline the
// queue ahead cannot meet is refused at once, REQUEST_TIMEOUT_MS caps a client's deadline,
// and a refusal says why (the "reason" member, JSON-RPC's error.data.reason) and is counted
// in exactly one poolserver_shed_total series.

#include <utility>

#include <doctest/doctest.h>

#include <chrono>
#include <map>
#include <string>

#include "pool/admission.hpp"
#include "test_server.hpp"

using namespace std::chrono_literals;

namespace admission_http {

namespace http = boost::beast::http;
using fields = std::vector<std::pair<std::string, std::string>>;

/// Every poolserver_shed_total series, by "reason/priority".
std::map<std::string, double> sheds(test::running_server& s) {
  const auto text = s.metrics();
  std::map<std::string, double> out;
  for (const auto reason : pool::shed_reason_names)
    for (const auto prio : pool::priority_names) {
      const auto series = "poolserver_shed_total{reason=\"" + std::string(reason) +
                          "\",priority=\"" + std::string(prio) + "\"}";
      const auto v = test::metric(text, series);
      CHECK(v.has_value());
      out[std::string(reason) + "/" + std::string(prio)] = v.value_or(-1);
    }
  return out;
}

/// The series that moved between `before` and `after`, with how much.
std::map<std::string, double> moved(const std::map<std::string, double>& before,
                                    const std::map<std::string, double>& after) {
  std::map<std::string, double> out;
  for (const auto& [k, v] : after)
    if (v != before.at(k)) out[k] = v - before.at(k);
  return out;
}

double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

/// One worker, held by a blocked job, with another blocked job queued behind it.
void hold_and_queue(test::running_server& s, test::http_client& running,
                    test::http_client& queued) {
  const auto consumed = s.srv->workers().stats(0).consumed;
  const auto produced = s.srv->workers().stats(0).produced;
  running.send(http::verb::get, "/block?n=1");
  test::wait_until([&] { return s.srv->workers().stats(0).consumed == consumed + 1; });
  queued.send(http::verb::get, "/block?n=2");
  test::wait_until([&] { return s.srv->workers().stats(0).produced == produced + 2; });
}

}  // namespace admission_http

using admission_http::fields;
using admission_http::ms_since;
using test::body_of;
namespace http = boost::beast::http;

TEST_CASE("admission http: a deadline the queue ahead cannot meet is 503 at once, not 504 later") {
  auto cfg = test::test_settings();
  cfg.threads = 1;
  cfg.admission_target = 1000ms;  // a job of a kind not seen yet is predicted to run 1 s
  test::running_server s(cfg);
  REQUIRE(s.srv->settings().admission == pool::admission_mode::adaptive);
  test::http_client c(s.port);

  // An idle worker meets a short deadline.
  const auto idle = c.request(http::verb::get, "/1000", "", {{"X-Request-Timeout-Ms", "300"}});
  CHECK(idle.result_int() == 200);

  // A blocked job runs and another waits: about 2 s of work predicted ahead.
  test::http_client running(s.port), queued(s.port);
  admission_http::hold_and_queue(s, running, queued);
  const auto before = admission_http::sheds(s);

  const auto t0 = std::chrono::steady_clock::now();
  const auto r = c.request(http::verb::get, "/1000", "", {{"X-Request-Timeout-Ms", "300"}});
  const double took = ms_since(t0);
  MESSAGE("refused in " << took << " ms");
  CHECK(r.result_int() == 503);
  CHECK(took < 300);  // before its deadline: nothing waited for it
  CHECK(r[http::field::retry_after] == "1");
  const auto body = body_of(r);
  CHECK(body["status"] == 503);
  CHECK(body["reason"] == "deadline");
  CHECK(body["error"].get<std::string>().find("deadline") != std::string::npos);
  CHECK(r.keep_alive());

  // The same by the query and by JSON-RPC's member.
  CHECK(body_of(c.get("/1000?timeout_ms=300"))["reason"] == "deadline");
  const auto rpc = c.request(
      http::verb::post, "/rpc",
      R"({"jsonrpc":"2.0","method":"square_sum","params":[1000],"id":11,"timeout_ms":300})");
  CHECK(rpc.result_int() == 503);
  CHECK(rpc[http::field::retry_after] == "1");
  const auto rpc_body = body_of(rpc);
  CHECK(rpc_body["jsonrpc"] == "2.0");
  CHECK(rpc_body["id"] == 11);
  CHECK(rpc_body["error"]["code"] == server::rpc_code::overloaded);
  CHECK(rpc_body["error"]["data"]["reason"] == "deadline");

  // Counted as deadline refusals of normal priority, and nothing else.
  CHECK(admission_http::moved(before, admission_http::sheds(s)) ==
        std::map<std::string, double>{{"deadline/normal", 3}});
  CHECK(s.metric("poolserver_jobs_cancelled_total{reason=\"deadline\",stage=\"queued\"}") == 0);

  // The jobs it was refused for were never disturbed.
  s.blocker->release();
  CHECK(body_of(running.read())["value"] == 1);
  CHECK(body_of(queued.read())["value"] == 2);
  CHECK(s.metric("poolserver_jobs_completed_total") == 3);
}

TEST_CASE("admission http: REQUEST_TIMEOUT_MS caps a client's longer deadline") {
  auto cfg = test::test_settings();
  cfg.threads = 1;
  cfg.request_timeout = 300ms;
  test::running_server s(cfg);
  test::http_client c(s.port);

  // A job that runs until its deadline, asked with a minute: answered 504 at 300 ms.
  auto t0 = std::chrono::steady_clock::now();
  auto r = c.request(http::verb::get, "/spin?n=1", "", {{"X-Request-Timeout-Ms", "60000"}});
  double took = ms_since(t0);
  MESSAGE("capped deadline answered in " << took << " ms");
  CHECK(r.result_int() == 504);
  CHECK(took >= 290);
  CHECK(took < 5000);  // REQUEST_TIMEOUT_MS, not the minute asked for
  CHECK(body_of(r)["error"].get<std::string>().find("deadline") != std::string::npos);

  t0 = std::chrono::steady_clock::now();
  r = c.get("/spin?n=1&timeout_ms=60000");
  took = ms_since(t0);
  CHECK(r.result_int() == 504);
  CHECK(took < 5000);
  CHECK(s.metric("poolserver_http_responses_total{code=\"504\"}") == 2);
}

TEST_CASE("admission http: a client's shorter deadline ends its job at that deadline") {
  auto cfg = test::test_settings();
  cfg.threads = 1;
  cfg.request_timeout = 30s;
  test::running_server s(cfg);
  test::http_client c(s.port);
  for (const auto& [how, target, fields_] :
       {std::tuple{std::string("header"), std::string("/spin?n=1"),
                   fields{{"X-Request-Timeout-Ms", "200"}}},
        std::tuple{std::string("query"), std::string("/spin?n=1&timeout_ms=200"), fields{}}}) {
    CAPTURE(how);
    const auto t0 = std::chrono::steady_clock::now();
    const auto r = c.request(http::verb::get, target, "", fields_);
    const double took = ms_since(t0);
    MESSAGE(how << ": 504 in " << took << " ms");
    CHECK(r.result_int() == 504);
    CHECK(took >= 190);
    CHECK(took < 5000);  // its 200 ms, not REQUEST_TIMEOUT_MS's 30 s
  }
  const auto t0 = std::chrono::steady_clock::now();
  const auto rpc =
      c.request(http::verb::post, "/rpc",
                R"({"jsonrpc":"2.0","method":"spin","params":[1],"id":"s","timeout_ms":200})");
  CHECK(ms_since(t0) < 5000);
  CHECK(rpc.result_int() == 504);
  CHECK(body_of(rpc)["error"]["code"] == server::rpc_code::deadline_exceeded);
  // The 504 leaves at the deadline; the job stops at its next look at its token.
  test::wait_until([&] { return s.srv->workers().in_flight() == 0; });
  CHECK(s.metric("poolserver_jobs_cancelled_total{reason=\"deadline\",stage=\"running\"}") == 3);
}

TEST_CASE("admission http: a refusal says its reason and moves one shed_total series by one") {
  auto cfg = test::test_settings();
  cfg.threads = 1;
  test::running_server s(cfg);
  test::http_client running(s.port), queued(s.port), c(s.port);
  // The queued blocked job is predicted to run the target (5 ms): more than low's 2.5 ms.
  admission_http::hold_and_queue(s, running, queued);
  auto before = admission_http::sheds(s);

  const auto r = c.request(http::verb::get, "/1000", "", {{"X-Priority", "low"}});
  CHECK(r.result_int() == 503);
  CHECK(r[http::field::retry_after] == "1");
  const auto body = body_of(r);
  CHECK(body["reason"] == "queue_delay");
  CHECK(body["error"].get<std::string>().find("low priority") != std::string::npos);
  auto after = admission_http::sheds(s);
  CHECK(admission_http::moved(before, after) ==
        std::map<std::string, double>{{"queue_delay/low", 1}});
  CHECK(s.metric("poolserver_rejections_total{reason=\"queue_full\"}") == 0);
  CHECK(s.metric("poolserver_http_responses_total{code=\"503\"}") == 1);

  // JSON-RPC: the reason in error.data, the id echoed; the next series moves by one.
  before = after;
  const auto rpc = c.request(
      http::verb::post, "/rpc",
      R"({"jsonrpc":"2.0","method":"square_sum","params":[10],"id":"x","priority":"low"})");
  CHECK(rpc.result_int() == 503);
  CHECK(rpc[http::field::retry_after] == "1");
  const auto rpc_body = body_of(rpc);
  CHECK(rpc_body["id"] == "x");
  CHECK(rpc_body["error"]["code"] == server::rpc_code::overloaded);
  CHECK(rpc_body["error"]["data"]["reason"] == "queue_delay");
  CHECK(rpc_body["error"]["message"].get<std::string>().find("overloaded") != std::string::npos);
  after = admission_http::sheds(s);
  CHECK(admission_http::moved(before, after) ==
        std::map<std::string, double>{{"queue_delay/low", 1}});

  // /stats says so too.
  const auto stats = body_of(c.get("/stats"));
  CHECK(stats["state"] == "shedding");
  CHECK(stats["admission"]["mode"] == "adaptive");
  CHECK(stats["admission"]["shed"] == 2);
  CHECK(stats["admission"]["shed_by_reason"]["queue_delay"] == 2);
  CHECK(stats["admission"]["shed_by_priority"]["low"] == 2);
  CHECK(stats["admission"]["shed_by_priority"]["normal"] == 0);

  // High priority is not refused for that queue: its own lane is empty. Nor were the jobs
  // queued disturbed by the refusals.
  c.send(http::verb::get, "/1000", "", {{"X-Priority", "high"}});
  test::wait_until([&] { return s.srv->workers().stats(0).produced == 3; });
  s.blocker->release();
  CHECK(c.read().result_int() == 200);
  CHECK(body_of(running.read())["value"] == 1);
  CHECK(body_of(queued.read())["value"] == 2);
  CHECK(admission_http::moved(after, admission_http::sheds(s)).empty());
}

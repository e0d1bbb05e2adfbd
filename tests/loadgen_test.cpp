// The open-loop load generator (bench/loadgen.hpp): its parsers alone, then runs against the
// real binary (on schedule, overloaded, timed out) and against a recording server (which
// headers each stream sent). Every run checks that each offered request has one outcome.

#include <utility>

#include <doctest/doctest.h>

#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "bench/loadgen.hpp"
#include "child_process.hpp"
#include "http_client.hpp"
#include "prometheus_check.hpp"

namespace loadgen_test {

/// One stream of `rate` per second on `target`.
loadgen::options one_stream(unsigned short port, double rate, std::string target) {
  loadgen::options o;
  o.port = port;
  o.streams.push_back({"only", rate, {{1.0, std::move(target)}}, {}});
  return o;
}

/// offered = answered + lost + timed_out + not_sent, and answered = the sum of the statuses.
void check_accounted(const loadgen::stream_result& s) {
  std::uint64_t by_status = 0;
  for (const auto& [status, n] : s.by_status) {
    by_status += n;
    CHECK(s.latency_ms.at(status).size() == n);
  }
  CHECK(by_status == s.answered);
  CHECK(s.offered == s.answered + s.lost + s.timed_out + s.not_sent);
}

std::uint64_t count_of(const loadgen::stream_result& s, unsigned status) {
  return s.by_status.count(status) ? s.by_status.at(status) : 0;
}

/// Answers every request 200 on its own thread and records (target, X-Client-Id) of each.
class recording_server {
 public:
  recording_server() {
    accept();
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~recording_server() {
    ioc_.stop();
    thread_.join();
  }
  unsigned short port() const { return acceptor_.local_endpoint().port(); }
  std::vector<std::pair<std::string, std::string>> seen() {
    std::lock_guard lock(mutex_);
    return seen_;
  }

 private:
  using tcp = boost::asio::ip::tcp;
  struct connection {
    explicit connection(tcp::socket s) : socket(std::move(s)) {}
    tcp::socket socket;
    boost::beast::flat_buffer buffer;
    boost::beast::http::request<boost::beast::http::string_body> req;
    boost::beast::http::response<boost::beast::http::string_body> res;
  };

  void accept() {
    acceptor_.async_accept([this](boost::beast::error_code ec, tcp::socket s) {
      if (ec) return;
      serve(std::make_shared<connection>(std::move(s)));
      accept();
    });
  }
  void serve(std::shared_ptr<connection> c) {
    c->req = {};
    boost::beast::http::async_read(
        c->socket, c->buffer, c->req, [this, c](boost::beast::error_code ec, std::size_t) {
          if (ec) return;
          {
            std::lock_guard lock(mutex_);
            seen_.emplace_back(std::string(c->req.target()), std::string(c->req["X-Client-Id"]));
          }
          c->res = {boost::beast::http::status::ok, 11};
          c->res.body() = "ok";
          c->res.prepare_payload();
          boost::beast::http::async_write(c->socket, c->res,
                                          [this, c](boost::beast::error_code ec, std::size_t) {
                                            if (!ec) serve(c);
                                          });
        });
  }

  boost::asio::io_context ioc_;
  tcp::acceptor acceptor_{ioc_, {boost::asio::ip::make_address("127.0.0.1"), 0}};
  std::mutex mutex_;
  std::vector<std::pair<std::string, std::string>> seen_;
  std::thread thread_;
};

}  // namespace loadgen_test

TEST_CASE("loadgen: parse_mix reads weights and bare targets, and names a bad entry") {
  const auto mix = loadgen::parse_mix("90:/1000000,10:/100000000");
  REQUIRE(mix.size() == 2);
  CHECK(mix[0] == std::pair<double, std::string>{90, "/1000000"});
  CHECK(mix[1] == std::pair<double, std::string>{10, "/100000000"});
  CHECK(loadgen::parse_mix("/a") == std::vector<std::pair<double, std::string>>{{1, "/a"}});
  CHECK(loadgen::parse_mix("0.5:/a?x=1:2+/b", '+').size() == 2);
  CHECK(loadgen::parse_mix("0.5:/a?x=1:2+/b", '+')[0].second == "/a?x=1:2");

  for (const char* bad : {"", ",", "/a,", "a", "x:/a", "0:/a", "-1:/a", "5:a", "5:", "/a b",
                          "inf:/a", "nan:/a"}) {
    CAPTURE(bad);
    CHECK_THROWS_AS(loadgen::parse_mix(bad), std::invalid_argument);
  }
  try {
    loadgen::parse_mix("90:/a,ten:/b");
    FAIL("no exception");
  } catch (const std::invalid_argument& e) {
    CHECK(std::string(e.what()).find("\"ten:/b\"") != std::string::npos);
  }
  CHECK(loadgen::parse_arrivals("poisson") == loadgen::arrivals::poisson);
  CHECK_THROWS_AS(loadgen::parse_arrivals("uniform"), std::invalid_argument);
}

TEST_CASE("loadgen: percentile is the nearest rank, 0 when empty") {
  CHECK(loadgen::percentile({}, 50) == 0);
  CHECK(loadgen::percentile({7}, 99.9) == 7);
  std::vector<double> v;
  for (int i = 100; i >= 1; --i) v.push_back(i);  // unsorted on purpose
  CHECK(loadgen::percentile(v, 0) == 1);
  CHECK(loadgen::percentile(v, 50) == 51);  // rank 0.5 * 99 rounded
  CHECK(loadgen::percentile(v, 99) == 99);
  CHECK(loadgen::percentile(v, 100) == 100);
}

TEST_CASE("loadgen: bad options are refused before any request") {
  auto o = loadgen_test::one_stream(1, 10, "/");
  o.host = "10.1.2.3";
  CHECK_THROWS_AS(loadgen::run(o), std::invalid_argument);
  o.host = "127.0.0.1";
  o.streams[0].rate = 0;
  CHECK_THROWS_AS(loadgen::run(o), std::invalid_argument);
  o.streams[0].rate = 10;
  o.streams[0].headers = {{"X-Bad", "a\r\nInjected: 1"}};
  CHECK_THROWS_AS(loadgen::run(o), std::invalid_argument);
}

TEST_CASE("loadgen: at a modest rate every request leaves on schedule and is answered 200") {
  test::server_process srv({"THREADS=2"});

  auto o = loadgen_test::one_stream(srv.port, 200, "/1000");
  o.duration = std::chrono::milliseconds(1500);
  const auto constant = loadgen::run(o);
  REQUIRE(constant.streams.size() == 1);
  const auto& c = constant.streams[0];
  loadgen_test::check_accounted(c);
  MESSAGE("constant: offered " << c.offered << ", p99 "
                               << loadgen::percentile(c.latency_ms.at(200), 99) << " ms, "
                               << c.max_connections_used << " connections");
  CHECK(c.offered >= 298);
  CHECK(c.offered <= 302);
  CHECK(c.answered == c.offered);
  CHECK(loadgen_test::count_of(c, 200) == c.offered);
  CHECK(c.offered_rate == doctest::Approx(200).epsilon(0.02));
  CHECK(c.max_connections_used >= 1);
  CHECK(c.goodput > 150);

  o.how = loadgen::arrivals::poisson;
  const auto poisson = loadgen::run(o);
  const auto& p = poisson.streams[0];
  loadgen_test::check_accounted(p);
  MESSAGE("poisson: offered " << p.offered);
  CHECK(p.offered > 200);  // 300 expected; a standard deviation is about 17
  CHECK(p.offered < 400);
  CHECK(loadgen_test::count_of(p, 200) == p.offered);

  // --max-requests ends the schedule before the duration.
  o.how = loadgen::arrivals::constant;
  o.max_requests = 20;
  const auto bounded = loadgen::run(o);
  CHECK(bounded.streams[0].offered == 20);
  CHECK(loadgen_test::count_of(bounded.streams[0], 200) == 20);
  CHECK(bounded.seconds < 1.0);
}

TEST_CASE("loadgen: against an overloaded server every request is accounted for") {
  test::server_process srv({"THREADS=1", "QUEUE_CAPACITY=4"});
  auto o = loadgen_test::one_stream(srv.port, 1500, "/5000000");
  o.duration = std::chrono::milliseconds(1000);
  const auto r = loadgen::run(o);
  const auto& s = r.streams[0];
  loadgen_test::check_accounted(s);
  MESSAGE("offered " << s.offered << ": 200 x" << loadgen_test::count_of(s, 200) << ", 503 x"
                     << loadgen_test::count_of(s, 503) << ", lost " << s.lost << ", not sent "
                     << s.not_sent << ", " << s.max_connections_used << " connections");
  CHECK(s.offered == 1500);
  CHECK(loadgen_test::count_of(s, 503) > 0);
  CHECK(loadgen_test::count_of(s, 200) > 0);
  CHECK(s.lost == 0);
  CHECK(s.timed_out == 0);
  CHECK(s.not_sent == 0);
  // The server's own count agrees with the client's.
  const auto metrics = test::http_client(srv.port).get("/metrics").body();
  CHECK(test::metric(metrics, "poolserver_jobs_completed_total") ==
        static_cast<double>(loadgen_test::count_of(s, 200)));
}

TEST_CASE("loadgen: a request without an answer in time is timed out, not lost") {
  // About a second of work per request, against a timeout of 300 ms.
  // ADMISSION=static: adaptive admission would refuse the queued ones at once (503).
  test::server_process srv({"THREADS=1", "MAX_N=4000000000", "ADMISSION=static"});
  auto o = loadgen_test::one_stream(srv.port, 10, "/4000000000");
  o.duration = std::chrono::milliseconds(500);
  o.timeout = std::chrono::milliseconds(300);
  const auto r = loadgen::run(o);
  const auto& s = r.streams[0];
  loadgen_test::check_accounted(s);
  CHECK(s.offered == 5);
  CHECK(s.timed_out == 5);
  CHECK(s.lost == 0);
  CHECK(s.answered == 0);
  CHECK(r.seconds < 2.0);  // each waits for its own deadline, not for the jobs
  // The server is still fine.
  CHECK(test::http_client(srv.port).get("/healthz").result_int() == 200);
}

TEST_CASE("loadgen: a connection cap makes requests not_sent, and they are counted") {
  // One connection and jobs of about a second: the second request finds it busy.
  test::server_process srv({"THREADS=1", "MAX_N=4000000000"});
  auto o = loadgen_test::one_stream(srv.port, 10, "/4000000000");
  o.duration = std::chrono::milliseconds(300);
  o.timeout = std::chrono::milliseconds(200);
  o.max_connections = 1;
  const auto r = loadgen::run(o);
  const auto& s = r.streams[0];
  loadgen_test::check_accounted(s);
  CHECK(s.offered == 3);
  CHECK(s.max_connections_used == 1);
  CHECK(s.not_sent >= 1);
  CHECK(s.timed_out >= 1);
}

TEST_CASE("loadgen: two streams send their own headers and are reported apart") {
  loadgen_test::recording_server fake;
  loadgen::options o;
  o.port = fake.port();
  o.duration = std::chrono::milliseconds(500);
  o.streams.push_back({"a", 40, {{1.0, "/a"}}, {{"X-Client-Id", "client-a"}}});
  o.streams.push_back({"b", 20, {{3.0, "/b1"}, {1.0, "/b2"}}, {{"X-Client-Id", "client-b"}}});
  const auto r = loadgen::run(o);
  REQUIRE(r.streams.size() == 2);
  CHECK(r.streams[0].name == "a");
  CHECK(r.streams[1].name == "b");
  CHECK(r.streams[0].offered == 20);
  CHECK(r.streams[1].offered == 10);
  for (const auto& s : r.streams) {
    loadgen_test::check_accounted(s);
    CHECK(loadgen_test::count_of(s, 200) == s.offered);
  }
  const auto seen = fake.seen();
  CHECK(seen.size() == 30);
  int from_a = 0, from_b = 0;
  for (const auto& [target, client] : seen) {
    CAPTURE(target);
    if (target == "/a") {
      CHECK(client == "client-a");
      ++from_a;
    } else {
      CHECK((target == "/b1" || target == "/b2"));
      CHECK(client == "client-b");
      ++from_b;
    }
  }
  CHECK(from_a == 20);
  CHECK(from_b == 10);
  const auto json = loadgen::to_json(r);
  CHECK(json.find("\"name\": \"a\"") != std::string::npos);
  CHECK(json.find("\"p99.9\"") != std::string::npos);
}

TEST_CASE("loadgen: the closed loop keeps its connections busy, one request each") {
  test::server_process srv({"THREADS=2"});
  auto o = loadgen_test::one_stream(srv.port, 0, "/1000");
  o.closed = 4;
  o.duration = std::chrono::milliseconds(300);
  const auto r = loadgen::run(o);
  const auto& s = r.streams[0];
  loadgen_test::check_accounted(s);
  MESSAGE("closed loop of 4: " << s.offered << " requests in " << s.schedule_seconds << " s");
  CHECK(s.offered > 20);  // hundreds in a release build; sanitizers slow the server a lot
  CHECK(loadgen_test::count_of(s, 200) == s.offered);
  CHECK(s.max_connections_used == 4);
  CHECK(s.not_sent == 0);
}

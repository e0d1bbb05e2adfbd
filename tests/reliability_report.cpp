// Writes docs/reliability.md: load held, faults survived and bad inputs tried against the
// release binary on loopback, each with the requests lost (the goal is 0).
// Run through scripts/reliability.sh; not part of ctest (it takes about a minute).

#include <utility>

#include <doctest/doctest.h>

#include <signal.h>
#include <sys/utsname.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "hostile_requests.hpp"
#include "prometheus_check.hpp"
#include "scenarios.hpp"

using namespace std::chrono_literals;

namespace {

struct row {
  std::string scenario;
  std::string offered;
  std::string answered;
  int lost = 0;
  std::string notes;
};

std::string statuses(const std::map<unsigned, int>& by_status) {
  std::string out;
  for (const auto& [s, n] : by_status)
    out += (out.empty() ? "" : ", ") + std::to_string(n) + "×" + std::to_string(s);
  return out.empty() ? "none" : out;
}

std::string fixed(double v, int digits = 1) {
  std::ostringstream o;
  o.setf(std::ios::fixed);
  o.precision(digits);
  o << v;
  return o.str();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

double metric_sum(const std::string& text, const std::string& prefix) {
  double sum = 0;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(prefix, 0) == 0) sum += std::strtod(line.c_str() + line.rfind(' ') + 1, nullptr);
  return sum;
}

row overload(int runs) {
  std::vector<double> p99s;
  long peak_rss = 0;
  int sent = 0, answered = 0, lost = 0, refused = 0, clean_exits = 0;
  std::map<unsigned, int> by_status;
  for (int i = 0; i < runs; ++i) {
    const auto out = test::run_overload();
    const auto& r = out.load;
    sent += r.sent;
    answered += r.answered;
    lost += r.lost;
    refused += r.refused;
    for (const auto& [s, n] : r.by_status) by_status[s] += n;
    p99s.push_back(test::load_result::percentile(r.latency_503_ms, 99));
    peak_rss = std::max(peak_rss, out.peak_rss_kib);
    clean_exits += out.exit_status == 0;
  }
  CHECK(lost == 0);
  CHECK(refused == 0);
  CHECK(answered == sent);
  CHECK(clean_exits == runs);
  return {
      "overload: 32 connections × 50 requests of `/2000000` against `THREADS=2 "
      "QUEUE_CAPACITY=4`, " +
          std::to_string(runs) + " runs",
      std::to_string(sent), statuses(by_status), lost + refused,
      "503 p99 per run: median " + fixed(median(p99s), 2) + " ms (min " +
          fixed(*std::min_element(p99s.begin(), p99s.end()), 2) + ", max " +
          fixed(*std::max_element(p99s.begin(), p99s.end()), 2) + "); peak RSS " +
          std::to_string(peak_rss / 1024) + " MiB (bound 64)"};
}

row drain(int runs) {
  int sent = 0, answered = 0, refused = 0, lost = 0, clean_exits = 0;
  std::map<unsigned, int> by_status;
  for (int i = 0; i < runs; ++i) {
    const auto out = test::run_drain_under_load();
    const auto& r = out.load;
    sent += r.sent;
    answered += r.answered;
    refused += r.refused;
    lost += r.lost;
    for (const auto& [s, n] : r.by_status) by_status[s] += n;
    clean_exits += out.exit_status == 0;
  }
  CHECK(lost == 0);
  CHECK(clean_exits == runs);
  return {"drain: SIGTERM after the 200th answer, 32 connections of `/500000`, " +
              std::to_string(runs) + " runs",
          std::to_string(sent), statuses(by_status), lost,
          std::to_string(refused) +
              " request(s) sent on a connection the server had closed while idle (never read, "
              "safe to retry); exit status 0 in " +
              std::to_string(clean_exits) + "/" + std::to_string(runs) + " runs"};
}

row vanishing_clients() {
  test::server_process srv({"THREADS=2"});
  constexpr int clients = 20;
  for (int i = 0; i < clients; ++i) {
    test::http_client c(srv.port);
    c.send(boost::beast::http::verb::get, "/1000000000");  // about a second of work each
    std::this_thread::sleep_for(5ms);
  }  // each closes before its answer
  std::string metrics;
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  double gone = 0;
  do {
    std::this_thread::sleep_for(20ms);
    metrics = test::http_client(srv.port).get("/metrics").body();
    gone = metric_sum(metrics, "poolserver_jobs_cancelled_total{reason=\"client_gone\"");
  } while (gone < clients && std::chrono::steady_clock::now() < deadline);
  const double ran = metric_sum(
      metrics, "poolserver_jobs_cancelled_total{reason=\"client_gone\",stage=\"running\"");
  const auto after = test::http_client(srv.port).get("/1000");
  CHECK(gone == clients);
  CHECK(after.result_int() == 200);
  srv.proc.signal(SIGTERM);
  CHECK(srv.proc.wait_exit() == 0);
  return {"vanishing clients: 20 clients send `/1000000000` (about 1 s of work) and disconnect",
          "20", "0 (nobody to answer)", clients - static_cast<int>(gone),
          fixed(gone, 0) + " jobs cancelled (" + fixed(ran, 0) + " while running, " +
              fixed(gone - ran, 0) + " dropped from the queue); the next request got " +
              std::to_string(after.result_int())};
}

row slowloris() {
  test::server_process srv({"HEADER_TIMEOUT_MS=1000"});
  constexpr int slow = 5;
  std::vector<std::unique_ptr<test::http_client>> slows;
  for (int i = 0; i < slow; ++i) slows.push_back(std::make_unique<test::http_client>(srv.port));
  test::http_client normal(srv.port);
  const std::string request = "GET /1000 HTTP/1.1\r\nHost: x\r\nX-Padding: ";
  int served = 0, sent = 0, dropped = 0;
  std::vector<bool> open(slow, true);
  const auto start = std::chrono::steady_clock::now();
  for (std::size_t i = 0; std::chrono::steady_clock::now() - start < 3s; ++i) {
    for (int k = 0; k < slow; ++k) {
      if (!open[k]) continue;
      boost::system::error_code ec;
      const char byte = i < request.size() ? request[i] : 'a';
      boost::asio::write(slows[k]->socket(), boost::asio::buffer(&byte, 1), ec);
      slows[k]->socket().non_blocking(true);
      char c;
      slows[k]->socket().read_some(boost::asio::buffer(&c, 1), ec);
      slows[k]->socket().non_blocking(false);
      if (ec && ec != boost::asio::error::would_block) {
        open[k] = false;
        ++dropped;
      }
    }
    ++sent;
    served += normal.get("/1000").result_int() == 200;
    std::this_thread::sleep_for(50ms);
  }
  CHECK(dropped == slow);
  CHECK(served == sent);
  srv.proc.signal(SIGTERM);
  CHECK(srv.proc.wait_exit() == 0);
  return {
      "slowloris: 5 connections send one header byte every 50 ms (`HEADER_TIMEOUT_MS=1000`) while "
      "one client sends normal requests",
      std::to_string(sent) + " normal", std::to_string(served) + "×200", sent - served,
      std::to_string(dropped) + "/" + std::to_string(slow) +
          " slow connections dropped at the header deadline"};
}

row deadlines() {
  test::server_process srv({"THREADS=2", "REQUEST_TIMEOUT_MS=200"});
  constexpr int requests = 4;
  std::vector<std::unique_ptr<test::http_client>> clients;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < requests; ++i) {
    clients.push_back(std::make_unique<test::http_client>(srv.port));
    clients.back()->send(boost::beast::http::verb::get, "/1000000000");
  }
  std::map<unsigned, int> by_status;
  std::vector<double> ms;
  for (auto& c : clients) {
    ++by_status[c->read().result_int()];
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                     .count());
  }
  const auto t = std::chrono::steady_clock::now();
  const auto after = test::http_client(srv.port).get("/1000");
  const double after_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
  CHECK(by_status[504] == requests);
  CHECK(after.result_int() == 200);
  srv.proc.signal(SIGTERM);
  CHECK(srv.proc.wait_exit() == 0);
  return {
      "deadlines: 4 requests of `/1000000000` (about 1 s each) with `REQUEST_TIMEOUT_MS=200`, 2 "
      "workers",
      std::to_string(requests), statuses(by_status), requests - by_status[504],
      "answered after " + fixed(*std::min_element(ms.begin(), ms.end()), 0) + "–" +
          fixed(*std::max_element(ms.begin(), ms.end()), 0) + " ms; the next request took " +
          fixed(after_ms, 1) + " ms (the workers were free)"};
}

row hostile() {
  test::server_process srv({});
  const auto& cases = test::hostile_requests();
  int right = 0, json = 0, alive = 0;
  std::map<unsigned, int> by_status;
  for (const auto& hc : cases) {
    const auto got = test::send_hostile(srv.port, hc);
    ++by_status[got.status];
    right += got.status == hc.status;
    json += got.json_error;
    alive += test::http_client(srv.port).get("/100").result_int() == 200;
  }
  CHECK(right == static_cast<int>(cases.size()));
  srv.proc.signal(SIGTERM);
  CHECK(srv.proc.wait_exit() == 0);
  const int n = static_cast<int>(cases.size());
  return {
      "hostile input: " + std::to_string(n) + " malformed requests (tests/hostile_requests.hpp)",
      std::to_string(n), statuses(by_status), n - right,
      std::to_string(right) + "/" + std::to_string(n) + " got the expected status, " +
          std::to_string(json) + " with a JSON error; a normal request after each: " +
          std::to_string(alive) + "/" + std::to_string(n) + " answered 200"};
}

}  // namespace

TEST_CASE("reliability report") {
  const char* path = std::getenv("RELIABILITY_REPORT");
  const std::string out_path = path ? path : "docs/reliability.md";
  std::vector<row> rows;
  rows.push_back(overload(5));
  rows.push_back(drain(3));
  rows.push_back(vanishing_clients());
  rows.push_back(slowloris());
  rows.push_back(deadlines());
  rows.push_back(hostile());

  utsname u{};
  ::uname(&u);
  std::ofstream md(out_path);
  md << "# Reliability report\n\n"
     << "Written by `scripts/reliability.sh` (the scenarios are in "
        "`tests/reliability_report.cpp`):\n"
     << "the release binary on 127.0.0.1, each scenario bounded in requests and time. *Lost* "
        "counts\n"
     << "requests that were sent and neither answered nor cleanly refused before being read (a\n"
     << "reset, a broken answer, a dropped job); the goal is 0 everywhere.\n\n"
     << "Machine: " << std::thread::hardware_concurrency() << " cores, " << u.sysname << " "
     << u.release << " " << u.machine
     << ". Timings on this shared 2-core machine are noisy: read them as orders of\n"
     << "magnitude; the counts are exact.\n\n"
     << "| scenario | requests offered | answered (count×status) | lost | notes |\n"
     << "| --- | --- | --- | --- | --- |\n";
  int lost = 0;
  for (const auto& r : rows) {
    md << "| " << r.scenario << " | " << r.offered << " | " << r.answered << " | " << r.lost
       << " | " << r.notes << " |\n";
    lost += r.lost;
  }
  md << "\nRequests lost over all scenarios: **" << lost << "**.\n\n"
     << "Re-run: `scripts/reliability.sh` (about a minute; it builds the release preset first).\n";
  CHECK(lost == 0);
  MESSAGE("wrote " << out_path);
}

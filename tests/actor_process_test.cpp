// The real binaries: a poolserver with two poolactor processes on loopback. Jobs spread over
// local workers and actors; an actor killed with SIGKILL under load loses no request and
// answers none twice; a new actor picks up work at once; a poolactor drops a server that
// breaks the protocol and reconnects; a rolling restart loses and repeats nothing; a job past
// its deadline stops on the actor.

#include <utility>

#include <doctest/doctest.h>

#include <signal.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <vector>
#include <sstream>
#include <string>
#include <thread>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <nlohmann/json.hpp>

#include "actor/framing.hpp"
#include "actor/protocol.hpp"
#include "child_process.hpp"
#include "http_client.hpp"
#include "load_client.hpp"
#include "prometheus_check.hpp"
#include "sync_support.hpp"
#include "workers/square_sum.hpp"

namespace {

using namespace std::chrono_literals;
using test::child;

struct actor_process {
  child proc;
  explicit actor_process(unsigned short port, std::vector<std::string> env = {"THREADS=1"})
      : proc(std::move(env), POOLACTOR_BINARY, {"127.0.0.1:" + std::to_string(port)}) {}
};

double metric_of(unsigned short port, const std::string& series) {
  const auto v = test::metric(test::http_client(port).get("/metrics").body(), series);
  return v.value_or(-1);
}

void wait_for_metric(unsigned short port, const std::string& series, double value) {
  test::wait_until([&] { return metric_of(port, series) == value; });
}

// Answers are judged against the kernel run here: the same code, so the same bits.
struct expected_sums {
  std::vector<std::string> targets;
  std::map<std::string, std::pair<std::uint64_t, double>> by_target;

  expected_sums(std::uint64_t first, int count) {
    for (int i = 0; i < count; ++i) {
      const auto n = first + static_cast<std::uint64_t>(i);
      targets.push_back("/" + std::to_string(n));
      by_target[targets.back()] = {n, workers::square_sum(n)};
    }
  }
  /// A load whose requests cycle through the targets, every answer judged by correct().
  test::load_options load(unsigned short port, int connections, int requests_each) const {
    test::load_options o;
    o.port = port;
    o.connections = connections;
    o.requests_per_connection = requests_each;
    o.targets = targets;
    o.check = [this](const std::string& t, unsigned status, const std::string& body) {
      return correct(t, status, body);
    };
    return o;
  }
  bool correct(const std::string& target, unsigned status, const std::string& body) const {
    if (status != 200) return false;
    const auto j = nlohmann::json::parse(body, nullptr, false);
    const auto& [n, sum] = by_target.at(target);
    return !j.is_discarded() && j.value("value", std::uint64_t{0}) == n &&
           j.value("sum", -1.0) == sum && (j.contains("worker") != j.contains("actor"));
  }
};

}  // namespace

TEST_CASE("actor processes: jobs spread over local workers and both actors per the strategy") {
  test::server_process server({"THREADS=2", "STRATEGY=roundrobin", "ACTOR_PORT=0"});
  REQUIRE(server.actor_port != 0);
  actor_process a(server.actor_port);
  actor_process b(server.actor_port);
  wait_for_metric(server.port, "poolserver_actors", 2);

  const auto expected = workers::square_sum(1000);
  std::map<std::string, int> by_backend;
  test::http_client c(server.port);
  for (int i = 0; i < 40; ++i) {
    const auto body = nlohmann::json::parse(c.get("/1000").body());
    CHECK(body["sum"].get<double>() == expected);
    by_backend[body.contains("actor") ? "actor " + body["actor"].dump()
                                      : "worker " + body["worker"].dump()]++;
  }
  const std::map<std::string, int> even{{"worker 0", 10},
                                        {"worker 1", 10},
                                        {"actor " + std::to_string(a.proc.pid()), 10},
                                        {"actor " + std::to_string(b.proc.pid()), 10}};
  CHECK(by_backend == even);
}

TEST_CASE(
    "actor processes: SIGKILL of an actor under load: every request gets one correct answer") {
  test::server_process server({"THREADS=1", "STRATEGY=roundrobin", "ACTOR_PORT=0"});
  actor_process a(server.actor_port);
  actor_process b(server.actor_port);
  wait_for_metric(server.port, "poolserver_actors", 2);

  const expected_sums sums(1'500'000, 7);
  auto o = sums.load(server.port, 8, 50);
  // After 100 answers, kill actor a while it holds a job it cannot have answered: first
  // SIGSTOP, then SIGKILL once the server has sent it another job (an answer written just
  // before the stop could still arrive; one to a job sent after it cannot). Watched from
  // another thread, so that the load goes on meanwhile.
  std::atomic<bool> armed{false};
  o.trigger_after = 100;
  o.trigger = [&] { armed = true; };
  std::thread killer([&] {
    test::wait_until([&] { return armed.load(); });
    a.proc.signal(SIGSTOP);
    // poolserver_actor_info{actor="<name>",pid="<pid>"} names the actor in the metrics.
    const auto text = test::http_client(server.port).get("/metrics").body();
    const auto at = text.find("pid=\"" + std::to_string(a.proc.pid()) + "\"");
    REQUIRE(at != std::string::npos);
    const auto open = text.rfind("actor=\"", at) + 7;
    const auto produced = "poolserver_actor_jobs_produced_total{actor=\"" +
                          text.substr(open, text.find('"', open) - open) + "\"}";
    const auto before = test::metric(text, produced).value_or(0);
    test::wait_until([&] { return metric_of(server.port, produced) > before; });
    a.proc.signal(SIGKILL);
  });
  const auto r = test::run_load(o);
  killer.join();
  MESSAGE("answered " << r.answered << ", wrong " << r.wrong << ", lost " << r.lost);
  CHECK(r.sent == 400);
  CHECK(r.answered == 400);
  CHECK(r.by_status.count(200) == 1);
  CHECK(r.answered == (r.by_status.count(200) ? r.by_status.at(200) : 0));
  CHECK(r.wrong == 0);
  CHECK(r.lost == 0);
  CHECK(r.refused == 0);
  const auto metrics = test::http_client(server.port).get("/metrics").body();
  CHECK(test::metric(metrics, "poolserver_actors") == 1);
  CHECK(test::metric(metrics, "poolserver_actor_disconnects_total{reason=\"closed\"}") == 1);
  const auto redispatched = test::metric(metrics, "poolserver_actor_redispatched_jobs_total");
  MESSAGE("jobs in flight at the killed actor, run again elsewhere: " << redispatched.value_or(-1));
  CHECK(redispatched >= 1);  // it was stopped with jobs in flight, so it could not answer them
  CHECK(test::metric(metrics, "poolserver_jobs_completed_total") == 400);
  CHECK_FALSE(test::metric(metrics, "poolserver_http_responses_total{code=\"503\"}"));
  // Each acceptance ended once: the killed actor's jobs as actor_lost, and again elsewhere.
  double cancelled = 0;
  std::istringstream lines(metrics);
  for (std::string line; std::getline(lines, line);)
    if (line.rfind("poolserver_jobs_cancelled_total{", 0) == 0)
      cancelled += std::stod(line.substr(line.rfind(' ') + 1));
  CHECK(cancelled == redispatched);
  CHECK(test::metric(metrics, "poolserver_jobs_produced_total") ==
        400 + cancelled + test::metric(metrics, "poolserver_in_flight").value_or(-1));
}

TEST_CASE("actor processes: an actor that joins under load picks up work within a second") {
  test::server_process server({"THREADS=1", "STRATEGY=roundrobin", "ACTOR_PORT=0"});
  actor_process a(server.actor_port);
  wait_for_metric(server.port, "poolserver_actors", 1);

  const expected_sums sums(300'000, 5);
  auto o = sums.load(server.port, 4, 400);
  test::load_result r;
  std::thread load([&] { r = test::run_load(o); });
  std::this_thread::sleep_for(100ms);

  actor_process b(server.actor_port);
  wait_for_metric(server.port, "poolserver_actor_connects_total", 2);
  const auto joined = std::chrono::steady_clock::now();
  // The info line appears with the actor's first answer.
  const std::string pid = "pid=\"" + std::to_string(b.proc.pid()) + "\"";
  test::wait_until([&] {
    return test::http_client(server.port).get("/metrics").body().find(pid) != std::string::npos;
  });
  const auto first_answer = std::chrono::steady_clock::now() - joined;
  load.join();
  MESSAGE("first answer from the new actor "
          << std::chrono::duration<double, std::milli>(first_answer).count()
          << " ms after it joined");
  CHECK(first_answer < 1s);
  CHECK(r.answered == r.sent);
  CHECK(r.wrong == 0);
  CHECK(r.lost == 0);
}

TEST_CASE("poolactor: drops a server that breaks the protocol, reconnects, answers jobs") {
  namespace net = boost::asio;
  using tcp = net::ip::tcp;
  net::io_context ioc;
  tcp::acceptor acceptor(ioc, {net::ip::make_address("127.0.0.1"), 0});
  const auto port = acceptor.local_endpoint().port();
  actor_process a(port);

  // Reads framed messages until `count` arrive (or EOF).
  auto read_messages = [](tcp::socket& s, std::size_t count) {
    actor::frame_reader frames;
    std::vector<std::string> got;
    char buf[4096];
    while (got.size() < count) {
      boost::system::error_code ec;
      const auto n = s.read_some(net::buffer(buf), ec);
      if (ec) break;
      frames.feed(std::string_view(buf, n), [&](std::string_view m) { got.emplace_back(m); });
    }
    return got;
  };

  {
    auto first = acceptor.accept();
    net::write(first, net::buffer(std::string("this is not json") + '\0'));
    // Its greeting, then nothing: the actor closed the connection.
    const auto got = read_messages(first, 2);
    REQUIRE(got.size() == 1);
    CHECK(std::holds_alternative<actor::hello>(actor::parse_from_actor(got[0])));
  }
  auto second = acceptor.accept();  // it came back
  std::string jobs;
  actor::append_request(jobs, 1, "square_sum", 1000);
  actor::append_request(jobs, 2, "no_such_kind", 1);
  jobs += std::string(R"({"id":3,"method":"square_sum","args":[-4]})") + '\0';
  net::write(second, net::buffer(jobs));
  std::map<std::uint64_t, actor::job_reply> replies;
  // A server of the seed's that ignores the greeting it does not know: the actor serves it.
  const auto got = read_messages(second, 4);
  REQUIRE(got.size() == 4);
  CHECK(std::holds_alternative<actor::hello>(actor::parse_from_actor(got[0])));
  for (std::size_t i = 1; i < got.size(); ++i) {
    auto parsed = actor::parse_reply(got[i]);
    REQUIRE(std::holds_alternative<actor::job_reply>(parsed));
    const auto& r = std::get<actor::job_reply>(parsed);
    replies[r.id] = r;
  }
  REQUIRE(replies.size() == 3);
  CHECK(replies[1].ok);
  CHECK(replies[1].value == workers::square_sum(1000));
  CHECK(replies[1].pid == a.proc.pid());
  CHECK_FALSE(replies[2].ok);
  CHECK(replies[2].error.find("unknown method") != std::string::npos);
  CHECK_FALSE(replies[3].ok);

  a.proc.signal(SIGTERM);
  CHECK(a.proc.wait_exit() == 0);
  CHECK(a.proc.output().find("malformed message from the server") != std::string::npos);
  CHECK(a.proc.output().find("reconnecting in") != std::string::npos);
}

TEST_CASE(
    "poolactor: refused past ACTOR_MAX_CONNECTIONS, it backs off instead of retrying at once") {
  // The server accepts and closes at once: the connection "works" for a moment each time,
  // which used to start the backoff over at 0.1 s, ten connections a second forever.
  test::server_process server({"THREADS=1", "ACTOR_PORT=0", "ACTOR_MAX_CONNECTIONS=1"});
  actor_process first(server.actor_port);
  wait_for_metric(server.port, "poolserver_actors", 1);
  actor_process second(server.actor_port);
  second.proc.read_for(1800ms);  // 0.1 + 0.2 + 0.4 + 0.8 s with jitter: three waits at least
  std::vector<long> waits;
  const std::string marker = "reconnecting in ";
  const auto& out = second.proc.output();
  for (auto at = out.find(marker); at != std::string::npos; at = out.find(marker, at + 1))
    waits.push_back(std::stol(out.substr(at + marker.size())));
  MESSAGE("the refused actor's waits (ms): " << [&] {
    std::ostringstream s;
    for (const auto w : waits) s << w << ' ';
    return s.str();
  }());
  REQUIRE(waits.size() >= 3);
  CHECK(waits[2] > 2 * waits[0]);  // doubling (with +-20 % jitter), not 0.1 s again and again
  CHECK(waits.size() <= 6);
  CHECK(metric_of(server.port, "poolserver_actor_connections_refused_total") <= 7);
  CHECK(metric_of(server.port, "poolserver_actors") == 1);
}

namespace {

// The totals an actor logs as it stops: "stopped: R job(s) received, C run to their end, ...".
std::pair<long, long> received_and_completed(const std::string& output) {
  const auto at = output.rfind("stopped: ");
  REQUIRE(at != std::string::npos);
  long received = -1, completed = -1;
  std::istringstream in(output.substr(at + 9));
  std::string word;
  in >> received >> word >> word >> completed;
  return {received, completed};
}

}  // namespace

TEST_CASE("actor processes: a rolling restart under load loses nothing and runs nothing twice") {
  test::server_process server({"THREADS=none", "STRATEGY=roundrobin", "ACTOR_PORT=0"});
  std::vector<std::unique_ptr<actor_process>> actors;
  actors.push_back(std::make_unique<actor_process>(server.actor_port));
  actors.push_back(std::make_unique<actor_process>(server.actor_port));
  wait_for_metric(server.port, "poolserver_actors", 2);

  const expected_sums sums(400'000, 5);
  auto o = sums.load(server.port, 6, 400);
  std::atomic<bool> armed{false};
  std::atomic<bool> replaced{false};
  o.trigger_after = 100;
  o.trigger = [&] { armed = true; };
  // Each old actor is replaced in turn: a new one joins, then the old one gets SIGTERM and
  // leaves (it answers what it holds first). Watched from another thread: the load goes on.
  std::thread roller([&] {
    test::wait_until([&] { return armed.load(); });
    for (std::size_t old = 0; old < 2; ++old) {
      actors.push_back(std::make_unique<actor_process>(server.actor_port));
      wait_for_metric(server.port, "poolserver_actors", 3);
      actors[old]->proc.signal(SIGTERM);
      CHECK(actors[old]->proc.wait_exit() == 0);
      wait_for_metric(server.port, "poolserver_actors", 2);
    }
    replaced = true;
  });
  const auto r = test::run_load(o);
  roller.join();
  MESSAGE("answered " << r.answered << ", wrong " << r.wrong << ", lost " << r.lost);
  CHECK(replaced.load());
  CHECK(r.sent == 2400);
  CHECK(r.answered == 2400);
  CHECK(r.wrong == 0);
  CHECK(r.lost == 0);
  for (std::size_t i = 2; i < 4; ++i) {
    actors[i]->proc.signal(SIGTERM);
    CHECK(actors[i]->proc.wait_exit() == 0);
  }
  // Counted on the actors: every job was received once and run once.
  long received = 0, completed = 0;
  for (std::size_t i = 0; i < actors.size(); ++i) {
    const auto [rcv, done] = received_and_completed(actors[i]->proc.output());
    MESSAGE("actor " << i << ": " << rcv << " received, " << done << " run");
    CHECK(rcv > 0);
    received += rcv;
    completed += done;
  }
  CHECK(received == 2400);
  CHECK(completed == 2400);
  const auto metrics = test::http_client(server.port).get("/metrics").body();
  CHECK(test::metric(metrics, "poolserver_actor_disconnects_total{reason=\"left\"}") == 4);
  CHECK(test::metric(metrics, "poolserver_actor_redispatched_jobs_total") == 0);
  CHECK(test::metric(metrics, "poolserver_jobs_completed_total") == 2400);
  CHECK_FALSE(test::metric(metrics, "poolserver_http_responses_total{code=\"503\"}"));
  CHECK_FALSE(test::metric(metrics, "poolserver_http_responses_total{code=\"500\"}"));
}

TEST_CASE("actor processes: a job past its deadline stops on the actor and frees its worker") {
  test::server_process server({"THREADS=none", "ACTOR_PORT=0", "MAX_N=1000000000000"});
  actor_process a(server.actor_port);  // one worker
  wait_for_metric(server.port, "poolserver_actors", 1);
  test::http_client c(server.port);
  // Minutes of work, with a 300 ms deadline.
  auto r = c.request(boost::beast::http::verb::get, "/500000000000", {},
                     {{"X-Request-Timeout-Ms", "300"}});
  CHECK(r.result_int() == 504);
  const auto after = std::chrono::steady_clock::now();
  // The actor's only worker takes the next job once the first stopped.
  r = c.request(boost::beast::http::verb::get, "/1000", {}, {{"X-Request-Timeout-Ms", "10000"}});
  CHECK(r.result_int() == 200);
  MESSAGE("the next job was answered "
          << std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - after)
                 .count()
          << " ms after the 504");
  a.proc.signal(SIGTERM);
  CHECK(a.proc.wait_exit() == 0);
  CHECK(a.proc.output().find("2 job(s) received, 1 run to their end, 0 failed, 1 cancelled") !=
        std::string::npos);
}

TEST_CASE("poolactor: a server that closes on its greeting is served with the seed's protocol") {
  namespace net = boost::asio;
  using tcp = net::ip::tcp;
  net::io_context ioc;
  tcp::acceptor acceptor(ioc, {net::ip::make_address("127.0.0.1"), 0});
  actor_process a(acceptor.local_endpoint().port());
  actor::frame_reader frames;
  std::vector<std::string> got;
  char buf[4096];
  {
    auto first = acceptor.accept();
    while (got.empty()) {
      const auto n = first.read_some(net::buffer(buf));
      frames.feed(std::string_view(buf, n), [&](std::string_view m) { got.emplace_back(m); });
    }
    CHECK(std::holds_alternative<actor::hello>(actor::parse_from_actor(got[0])));
  }  // closed without a word, as a server that does not know greetings might
  auto second = acceptor.accept();
  std::string job;
  actor::append_request(job, 5, "square_sum", 1000);
  net::write(second, net::buffer(job));
  got.clear();
  frames = actor::frame_reader{};
  while (got.empty()) {
    const auto n = second.read_some(net::buffer(buf));
    frames.feed(std::string_view(buf, n), [&](std::string_view m) { got.emplace_back(m); });
  }
  // No greeting this time: the first message is the answer.
  auto reply = actor::parse_reply(got[0]);
  REQUIRE(std::holds_alternative<actor::job_reply>(reply));
  CHECK(std::get<actor::job_reply>(reply).id == 5);
  CHECK(std::get<actor::job_reply>(reply).value == workers::square_sum(1000));
  a.proc.signal(SIGTERM);
  CHECK(a.proc.wait_exit() == 0);
}

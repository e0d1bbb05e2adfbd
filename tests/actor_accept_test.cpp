// Accepting on the actor port when accept() fails: out of descriptors the listener pauses
// and logs about once a second (it used to retry at once, forever: a busy loop writing
// hundreds of thousands of lines a second), and accepts the actor once descriptors are free.

#include <utility>

#include <doctest/doctest.h>

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>

#include "child_process.hpp"
#include "fake_actor.hpp"
#include "http_client.hpp"
#include "log_capture.hpp"
#include "prometheus_check.hpp"
#include "sockets/accept_pacing.hpp"

namespace {

using namespace std::chrono_literals;

// The lowest descriptor number that process `pid` does not use: with RLIMIT_NOFILE there,
// its next accept() fails with EMFILE.
int lowest_free_fd(pid_t pid) {
  std::set<int> used;
  for (const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd"))
    used.insert(std::stoi(e.path().filename().string()));
  int fd = 0;
  while (used.count(fd)) ++fd;
  return fd;
}

// CPU time (user + system) the process has used so far, in seconds.
double cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));  // the name may hold spaces
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i)  // utime is field 14, stime 15
    if (i >= 14) ticks += std::stod(field);
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

boost::system::error_code errno_code(int e) {
  return {e, boost::system::system_category()};
}

}  // namespace

TEST_CASE("accept pacing: pauses on errors of the process, not on the connection's own") {
  sockets::accept_pacing pacing("test accept");
  test::captured_log log;
  const auto t = pool::clock::now();
  for (int e : {EMFILE, ENFILE, ENOBUFS, ENOMEM})
    CHECK(pacing.failed(errno_code(e), t) == sockets::accept_pacing::pause);
  for (int e : {ECONNABORTED, EPROTO, EPERM, ENETUNREACH})
    CHECK(pacing.failed(errno_code(e), t) == std::chrono::milliseconds(0));
}

TEST_CASE("accept pacing: at most one warning a second, counting the ones it left out") {
  sockets::accept_pacing pacing("test accept");
  test::captured_log log;
  const auto t = pool::clock::now();
  for (int i = 0; i < 10'000; ++i) pacing.failed(errno_code(EMFILE), t + i * 10us);
  CHECK(log.lines() == 1);  // 0.1 s of failures
  pacing.failed(errno_code(EMFILE), t + 1s);
  CHECK(log.lines() == 2);
  CHECK(log.text.str().find("and 9999 more") != std::string::npos);
  pacing.succeeded(t + 1s + 1ms);
  pacing.succeeded(t + 1s + 2ms);
  CHECK(log.lines() == 3);
  CHECK(log.text.str().find("accepting again after 10001 failed") != std::string::npos);
}

TEST_CASE("actor port out of descriptors: accept pauses, logs little, and takes the actor later") {
  test::server_process server({"THREADS=1", "ACTOR_PORT=0"});
  REQUIRE(server.actor_port != 0);
  const auto pid = server.proc.pid();
  rlimit normal{};
  REQUIRE(::prlimit(pid, RLIMIT_NOFILE, nullptr, &normal) == 0);
  rlimit exhausted = normal;
  exhausted.rlim_cur = static_cast<rlim_t>(lowest_free_fd(pid));
  REQUIRE(::prlimit(pid, RLIMIT_NOFILE, &exhausted, nullptr) == 0);

  // The kernel completes the handshake; the connection waits in the backlog.
  test::fake_actor actor(server.actor_port);
  const auto logged_before = server.proc.output().size();
  const double cpu_before = cpu_seconds(pid);
  server.proc.read_for(1000ms);
  const double cpu = cpu_seconds(pid) - cpu_before;
  const auto during = server.proc.output().substr(logged_before);
  const auto lines = std::count(during.begin(), during.end(), '\n');
  MESSAGE("out of descriptors for 1 s: " << lines << " log lines, " << during.size() << " bytes, "
                                         << cpu << " s of CPU");
  INFO("logged: " << during);
  CHECK(during.find("actor accept: Too many open files") != std::string::npos);
  CHECK(lines <= 3);  // one warning a second (and one the first time)
  CHECK(cpu < 0.25);

  REQUIRE(::prlimit(pid, RLIMIT_NOFILE, &normal, nullptr) == 0);
  CHECK(server.proc.read_until("joined the pool"));
  const auto metrics = test::http_client(server.port).get("/metrics").body();
  CHECK(test::metric(metrics, "poolserver_actors") == 1);
  CHECK(test::metric(metrics, "poolserver_actor_connects_total") == 1);
}

TEST_CASE("actor port: a connection reset before it was accepted never joins the pool") {
  // Queued while the server is out of descriptors, reset, then accepted: accept() returns
  // it, but it has no peer any more (getpeername fails), so no actor is there to name.
  test::server_process server({"THREADS=1", "ACTOR_PORT=0"});
  const auto pid = server.proc.pid();
  rlimit normal{};
  REQUIRE(::prlimit(pid, RLIMIT_NOFILE, nullptr, &normal) == 0);
  rlimit exhausted = normal;
  exhausted.rlim_cur = static_cast<rlim_t>(lowest_free_fd(pid));
  REQUIRE(::prlimit(pid, RLIMIT_NOFILE, &exhausted, nullptr) == 0);
  for (int i = 0; i < 2; ++i) {
    boost::asio::io_context ioc;
    boost::asio::ip::tcp::socket gone(ioc);
    gone.connect({boost::asio::ip::make_address("127.0.0.1"), server.actor_port});
    gone.set_option(boost::asio::socket_base::linger(true, 0));  // close sends a reset
    gone.close();
  }
  test::fake_actor actor(server.actor_port);
  REQUIRE(::prlimit(pid, RLIMIT_NOFILE, &normal, nullptr) == 0);
  REQUIRE(server.proc.read_until("joined the pool"));
  const auto metrics = test::http_client(server.port).get("/metrics").body();
  CHECK(test::metric(metrics, "poolserver_actors") == 1);
  CHECK(test::metric(metrics, "poolserver_actor_connects_total") == 1);
  CHECK(server.proc.output().find("0.0.0.0:0") == std::string::npos);
}

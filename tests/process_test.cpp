// The poolserver executable as a user runs it: environment in, exit status out.

#include <utility>

#include <doctest/doctest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "http_client.hpp"

#include "child_process.hpp"

using test::child;
using namespace std::chrono_literals;

TEST_CASE("process: an invalid setting stops start-up with exit 2 and one line naming it") {
  struct bad {
    const char* env;
    const char* mentions;
  };
  for (const bad b : {bad{"THREADS=abc", "THREADS: invalid value 'abc'"},
                      bad{"STRATEGY=fastest", "roundrobin, random, leastbusy, p2c"},
                      bad{"QUEUE_CAPACITY=100", "power of two"}}) {
    CAPTURE(b.env);
    child c({b.env});
    CHECK(c.wait_exit() == 2);
    CHECK(c.output().find(b.mentions) != std::string::npos);
    CHECK(std::count(c.output().begin(), c.output().end(), '\n') == 1);
  }
}

TEST_CASE("process: SIGTERM answers the request in flight, then exits 0") {
  child c({"PORT=0", "HOST=127.0.0.1", "THREADS=2", "STRATEGY=leastbusy"});
  REQUIRE(c.read_until("listening on http://127.0.0.1:"));
  REQUIRE(c.read_until("\n"));
  const auto at = c.output().find("listening on http://127.0.0.1:") +
                  std::strlen("listening on http://127.0.0.1:");
  const auto port = static_cast<unsigned short>(std::stoi(c.output().substr(at)));
  CHECK(c.output().find("STRATEGY=leastbusy") != std::string::npos);  // effective config logged

  test::http_client client(port);
  CHECK(client.get("/1000").result_int() == 200);
  // A job long enough to be running when the signal lands.
  client.send(boost::beast::http::verb::get, "/300000000");
  std::this_thread::sleep_for(50ms);
  c.signal(SIGTERM);
  const auto r = client.read();
  CHECK(r.result_int() == 200);
  CHECK(nlohmann::json::parse(r.body())["value"] == 300'000'000);
  CHECK_FALSE(r.keep_alive());
  client.socket().close();
  CHECK(c.wait_exit() == 0);
  CHECK(c.output().find("draining") != std::string::npos);
}

TEST_CASE("process: a second signal while draining exits at once") {
  test::server_process srv({"THREADS=1"});
  test::http_client client(srv.port);
  client.send(boost::beast::http::verb::get, "/1000000000");  // about a second of work
  std::this_thread::sleep_for(50ms);
  srv.proc.signal(SIGTERM);
  REQUIRE(srv.proc.read_until("draining"));
  srv.proc.signal(SIGTERM);
  CHECK(srv.proc.wait_exit() == 1);
  CHECK(srv.proc.output().find("exiting now") != std::string::npos);
}

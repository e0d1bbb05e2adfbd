// The real binary under resource limits: descriptors (RLIMIT_NOFILE below MAX_CONNECTIONS)
// and the memory that idle keep-alive connections hold.

#include <utility>

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "child_process.hpp"
#include "http_client.hpp"

using namespace std::chrono_literals;

namespace {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool sanitized = true;  // the sanitizers' own allocators decide what RSS shows
#else
constexpr bool sanitized = false;
#endif

}  // namespace

TEST_CASE(
    "descriptors: MAX_CONNECTIONS is lowered to fit RLIMIT_NOFILE, and past it clients get 503") {
  // Soft 48, hard 64: the server raises the soft limit to 64 and fits MAX_CONNECTIONS (10000
  // by default) into it. Before, clients past the limit waited unanswered in the backlog.
  test::server_process s({"THREADS=1"}, "/usr/bin/prlimit", {"--nofile=48:64", POOLSERVER_BINARY});
  const std::string marker = "MAX_CONNECTIONS lowered from 10000 to ";
  REQUIRE(s.proc.output().find(marker) != std::string::npos);
  const auto at = s.proc.output().find(marker) + marker.size();
  const auto fit = static_cast<std::size_t>(std::stoul(s.proc.output().substr(at)));
  CHECK(s.proc.output().find("may open 64 descriptors") != std::string::npos);
  REQUIRE(fit >= 8);
  REQUIRE(fit < 64);

  std::vector<std::unique_ptr<test::http_client>> open;
  for (std::size_t i = 0; i < fit; ++i) {
    open.push_back(std::make_unique<test::http_client>(s.port));
    REQUIRE(open.back()->get("/1").result_int() == 200);
  }
  for (int i = 0; i < 3; ++i) {  // past the limit: answered at once, not left in the backlog
    test::http_client extra(s.port);
    const auto r = extra.read();
    CHECK(r.result_int() == 503);
    CHECK(r.body().find("too many connections") != std::string::npos);
  }
  open.pop_back();  // room for one again
  bool served = false;
  for (int attempt = 0; attempt < 200 && !served; ++attempt) {
    test::http_client later(s.port);
    later.send(boost::beast::http::verb::get, "/2");
    served = later.read().result_int() == 200;
    if (!served) std::this_thread::sleep_for(10ms);
  }
  CHECK(served);
}

TEST_CASE("descriptors: with actors, ACTOR_MAX_CONNECTIONS is lowered too, to a quarter") {
  // Hard limit 128: actors (256 by default) may take a quarter of what is left after the
  // server's own descriptors, clients the rest, with room to refuse with 503.
  test::server_process s({"THREADS=1", "ACTOR_PORT=0"}, "/usr/bin/prlimit",
                         {"--nofile=128:128", POOLSERVER_BINARY});
  const auto& out = s.proc.output();
  const std::string actors = "ACTOR_MAX_CONNECTIONS lowered from 256 to ";
  const std::string clients = "MAX_CONNECTIONS lowered from 10000 to ";
  REQUIRE(out.find(actors) != std::string::npos);
  REQUIRE(out.find(clients) != std::string::npos);
  const auto actors_fit = std::stoul(out.substr(out.find(actors) + actors.size()));
  const auto clients_fit = std::stoul(out.substr(out.find(clients) + clients.size()));
  MESSAGE("RLIMIT_NOFILE 128: " << actors_fit << " actors, " << clients_fit << " clients");
  CHECK(actors_fit >= 8);
  CHECK(actors_fit <= 32);
  CHECK(clients_fit >= 3 * actors_fit - 16);
  CHECK(actors_fit + clients_fit < 128);
}

TEST_CASE("memory: idle keep-alive connections that fetched a big page hold no big buffer" *
          doctest::skip(sanitized)) {
  test::server_process s({"THREADS=1"});
  {
    test::http_client warm(s.port);  // the page and the allocator's first arenas
    REQUIRE(warm.get("/dashboard").body().size() > 100 * 1024);
  }
  const long before = s.proc.rss_kib();
  REQUIRE(before > 0);
  // 400 connections fetch the dashboard (about 200 KiB) once and stay open.
  constexpr int connections = 400;
  std::vector<std::unique_ptr<test::http_client>> idle;
  for (int i = 0; i < connections; ++i) {
    idle.push_back(std::make_unique<test::http_client>(s.port));
    REQUIRE(idle.back()->get("/dashboard").result_int() == 200);
  }
  const long grown_mib = (s.proc.rss_kib() - before) / 1024;
  MESSAGE("RSS grew by " << grown_mib << " MiB for " << connections << " idle connections");
  CHECK(grown_mib < 24);  // before: about 85 MiB (each kept its 212 KiB response buffer)
}

// The real binary under resource limits: the memory that idle keep-alive connections hold.

#include <utility>

#include <doctest/doctest.h>

#include <memory>
#include <vector>

#include "child_process.hpp"
#include "http_client.hpp"

namespace {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool sanitized = true;  // the sanitizers' own allocators decide what RSS shows
#else
constexpr bool sanitized = false;
#endif

}  // namespace

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

// The actor link's bookkeeping without a socket (actor_links/actor_ledger.hpp): what waits to be
// written is bounded, and a write that waits for the timeout ends the link.

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "actor_links/actor_ledger.hpp"

namespace {

using namespace std::chrono_literals;

pool::job a_job(std::shared_ptr<std::atomic<int>> done) {
  pool::job j;
  j.method = "square_sum";
  j.arg = 123456;
  j.done = [done](pool::job_result&&) { ++*done; };
  return j;
}

}  // namespace

TEST_CASE("actor ledger: at most max_unsent bytes of jobs wait to be written") {
  std::uint64_t next = 1;
  actor_links::actor_ledger ledger(
      {1'000'000, actor::max_message, 64 * 1024}, [&] { return next++; }, "test");
  auto done = std::make_shared<std::atomic<int>>(0);
  const auto t = pool::clock::now();
  int taken = 0;
  for (int i = 0; i < 100'000; ++i) {
    auto j = a_job(done);
    bool start_flush = false;
    taken += ledger.try_submit(j, t, start_flush);
  }
  std::string unsent;
  REQUIRE(ledger.take_unsent(unsent, t));
  MESSAGE(taken << " jobs, " << unsent.size() << " bytes waiting");
  CHECK(unsent.size() >= 64 * 1024);
  CHECK(unsent.size() < 64 * 1024 + 100);  // the last job that fitted
  CHECK(ledger.stats().producer_waits == static_cast<std::uint64_t>(100'000 - taken));
  CHECK(ledger.close(false).size() == static_cast<std::size_t>(taken));
}

TEST_CASE("actor ledger: a write that waits for the timeout ends the link, answered or not") {
  std::uint64_t next = 1;
  actor_links::actor_ledger ledger(
      {64}, [&] { return next++; }, "test");
  auto done = std::make_shared<std::atomic<int>>(0);
  const auto t = pool::clock::now();
  auto j = a_job(done);
  bool start_flush = false;
  REQUIRE(ledger.try_submit(j, t, start_flush));
  CHECK(start_flush);
  std::string unsent;
  REQUIRE(ledger.take_unsent(unsent, t));
  // Answered without being read (its id guessed): nothing is in flight, the write still waits.
  CHECK_FALSE(ledger.feed(std::string(R"({"id":1,"value":1,"pid":2})") + '\0', t + 10ms));
  CHECK(*done == 1);
  CHECK_FALSE(ledger.silent(t + 100ms, 100ms));
  const auto why = ledger.silent(t + 101ms, 100ms);
  REQUIRE(why);
  CHECK(why->find("read none of its jobs") != std::string::npos);
  ledger.written();
  CHECK_FALSE(ledger.silent(t + 1s, 100ms));  // written: nothing waits, nothing in flight
}

#include "pool/mpmc_queue.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <thread>
#include <vector>

using pool::mpmc_queue;

TEST_CASE("mailbox: capacity must be a power of two") {
  CHECK_THROWS_AS(mpmc_queue<int>(0), std::invalid_argument);
  CHECK_THROWS_AS(mpmc_queue<int>(3), std::invalid_argument);
  CHECK_THROWS_AS(mpmc_queue<int>(1000), std::invalid_argument);
  CHECK(mpmc_queue<int>(1).capacity() == 1);
  CHECK(mpmc_queue<int>(1024).capacity() == 1024);
}

TEST_CASE("mailbox: full, empty and FIFO order") {
  mpmc_queue<int> q(4);
  int out = -1;
  CHECK(q.empty());
  CHECK_FALSE(q.try_pop(out));
  for (int i = 0; i < 4; ++i) CHECK(q.try_push(i));
  CHECK(q.size() == 4);
  CHECK_FALSE(q.try_push(99));  // full
  for (int i = 0; i < 4; ++i) {
    REQUIRE(q.try_pop(out));
    CHECK(out == i);
  }
  CHECK_FALSE(q.try_pop(out));
  CHECK(q.empty());
}

TEST_CASE("mailbox: wraps around many times, capacity 1 included") {
  for (std::size_t cap : {1u, 2u, 8u}) {
    mpmc_queue<int> q(cap);
    int next_in = 0, next_out = 0, out = 0;
    for (std::size_t round = 0; round < 1000; ++round) {
      // Push and pop varying amounts so the positions cross the end of the ring often.
      for (std::size_t i = 0; i < 1 + round % cap; ++i) {
        const bool room = q.size() < cap;
        CHECK(q.try_push(next_in) == room);
        if (room) ++next_in;
      }
      for (std::size_t i = 0; i < 1 + (round * 7) % cap && q.try_pop(out); ++i)
        CHECK(out == next_out++);
    }
    while (q.try_pop(out)) CHECK(out == next_out++);
    CHECK(next_out == next_in);
    CHECK(next_in >= 1000);
  }
}

TEST_CASE("mailbox: move-only items - a failed push leaves the item untouched") {
  mpmc_queue<std::unique_ptr<int>> q(1);
  auto a = std::make_unique<int>(1);
  auto b = std::make_unique<int>(2);
  CHECK(q.try_push(std::move(a)));
  CHECK(a == nullptr);
  CHECK_FALSE(q.try_push(std::move(b)));  // NOLINT: not moved from on failure
  REQUIRE(b != nullptr);
  CHECK(*b == 2);
  std::unique_ptr<int> out;
  REQUIRE(q.try_pop(out));
  CHECK(*out == 1);
}

namespace {
struct counted {
  static inline std::atomic<int> alive{0};
  counted() noexcept { ++alive; }
  counted(counted&&) noexcept { ++alive; }
  counted& operator=(counted&&) noexcept = default;
  ~counted() { --alive; }
};
}  // namespace

TEST_CASE("mailbox: items left in the queue are destroyed with it") {
  {
    mpmc_queue<counted> q(8);
    for (int i = 0; i < 5; ++i) CHECK(q.try_emplace());
    counted out;
    CHECK(q.try_pop(out));
    CHECK(counted::alive == 5);  // 4 queued + out
  }
  CHECK(counted::alive == 0);
}

TEST_CASE("mailbox: many producers and consumers, every item exactly once") {
  constexpr int producers = 4, consumers = 4, per_producer = 50'000;
  constexpr int total = producers * per_producer;
  mpmc_queue<int> q(64);  // small, so producers often find it full
  std::vector<std::atomic<int>> seen(total);
  std::atomic<long long> sum{0};
  std::atomic<int> count{0};

  std::vector<std::thread> threads;
  for (int c = 0; c < consumers; ++c) {
    threads.emplace_back([&] {
      int v;
      while (q.pop(v)) {
        seen[v].fetch_add(1, std::memory_order_relaxed);
        sum.fetch_add(v, std::memory_order_relaxed);
        count.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  std::vector<std::thread> pushers;
  for (int p = 0; p < producers; ++p) {
    pushers.emplace_back([&, p] {
      for (int i = 0; i < per_producer; ++i) {
        const int v = p * per_producer + i;
        while (!q.try_push(v)) std::this_thread::yield();
      }
    });
  }
  for (auto& t : pushers) t.join();
  q.close();  // consumers drain what is left, then return
  for (auto& t : threads) t.join();

  CHECK(count == total);
  CHECK(sum == static_cast<long long>(total) * (total - 1) / 2);
  int wrong = 0;
  for (auto& s : seen) wrong += s.load() != 1;
  CHECK(wrong == 0);
  CHECK(q.empty());
}

TEST_CASE("mailbox: a sleeping consumer wakes on push") {
  mpmc_queue<int> q(4);
  std::atomic<int> sleeps{0};
  auto popped = std::async(std::launch::async, [&] {
    int v = -1;
    const bool ok = q.pop(v, [&] { sleeps.fetch_add(1); });
    return ok ? v : -1;
  });
  // Wait until the consumer has really gone to sleep on the empty queue.
  while (sleeps.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  CHECK(q.try_push(42));
  REQUIRE(popped.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  CHECK(popped.get() == 42);
}

TEST_CASE("mailbox: close wakes sleepers - queued items are still delivered first") {
  mpmc_queue<int> q(4);
  std::atomic<int> sleeps{0};
  auto waiter = std::async(std::launch::async, [&] {
    int v;
    return q.pop(v, [&] { sleeps.fetch_add(1); });
  });
  while (sleeps.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  q.close();
  REQUIRE(waiter.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  CHECK_FALSE(waiter.get());

  mpmc_queue<int> r(4);
  CHECK(r.try_push(1));
  CHECK(r.try_push(2));
  r.close();
  int v = 0;
  CHECK(r.pop(v));
  CHECK(v == 1);
  CHECK(r.pop(v));
  CHECK(v == 2);
  CHECK_FALSE(r.pop(v));
}

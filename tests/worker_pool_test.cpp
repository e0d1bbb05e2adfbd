#include "pool/worker_pool.hpp"
#include "pool/wake_batch.hpp"

#include <doctest/doctest.h>

#include "sync_support.hpp"

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

TEST_CASE("pool: concurrent submission, every job answered once with the right result") {
  for (const auto& [kind, name] : pool::strategy_names) {
    CAPTURE(name);
    constexpr int submitters = 4, per_submitter = 2000, total = submitters * per_submitter;
    pool::worker_pool p({3, 64, kind});
    std::vector<std::atomic<int>> answers(total);
    std::vector<double> values(total);
    std::vector<std::size_t> ran_on(total);
    std::atomic<int> done{0};

    std::vector<std::thread> threads;
    for (int t = 0; t < submitters; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < per_submitter; ++i) {
          const int id = t * per_submitter + i;
          pool::job j;
          j.work = [id](const pool::cancel_token&) { return id * 2.0; };
          j.done = [&, id](pool::job_result&& r) {
            values[id] = r.status == pool::job_status::completed ? r.value : -1;
            ran_on[id] = r.backend;
            answers[id].fetch_add(1);
            done.fetch_add(1);
          };
          while (p.try_submit(j).status != pool::submit_status::accepted) std::this_thread::yield();
        }
      });
    }
    for (auto& t : threads) t.join();
    test::wait_until([&] { return done.load() == total; });

    int wrong = 0;
    std::vector<int> per_backend(3);
    for (int id = 0; id < total; ++id) {
      wrong += answers[id].load() != 1 || values[id] != id * 2.0;
      ++per_backend.at(ran_on[id]);
    }
    CHECK(wrong == 0);
    std::uint64_t produced = 0;
    for (std::size_t k = 0; k < 3; ++k) {
      const auto s = p.stats(k);
      CHECK(s.produced == static_cast<std::uint64_t>(per_backend[k]));
      CHECK(s.consumed == s.produced);
      CHECK(s.completed == s.produced);
      CHECK(s.failed == 0);
      CHECK(s.in_flight == 0);
      CHECK(s.queue_depth == 0);
      produced += s.produced;
    }
    CHECK(produced == static_cast<std::uint64_t>(total));
    CHECK(p.in_flight() == 0);
  }
}

TEST_CASE("pool: a full mailbox is reported as full, and nothing is lost") {
  pool::worker_pool p({1, 2, pool::strategy_kind::roundrobin});
  test::gate g;
  std::atomic<int> done{0};
  auto make = [&](bool block) {
    pool::job j;
    j.work = [&g, block](const pool::cancel_token&) {
      if (block) g.wait();
      return 1.0;
    };
    j.done = [&](pool::job_result&& r) {
      done.fetch_add(r.status == pool::job_status::completed ? 1 : 100);
    };
    return j;
  };

  auto running = make(true);
  REQUIRE(p.try_submit(running).status == pool::submit_status::accepted);
  test::wait_until([&] { return p.stats(0).consumed == 1; });  // the worker is now busy
  auto a = make(false), b = make(false), c = make(false);
  CHECK(p.try_submit(a).status == pool::submit_status::accepted);
  CHECK(p.try_submit(b).status == pool::submit_status::accepted);
  const auto outcome = p.try_submit(c);
  CHECK(outcome.status == pool::submit_status::full);
  CHECK(outcome.backend == 0);
  CHECK(c.work);  // the refused job is handed back intact
  CHECK(p.stats(0).queue_depth == 2);
  CHECK(p.stats(0).in_flight == 3);
  CHECK(p.stats(0).producer_waits == 1);
  CHECK(p.rejections(pool::reject_reason::queue_full) == 1);

  g.release();
  test::wait_until([&] { return done.load() >= 3; });
  CHECK(done.load() == 3);  // exactly the accepted ones, all ok
  // The refused job can still be submitted now that there is room.
  CHECK(p.try_submit(c).status == pool::submit_status::accepted);
  test::wait_until([&] { return done.load() == 4; });
  CHECK(p.stats(0).completed == 4);
}

TEST_CASE("pool: a throwing job fails only itself and the worker lives on") {
  pool::worker_pool p({2, 16, pool::strategy_kind::roundrobin});
  std::vector<pool::job_result> results(6);
  std::atomic<int> done{0};
  for (int i = 0; i < 6; ++i) {
    pool::job j;
    j.work = [i](const pool::cancel_token&) -> double {
      if (i == 2) throw std::runtime_error("boom");
      if (i == 3) throw 42;  // not even a std::exception
      return i;
    };
    j.done = [&, i](pool::job_result&& r) {
      results[i] = std::move(r);
      done.fetch_add(1);
    };
    REQUIRE(p.try_submit(j).status == pool::submit_status::accepted);
  }
  test::wait_until([&] { return done.load() == 6; });
  for (int i : {0, 1, 4, 5}) {
    CHECK(results[i].status == pool::job_status::completed);
    CHECK(results[i].value == i);
  }
  CHECK(results[2].status == pool::job_status::failed);
  CHECK(results[2].error == "boom");
  CHECK(results[3].status == pool::job_status::failed);
  CHECK_FALSE(results[3].error.empty());
  CHECK(p.stats(0).failed + p.stats(1).failed == 2);
  CHECK(p.stats(0).completed + p.stats(1).completed == 4);
}

TEST_CASE("pool: shutdown answers every accepted job, then refuses new ones") {
  std::atomic<int> done{0};
  pool::worker_pool p({2, 256, pool::strategy_kind::random});
  int accepted = 0;
  for (int i = 0; i < 200; ++i) {
    pool::job j;
    j.work = [](const pool::cancel_token&) {
      std::this_thread::sleep_for(50us);
      return 0.0;
    };
    j.done = [&](pool::job_result&&) { done.fetch_add(1); };
    accepted += p.try_submit(j).status == pool::submit_status::accepted;
  }
  CHECK(accepted == 200);
  p.shutdown();  // returns after the workers have finished and joined
  CHECK(done.load() == 200);
  pool::job late;
  late.work = [](const pool::cancel_token&) { return 0.0; };
  late.done = [&](pool::job_result&&) { done.fetch_add(1); };
  CHECK(p.try_submit(late).status == pool::submit_status::closed);
  CHECK(p.rejections(pool::reject_reason::shutting_down) == 1);
  CHECK(done.load() == 200);
}

TEST_CASE("pool: throughput is the rate of finished jobs over the last window") {
  pool::worker_pool p({2, 64, pool::strategy_kind::roundrobin});
  std::atomic<int> done{0};
  for (int i = 0; i < 40; ++i) {
    pool::job j;
    j.work = [](const pool::cancel_token&) { return 0.0; };
    j.done = [&](pool::job_result&&) { done.fetch_add(1); };
    REQUIRE(p.try_submit(j).status == pool::submit_status::accepted);
  }
  test::wait_until([&] { return done.load() == 40; });

  const auto t0 = pool::clock::now();
  auto rates = p.throughput(t0);
  REQUIRE(rates.size() == 3);
  CHECK(rates[0] > 0);
  CHECK(rates[0] == doctest::Approx(rates[1] + rates[2]));

  // Samples over a longer stretch with no new jobs: once the window has moved past the
  // jobs, the rate drops to zero.
  p.sample_throughput(t0 + 1s);
  p.sample_throughput(t0 + 7s);
  p.sample_throughput(t0 + 13s);
  rates = p.throughput(t0 + 13s);
  CHECK(rates[0] == 0);
}

TEST_CASE("pool: a wake batch wakes each sleeping worker once per burst, and every job runs") {
  pool::worker_pool p({2, 64, pool::strategy_kind::roundrobin});
  auto both_asleep = [&](std::uint64_t times) {
    return p.stats(0).consumer_waits >= times && p.stats(1).consumer_waits >= times;
  };
  test::wait_until([&] { return both_asleep(1); });

  int scheduled = 0;
  pool::wake_batch batch([&] { ++scheduled; });
  pool::wake_batch::scope deferring(batch);
  std::atomic<int> done{0};
  auto burst = [&](int jobs) {
    for (int i = 0; i < jobs; ++i) {
      pool::job j;
      j.work = [i](const pool::cancel_token&) { return static_cast<double>(i); };
      j.done = [&](pool::job_result&& r) {
        CHECK(r.status == pool::job_status::completed);
        done.fetch_add(1);
      };
      REQUIRE(p.try_submit(j).status == pool::submit_status::accepted);
    }
  };

  burst(10);  // both workers asleep: the first deferral schedules the flush, once
  CHECK(scheduled == 1);
  batch.flush();
  test::wait_until([&] { return done.load() == 10; });

  test::wait_until([&] { return both_asleep(2); });
  burst(6);  // a new burst schedules a new flush
  CHECK(scheduled == 2);
  batch.flush();
  test::wait_until([&] { return done.load() == 16; });
  CHECK(p.stats(0).completed + p.stats(1).completed == 16);
}

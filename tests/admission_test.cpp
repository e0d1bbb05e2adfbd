// Admission control (pool/admission.hpp): the cost model, the target that follows run times,
// the limits by class, the verdict, the CoDel-style sojourn check; then a pool with adaptive
// admission: an idle worker always admits, high priority overtakes the queue, and every job
// admitted is answered exactly once.

#include "pool/admission.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "pool/worker_pool.hpp"
#include "sync_support.hpp"

using namespace std::chrono_literals;

namespace admission_test {

using pool::clock;

double ms_of(clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

/// A pool of `threads` workers with adaptive admission.
pool::pool_options adaptive(std::size_t threads, std::size_t capacity = 256,
                            pool::strategy_kind strategy = pool::strategy_kind::roundrobin,
                            clock::duration floor = 5ms) {
  pool::pool_options o;
  o.threads = threads;
  o.queue_capacity = capacity;
  o.strategy = strategy;
  o.admission = {pool::admission_mode::adaptive, floor};
  return o;
}

/// A cost model that predicts `run` for n = 1 (and about as much for any small n).
std::unique_ptr<pool::cost_model> predicting(clock::duration run) {
  auto m = std::make_unique<pool::cost_model>();
  m->observe(1, run);
  return m;
}

/// Records the order in which jobs start.
struct start_order {
  std::mutex mutex;
  std::vector<std::string> names;
  void add(std::string name) {
    std::lock_guard lock(mutex);
    names.push_back(std::move(name));
  }
  std::vector<std::string> get() {
    std::lock_guard lock(mutex);
    return names;
  }
};

}  // namespace admission_test

using admission_test::ms_of;

TEST_CASE("admission: the cost model predicts from the magnitude of n, and learns") {
  pool::cost_model m;
  CHECK_FALSE(m.predict(1000).has_value());  // nothing seen yet

  m.observe(1000, 1ms);
  REQUIRE(m.predict(1000).has_value());
  CHECK(ms_of(*m.predict(1000)) == doctest::Approx(1.0).epsilon(0.001));
  // Other n of the same magnitude, and n of magnitudes not seen, scale with n + 1.
  CHECK(ms_of(*m.predict(600)) == doctest::Approx(601.0 / 1001).epsilon(0.001));
  CHECK(ms_of(*m.predict(4000)) == doctest::Approx(4001.0 / 1001).epsilon(0.001));
  CHECK(ms_of(*m.predict(10)) == doctest::Approx(11.0 / 1001).epsilon(0.01));
  CHECK(ms_of(*m.predict(1'000'000)) == doctest::Approx(1'000'001.0 / 1001).epsilon(0.001));
  CHECK(m.predict(0).has_value());

  // Two magnitudes with different costs per unit: each n is predicted from the nearest one.
  // n = 2^20 at 10 us a unit: about ten times the cost per unit of n = 1000.
  m.observe(1 << 20, std::chrono::microseconds(10 * (1 << 20)));
  const double per_unit_low = 1.0 / 1001, per_unit_high = 10.0 * (1 << 20) / 1000 / ((1 << 20) + 1);
  CHECK(ms_of(*m.predict(1 << 11)) ==
        doctest::Approx(per_unit_low * ((1 << 11) + 1)).epsilon(0.001));  // 2 magnitudes from 10
  CHECK(ms_of(*m.predict(1 << 18)) ==
        doctest::Approx(per_unit_high * ((1 << 18) + 1)).epsilon(0.001));  // 2 from 21
  CHECK(ms_of(*m.predict(1 << 20)) == doctest::Approx(10.0 * (1 << 20) / 1000).epsilon(0.001));
  CHECK(ms_of(*m.predict(1000)) == doctest::Approx(1.0).epsilon(0.001));  // its own unchanged

  // It follows a change of speed: after a few dozen runs of 3 ms, n = 1000 predicts 3 ms.
  for (int i = 0; i < 60; ++i) m.observe(1000, 3ms);
  CHECK(ms_of(*m.predict(1000)) == doctest::Approx(3.0).epsilon(0.01));
  // And one odd sample moves it only part of the way (a moving average).
  m.observe(1000, 30ms);
  CHECK(ms_of(*m.predict(1000)) > 3.5);
  CHECK(ms_of(*m.predict(1000)) < 10.0);
}

TEST_CASE("admission: cost models are found by kind, one per kind, up to max_kinds") {
  pool::cost_models models;
  auto* a = models.of("square_sum");
  auto* b = models.of("other");
  REQUIRE(a != nullptr);
  REQUIRE(b != nullptr);
  CHECK(a != b);
  CHECK(models.of("square_sum") == a);
  a->observe(10, 1ms);
  CHECK(models.of("square_sum")->predict(10).has_value());
  CHECK_FALSE(models.of("other")->predict(10).has_value());
  for (std::size_t i = 2; i < pool::cost_models::max_kinds; ++i)
    CHECK(models.of("kind" + std::to_string(i)) != nullptr);
  CHECK(models.of("one too many") == nullptr);
  CHECK(models.of("other") == b);  // the kinds there are still found
}

TEST_CASE("admission: the target follows the longest recent run, decays, and keeps its floor") {
  pool::admission_options o;
  o.target_floor = 5ms;
  pool::run_time_estimate e;
  CHECK(e.high() == pool::clock::duration::zero());
  CHECK(pool::admission_target(e, o) == 5ms);  // nothing run: the floor

  for (int i = 0; i < 100; ++i) e.observe(100us);
  CHECK(pool::admission_target(e, o) == 5ms);  // short runs never take it below the floor

  e.observe(50ms);  // one long run lifts it at once
  CHECK(pool::admission_target(e, o) == 50ms);
  e.observe(1ms);
  CHECK(ms_of(pool::admission_target(e, o)) < 50.0);  // then it decays with each job
  CHECK(ms_of(pool::admission_target(e, o)) > 45.0);  // slowly: by 1/64 a job
  for (int i = 0; i < 100; ++i) e.observe(1ms);
  const double after_100 = ms_of(pool::admission_target(e, o));
  CHECK(after_100 < 15.0);
  CHECK(after_100 > 5.0);
  for (int i = 0; i < 1000; ++i) e.observe(1ms);
  CHECK(pool::admission_target(e, o) == 5ms);  // back to the floor, never below
  CHECK(e.high() < 5ms);

  e.observe(2s);  // a second-long job: the target follows it
  CHECK(pool::admission_target(e, o) == 2s);
  o.target_floor = 3s;
  CHECK(pool::admission_target(e, o) == 3s);
}

TEST_CASE("admission: wait limits by class, halved for a client over its share") {
  const pool::clock::duration t = 10ms;
  CHECK(pool::wait_limit(t, pool::priority::high, false) == 20ms);
  CHECK(pool::wait_limit(t, pool::priority::normal, false) == 10ms);
  CHECK(pool::wait_limit(t, pool::priority::low, false) == 5ms);
  CHECK(pool::wait_limit(t, pool::priority::high, true) == 10ms);
  CHECK(pool::wait_limit(t, pool::priority::normal, true) == 5ms);
  CHECK(pool::wait_limit(t, pool::priority::low, true) == 2500us);
  // Ordered by class whatever the target.
  for (const pool::clock::duration target :
       {pool::clock::duration(1us), pool::clock::duration(5ms), pool::clock::duration(3s)}) {
    CHECK(pool::wait_limit(target, pool::priority::high, false) >
          pool::wait_limit(target, pool::priority::normal, false));
    CHECK(pool::wait_limit(target, pool::priority::normal, false) >
          pool::wait_limit(target, pool::priority::low, false));
  }
  CHECK(pool::parse_priority("high") == pool::priority::high);
  CHECK(pool::parse_priority("normal") == pool::priority::normal);
  CHECK(pool::parse_priority("low") == pool::priority::low);
  CHECK_FALSE(pool::parse_priority("High").has_value());
  CHECK_FALSE(pool::parse_priority("").has_value());
  CHECK_FALSE(pool::parse_priority("urgent").has_value());
}

TEST_CASE("admission: judge refuses by deadline first, then by the class's or the share's limit") {
  const auto now = pool::clock::now();
  const auto never = pool::clock::time_point::max();
  const pool::clock::duration target = 10ms;
  using pool::priority;
  using pool::shed_reason;

  // Within every limit: admitted, with what it was judged on.
  auto v = pool::judge(4ms, target, priority::normal, false, now, never);
  CHECK_FALSE(v.shed.has_value());
  CHECK(v.predicted_wait == 4ms);
  CHECK(v.limit == 10ms);

  // A predicted wait of zero (an idle worker) admits every class, over its share or not.
  for (const auto p : {priority::high, priority::normal, priority::low})
    for (const bool over : {false, true})
      CHECK_FALSE(pool::judge(0ms, target, p, over, now, never).shed);

  // The deadline: refused when the wait predicted is longer than the time left...
  v = pool::judge(8ms, target, priority::normal, false, now, now + 5ms);
  REQUIRE(v.shed.has_value());
  CHECK(*v.shed == shed_reason::deadline);
  CHECK(v.limit == 5ms);  // the time that was left
  // ... even for high priority, and even when the class's limit would admit it.
  v = pool::judge(8ms, target, priority::high, false, now, now + 5ms);
  CHECK(v.shed == shed_reason::deadline);
  // A deadline already past refuses even an idle worker's job.
  CHECK(pool::judge(1us, target, priority::normal, false, now, now - 1ms).shed ==
        shed_reason::deadline);
  // A deadline that leaves room: judged by the class's limit only.
  CHECK_FALSE(pool::judge(8ms, target, priority::normal, false, now, now + 1s).shed);
  CHECK(pool::judge(12ms, target, priority::normal, false, now, now + 1s).shed ==
        shed_reason::queue_delay);
  // Both over: the deadline is the reason.
  CHECK(pool::judge(40ms, target, priority::normal, false, now, now + 20ms).shed ==
        shed_reason::deadline);

  // The class's limit.
  CHECK(pool::judge(15ms, target, priority::high, false, now, never).shed == std::nullopt);
  CHECK(pool::judge(21ms, target, priority::high, false, now, never).shed ==
        shed_reason::queue_delay);
  CHECK(pool::judge(6ms, target, priority::low, false, now, never).shed ==
        shed_reason::queue_delay);
  CHECK_FALSE(pool::judge(4ms, target, priority::low, false, now, never).shed);

  // Over its share: between the halved limit and the class's, the share is the reason...
  v = pool::judge(7ms, target, priority::normal, true, now, never);
  CHECK(v.shed == shed_reason::fair_share);
  CHECK(v.limit == 5ms);
  CHECK(pool::judge(15ms, target, priority::high, true, now, never).shed ==
        shed_reason::fair_share);
  // ... over the class's limit too, the queue is.
  CHECK(pool::judge(12ms, target, priority::normal, true, now, never).shed ==
        shed_reason::queue_delay);
  // Within the halved limit: admitted.
  CHECK_FALSE(pool::judge(4ms, target, priority::normal, true, now, never).shed);
}

TEST_CASE("admission: the sojourn check sheds far past the limit, under a standing queue only") {
  pool::admission_options o;
  o.interval = 100ms;
  const pool::clock::duration target = 5ms, limit = 5ms;  // normal priority
  pool::sojourn_control c;
  const auto t0 = pool::clock::now();

  // An empty mailbox (the first window, ending at t0): no overload, and a short wait is never shed.
  CHECK_FALSE(c.shed(0ms, limit, target, true, t0 - 100ms, o));
  CHECK_FALSE(c.overloaded());

  // A burst: jobs wait 30 ms (6 times the limit) for most of an interval. Not a standing
  // queue yet, so nothing is shed: only a wait over the interval would be.
  for (int i = 1; i < 10; ++i) {
    CAPTURE(i);
    CHECK_FALSE(c.shed(30ms, limit, target, false, t0 + i * 10ms, o));
    CHECK_FALSE(c.overloaded());
  }
  CHECK(c.shed(150ms, limit, target, false, t0 + 95ms, o));  // longer than the interval

  // The queue stood over the whole interval: overloaded, and 30 ms is now far past the limit.
  CHECK(c.shed(30ms, limit, target, false, t0 + 110ms, o));
  CHECK(c.overloaded());
  // Only far past: up to twice the limit is kept.
  CHECK_FALSE(c.shed(8ms, limit, target, false, t0 + 120ms, o));
  CHECK(c.shed(11ms, limit, target, false, t0 + 130ms, o));
  // A class with a longer limit (high: twice the target) keeps what it can wait.
  CHECK_FALSE(c.shed(15ms, 2 * target, target, false, t0 + 140ms, o));
  CHECK(c.shed(25ms, 2 * target, target, false, t0 + 150ms, o));

  // The mailbox empties once in the next interval: no standing queue, no overload.
  CHECK_FALSE(c.shed(1ms, limit, target, true, t0 + 160ms, o));
  CHECK_FALSE(c.shed(30ms, limit, target, false, t0 + 220ms, o));
  CHECK_FALSE(c.overloaded());
  CHECK_FALSE(c.shed(30ms, limit, target, false, t0 + 260ms, o));

  // A longer target stretches the window and the timeouts with it.
  pool::sojourn_control slow;
  const pool::clock::duration long_target = 1s;
  CHECK_FALSE(slow.shed(0ms, long_target, long_target, true, t0, o));
  CHECK_FALSE(slow.shed(500ms, long_target, long_target, false, t0 + 500ms, o));
  CHECK_FALSE(slow.shed(1500ms, long_target, long_target, false, t0 + 2s, o));
  CHECK_FALSE(slow.overloaded());
}

TEST_CASE("admission: a fresh sojourn check does not take one long wait for a standing queue") {
  pool::admission_options o;
  o.interval = 100ms;
  pool::sojourn_control c;
  const auto t0 = pool::clock::now();
  // The first job a worker takes waited 30 ms: a burst at start-up, not an interval of it.
  CHECK_FALSE(c.shed(30ms, 5ms, 5ms, false, t0, o));
  CHECK_FALSE(c.overloaded());
}

TEST_CASE("admission pool: a job is never refused while a worker is idle") {
  for (const auto& [kind, name] : pool::strategy_names) {
    CAPTURE(name);
    const auto long_run = admission_test::predicting(10s);  // what the blocked jobs claim
    pool::worker_pool p(admission_test::adaptive(2, 64, kind));
    test::gate g;
    // Released whatever happens: a failed check must fail the test, not hang it in the
    // pool's destructor waiting for the blocked job.
    struct release_at_exit {
      test::gate& g;
      ~release_at_exit() { g.release(); }
    } release{g};
    std::atomic<int> done{0};
    auto blocking = [&] {
      pool::job j;
      j.work = [&g](const pool::cancel_token&) {
        g.wait();
        return 1.0;
      };
      j.cost = long_run.get();
      j.arg = 1;
      j.done = [&](pool::job_result&&) { done.fetch_add(1); };
      return j;
    };

    // One worker busy with a job predicted to run 10 s: the pool is half busy.
    auto first = blocking();
    const auto a = p.try_submit(first);
    REQUIRE(a.status == pool::submit_status::accepted);
    test::wait_until([&] { return p.stats(a.backend).consumed == 1; });
    // The worker counts the job taken a moment before it records when the job should end,
    // which is what makes it busy to admission: until then both workers look idle.
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const std::size_t idle = 1 - a.backend;

    // Whatever the strategy picks, every job finds the idle worker (by redispatch if need
    // be), each submitted once the one before it finished, in every class, over its share.
    for (int i = 0; i < 60; ++i) {
      CAPTURE(i);
      pool::job j;
      j.work = [](const pool::cancel_token&) { return 2.0; };
      j.prio = static_cast<pool::priority>(i % 3);
      j.over_share = i % 2 == 1;
      j.done = [&](pool::job_result&& r) {
        done.fetch_add(r.status == pool::job_status::completed ? 1 : 1000);
      };
      const auto out = p.try_submit(j);
      REQUIRE(out.status == pool::submit_status::accepted);
      CHECK(out.backend == idle);
      test::wait_until([&] { return done.load() == i + 1; });
    }

    // The second blocked job takes the idle worker too: both busy now, for 10 s predicted.
    auto second = blocking();
    const auto b = p.try_submit(second);
    REQUIRE(b.status == pool::submit_status::accepted);
    CHECK(b.backend == idle);
    test::wait_until([&] { return p.stats(idle).consumed == 61; });
    // Now no worker is idle and the wait is long: refused at once, with why.
    auto third = blocking();
    const auto c = p.try_submit(third);
    CHECK(c.status == pool::submit_status::shed);
    REQUIRE(c.verdict.shed.has_value());
    CHECK(*c.verdict.shed == pool::shed_reason::queue_delay);
    CHECK(c.verdict.predicted_wait > 5s);
    CHECK(third.work);  // handed back intact
    CHECK(p.sheds(pool::shed_reason::queue_delay, pool::priority::normal) == 1);

    g.release();
    test::wait_until([&] { return done.load() == 62; });
    CHECK(p.in_flight() == 0);
  }
}

TEST_CASE("admission pool: a high-priority job runs before the normal and low ones queued") {
  // Jobs predicted at 1 us: a long queue stays within the 5 ms target.
  const auto tiny = admission_test::predicting(1us);
  pool::worker_pool p(admission_test::adaptive(1));
  test::gate g;
  admission_test::start_order order;
  std::atomic<int> done{0};
  auto submit = [&](std::string name, pool::priority prio, bool block = false) {
    pool::job j;
    j.work = [&, name, block](const pool::cancel_token&) {
      order.add(name);
      if (block) g.wait();
      return 0.0;
    };
    j.cost = tiny.get();
    j.arg = 1;
    j.prio = prio;
    j.done = [&](pool::job_result&& r) {
      done.fetch_add(r.status == pool::job_status::completed ? 1 : 1000);
    };
    const auto out = p.try_submit(j);
    CAPTURE(name);
    REQUIRE(out.status == pool::submit_status::accepted);
  };

  submit("running", pool::priority::normal, true);
  test::wait_until([&] { return p.stats(0).consumed == 1; });
  submit("normal 1", pool::priority::normal);
  submit("low 1", pool::priority::low);
  submit("normal 2", pool::priority::normal);
  submit("high 1", pool::priority::high);
  submit("low 2", pool::priority::low);
  submit("high 2", pool::priority::high);
  submit("normal 3", pool::priority::normal);
  g.release();
  test::wait_until([&] { return done.load() == 8; });
  // High first, in their order; then normal in theirs; then low (the back lane).
  const std::vector<std::string> expected{"running",  "high 1",   "high 2", "normal 1",
                                          "normal 2", "normal 3", "low 1",  "low 2"};
  CHECK(order.get() == expected);
  const auto s = p.stats(0);
  CHECK(s.completed == 8);
  CHECK(s.queue_wait_by_priority[static_cast<std::size_t>(pool::priority::high)].count() == 2);
  CHECK(s.queue_wait_by_priority[static_cast<std::size_t>(pool::priority::low)].count() == 2);
  CHECK(s.queue_wait_by_priority[static_cast<std::size_t>(pool::priority::normal)].count() == 4);
}

TEST_CASE("admission pool: with ADMISSION=static there is one lane, first come first served") {
  pool::pool_options o;
  o.threads = 1;
  o.queue_capacity = 16;
  pool::worker_pool p(o);
  REQUIRE(p.options().admission.mode == pool::admission_mode::fixed);  // the library default
  test::gate g;
  admission_test::start_order order;
  std::atomic<int> done{0};
  auto submit = [&](std::string name, pool::priority prio, bool block = false) {
    pool::job j;
    j.work = [&, name, block](const pool::cancel_token&) {
      order.add(name);
      if (block) g.wait();
      return 0.0;
    };
    j.prio = prio;
    j.done = [&](pool::job_result&&) { done.fetch_add(1); };
    REQUIRE(p.try_submit(j).status == pool::submit_status::accepted);
  };
  submit("running", pool::priority::normal, true);
  test::wait_until([&] { return p.stats(0).consumed == 1; });
  submit("normal", pool::priority::normal);
  submit("high", pool::priority::high);
  g.release();
  test::wait_until([&] { return done.load() == 3; });
  CHECK(order.get() == std::vector<std::string>{"running", "normal", "high"});
}

TEST_CASE("admission pool: concurrent submitters of every class, each admitted job done once") {
  constexpr int submitters = 4, per_submitter = 3000, total = submitters * per_submitter;
  pool::worker_pool p(admission_test::adaptive(2, 128));
  auto* cost = p.costs().of("busy");
  REQUIRE(cost != nullptr);
  std::vector<std::atomic<int>> answers(total);
  std::vector<char> accepted(total, 0);
  std::atomic<int> done{0}, completed{0}, shed_in_mailbox{0}, past_deadline{0};
  std::atomic<int> refused_shed{0}, refused_full{0}, odd{0};

  std::vector<std::thread> threads;
  for (int t = 0; t < submitters; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < per_submitter; ++i) {
        const int id = t * per_submitter + i;
        pool::job j;
        // About 20 us of work, more for a larger n: four submitters offer far more than
        // two workers run, so admission refuses, and a few wrong predictions get shed.
        const std::uint64_t n = 1 + static_cast<std::uint64_t>(id % 7) * 100;
        j.work = [n](const pool::cancel_token&) {
          const auto until = pool::clock::now() + 20us + std::chrono::nanoseconds(n * 20);
          double x = 0;
          while (pool::clock::now() < until) x += 1;
          return x > 0 ? 1.0 : 0.0;
        };
        j.cost = cost;
        j.arg = n;
        j.prio = static_cast<pool::priority>(id % 3);
        j.over_share = id % 5 == 0;
        if (id % 4 == 0) j.token = std::make_shared<pool::cancel_token>(pool::clock::now() + 2ms);
        j.done = [&, id](pool::job_result&& r) {
          answers[id].fetch_add(1);
          if (r.status == pool::job_status::completed) completed.fetch_add(1);
          if (r.status == pool::job_status::cancelled && r.stop == pool::stop_reason::shed)
            shed_in_mailbox.fetch_add(1);
          if (r.status == pool::job_status::cancelled && r.stop == pool::stop_reason::deadline)
            past_deadline.fetch_add(1);
          done.fetch_add(1);
        };
        // A pause now and then: the run takes long enough for the costs to be learnt and
        // for many jobs to be admitted, not only the first few.
        if (i % 10 == 0) std::this_thread::sleep_for(50us);
        const auto out = p.try_submit(j);
        if (out.status == pool::submit_status::accepted) {
          accepted[id] = 1;
        } else if (out.status == pool::submit_status::shed) {
          // Handed back with its reason (checks on this thread would race doctest's).
          if (!out.verdict.shed || !j.done) odd.fetch_add(1);
          refused_shed.fetch_add(1);
        } else if (out.status == pool::submit_status::full) {
          refused_full.fetch_add(1);
        } else {
          odd.fetch_add(1);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  int admitted = 0;
  for (const char a : accepted) admitted += a;
  test::wait_until([&] { return done.load() == admitted; });
  std::this_thread::sleep_for(20ms);  // a duplicate answer would come now
  p.shutdown();

  MESSAGE("admitted " << admitted << " (completed " << completed.load() << ", shed in mailbox "
                      << shed_in_mailbox.load() << ", past deadline " << past_deadline.load()
                      << "), refused " << refused_shed.load() << " + full " << refused_full.load());
  int wrong = 0;
  for (int id = 0; id < total; ++id) wrong += answers[id].load() != accepted[id];
  CHECK(wrong == 0);  // each admitted job answered once, each refused one never
  CHECK(odd.load() == 0);
  CHECK(admitted + refused_shed.load() + refused_full.load() == total);
  CHECK(done.load() == admitted);
  CHECK(admitted > 0);
  CHECK(refused_shed.load() > 0);  // the load did overload it: admission was exercised

  // The pool's counters agree with what the submitters saw.
  std::uint64_t sheds = 0, shed_by_workers = 0;
  for (const auto why : {pool::shed_reason::queue_delay, pool::shed_reason::deadline,
                         pool::shed_reason::fair_share, pool::shed_reason::sojourn})
    for (const auto prio : {pool::priority::high, pool::priority::normal, pool::priority::low})
      sheds += p.sheds(why, prio);
  CHECK(sheds == static_cast<std::uint64_t>(refused_shed.load()));
  CHECK(p.rejections(pool::reject_reason::queue_full) ==
        static_cast<std::uint64_t>(refused_full.load()));
  std::uint64_t produced = 0;
  for (std::size_t k = 0; k < 2; ++k) {
    const auto s = p.stats(k);
    produced += s.produced;
    for (const auto c : s.shed_by_priority) shed_by_workers += c;
  }
  CHECK(produced == static_cast<std::uint64_t>(admitted));
  CHECK(shed_by_workers == static_cast<std::uint64_t>(shed_in_mailbox.load()));
  CHECK(p.in_flight() == 0);
}

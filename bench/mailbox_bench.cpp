// The worker mailbox (pool::mpmc_queue) against moodycamel::ConcurrentQueue,
// boost::lockfree::queue and a mutex + condition variable queue, all bounded at the same
// capacity, in the same binary and run:
//  - throughput moving items from P producers to C consumers (1P1C, 2P1C, 2P2C), every
//    queue driven by the same loop (try_push / try_pop, yielding when full or empty), and
//    every run checked: each item arrives exactly once (count and checksum);
//  - wake-up latency of a consumer asleep in a blocking pop, from push to return.
// Prints Google Benchmark's table, then the ratios against each other queue.
//   poolserver_mailbox_bench [--benchmark_filter=...] [--benchmark_repetitions=N]

#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <concurrentqueue/blockingconcurrentqueue.h>
#include <concurrentqueue/concurrentqueue.h>
#include <boost/lockfree/queue.hpp>

#include "bench/ratio_reporter.hpp"
#include "pool/mpmc_queue.hpp"

namespace {

constexpr std::size_t capacity = 1024;    // the server's default QUEUE_CAPACITY
constexpr std::uint64_t items = 1 << 18;  // moved per iteration of a throughput benchmark

// --- One face for every queue: try_push, try_pop, and a blocking pop where it has one.

struct mailbox {
  static constexpr const char* name = "mailbox";
  pool::mpmc_queue<std::uint64_t> q{capacity};
  bool try_push(std::uint64_t v) { return q.try_push(v); }
  bool try_pop(std::uint64_t& v) { return q.try_pop(v); }
  void pop(std::uint64_t& v) { q.pop(v); }
};

struct moodycamel_queue {
  static constexpr const char* name = "moodycamel";
  // try_enqueue never allocates past the blocks made here: `capacity` items for each of up
  // to two producers (moodycamel's own sizing; one shared bound could starve a producer).
  moodycamel::BlockingConcurrentQueue<std::uint64_t> q{capacity, 0, 2};
  bool try_push(std::uint64_t v) { return q.try_enqueue(v); }
  bool try_pop(std::uint64_t& v) { return q.try_dequeue(v); }
  void pop(std::uint64_t& v) { q.wait_dequeue(v); }
};

// moodycamel's fastest mode: a producer or consumer token per thread, and enqueue(), which
// allocates when full: unbounded, so it never waits for room. (Bounded try_enqueue with
// tokens can starve one producer for good: the other keeps the blocks it filled.)
struct moodycamel_tokens_queue {
  static constexpr const char* name = "moodycamel_tokens_unbounded";
  static constexpr bool tokens = true;
  moodycamel::ConcurrentQueue<std::uint64_t> q{capacity};
};

struct boost_queue {
  static constexpr const char* name = "boost_lockfree";
  boost::lockfree::queue<std::uint64_t, boost::lockfree::fixed_sized<true>> q{capacity};
  bool try_push(std::uint64_t v) { return q.bounded_push(v); }
  bool try_pop(std::uint64_t& v) { return q.pop(v); }
};

struct mutex_queue {
  static constexpr const char* name = "mutex_condvar";
  std::mutex m;
  std::condition_variable cv;
  std::deque<std::uint64_t> q;
  bool try_push(std::uint64_t v) {
    {
      std::lock_guard lock(m);
      if (q.size() >= capacity) return false;
      q.push_back(v);
    }
    cv.notify_one();
    return true;
  }
  bool try_pop(std::uint64_t& v) {
    std::lock_guard lock(m);
    if (q.empty()) return false;
    v = q.front();
    q.pop_front();
    return true;
  }
  void pop(std::uint64_t& v) {
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return !q.empty(); });
    v = q.front();
    q.pop_front();
  }
};

// --- Throughput: P producers, C consumers, `items` items per iteration.

// What one thread pushes or pops with: the queue itself, or a token for queues that use them.
template <typename Q>
auto pusher(Q& queue) {
  if constexpr (requires { Q::tokens; })
    return [&queue, token = moodycamel::ProducerToken(queue.q)](std::uint64_t v) mutable {
      return queue.q.enqueue(token, v);
    };
  else
    return [&queue](std::uint64_t v) { return queue.try_push(v); };
}
template <typename Q>
auto popper(Q& queue) {
  if constexpr (requires { Q::tokens; })
    return [&queue, token = moodycamel::ConsumerToken(queue.q)](std::uint64_t& v) mutable {
      return queue.q.try_dequeue(token, v);
    };
  else
    return [&queue](std::uint64_t& v) { return queue.try_pop(v); };
}

template <typename Q>
void throughput(benchmark::State& state, std::uint64_t producers, std::uint64_t consumers) {
  for (auto _ : state) {
    Q queue;
    std::atomic<bool> go{false};
    std::atomic<std::uint64_t> consumed{0}, checksum{0};
    std::vector<std::thread> threads;
    for (std::uint64_t p = 0; p < producers; ++p)
      threads.emplace_back([&, p] {
        auto push = pusher(queue);
        while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
        // Producer p sends the items p, p + P, p + 2P, ...: together, 1..items once each.
        for (std::uint64_t v = p + 1; v <= items; v += producers)
          while (!push(v)) std::this_thread::yield();
      });
    for (std::uint64_t c = 0; c < consumers; ++c)
      threads.emplace_back([&] {
        auto pop = popper(queue);
        while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
        std::uint64_t count = 0, sum = 0, v = 0;
        for (;;) {
          if (pop(v)) {
            sum += v;
            if (++count % 256 != 0) continue;
          }
          // Publish progress every 256 items, or when the queue looked empty.
          if (count) {
            consumed.fetch_add(count, std::memory_order_relaxed);
            checksum.fetch_add(sum, std::memory_order_relaxed);
            count = sum = 0;
          }
          if (consumed.load(std::memory_order_relaxed) >= items) break;
          std::this_thread::yield();
        }
      });
    const auto t0 = std::chrono::steady_clock::now();
    go.store(true, std::memory_order_release);
    for (auto& t : threads) t.join();
    state.SetIterationTime(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    if (consumed.load() != items || checksum.load() != items * (items + 1) / 2) {
      state.SkipWithError("items lost or duplicated");
      break;
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * items));
}

// --- Wake-up latency: a consumer sleeps in pop(); the producer stamps the time and pushes.

template <typename Q>
void wakeup(benchmark::State& state) {
  Q queue;
  std::atomic<std::uint64_t> received{0};
  std::vector<double> latencies;
  latencies.reserve(static_cast<std::size_t>(state.max_iterations));
  std::thread consumer([&] {
    std::uint64_t v = 0;
    for (;;) {
      queue.pop(v);
      if (v == 0) return;  // the end
      const auto now =
          static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
      latencies.push_back(static_cast<double>(now - v) * 1e-9);
      received.fetch_add(1, std::memory_order_release);
    }
  });
  std::uint64_t sent = 0;
  for (auto _ : state) {
    // Long enough for the consumer to have gone to sleep (or spun out, for queues that spin
    // before sleeping): the case of an idle worker that a request arrives for.
    std::this_thread::sleep_for(std::chrono::microseconds(200));
    const auto t =
        static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    while (!queue.try_push(t)) std::this_thread::yield();
    ++sent;
    while (received.load(std::memory_order_acquire) != sent) std::this_thread::yield();
    state.SetIterationTime(latencies.back());
  }
  while (!queue.try_push(0)) std::this_thread::yield();
  consumer.join();
  std::sort(latencies.begin(), latencies.end());
  state.counters["p50_us"] = latencies[latencies.size() / 2] * 1e6;
  state.counters["p99_us"] = latencies[latencies.size() * 99 / 100] * 1e6;
}

std::string shape_name(std::int64_t p, std::int64_t c) {
  return std::to_string(p) + "P" + std::to_string(c) + "C";
}

// Google Benchmark appends these to the names it prints.
const std::string throughput_suffix = "/min_time:0.200/manual_time";
const std::string wakeup_suffix = "/iterations:1000/manual_time";

template <typename Q>
void register_throughput(const std::vector<std::pair<int, int>>& shapes) {
  for (const auto& [p, c] : shapes)
    bench::with_min_max(benchmark::RegisterBenchmark(
                            (std::string("throughput/") + Q::name + "/" + shape_name(p, c)).c_str(),
                            [p = p, c = c](benchmark::State& s) { throughput<Q>(s, p, c); }))
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond)
        ->MinTime(0.2);
}

template <typename Q>
void register_wakeup() {
  bench::with_min_max(
      benchmark::RegisterBenchmark((std::string("wakeup/") + Q::name).c_str(), wakeup<Q>))
      ->UseManualTime()
      ->Iterations(1000)
      ->Unit(benchmark::kMicrosecond);
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::pair<int, int>> shapes = {{1, 1}, {2, 1}, {2, 2}};
  register_throughput<mailbox>(shapes);
  register_throughput<moodycamel_queue>(shapes);
  register_throughput<moodycamel_tokens_queue>(shapes);
  register_throughput<boost_queue>(shapes);
  register_throughput<mutex_queue>(shapes);
  register_wakeup<mailbox>();
  register_wakeup<moodycamel_queue>();
  register_wakeup<mutex_queue>();

  // Benchmark names as Google Benchmark prints them (args are in the name already).
  std::vector<bench::comparison> comparisons;
  for (const auto& [p, c] : shapes) {
    std::string suffix = "/";  // appended, not "/" + ...: g++ 12 warns falsely (-Wrestrict)
    suffix += shape_name(p, c);
    suffix += throughput_suffix;
    for (const char* other : {"moodycamel", "boost_lockfree", "mutex_condvar"})
      comparisons.push_back({"throughput/mailbox" + suffix,
                             std::string("throughput/") + other + suffix, "<= 1.00", 1.0});
    // Unbounded: not the same contract as a mailbox (a full one says no), so no goal.
    comparisons.push_back(
        {"throughput/mailbox" + suffix, "throughput/moodycamel_tokens_unbounded" + suffix, "", 0});
  }
  for (const char* other : {"moodycamel", "mutex_condvar"})
    comparisons.push_back(
        {"wakeup/mailbox" + wakeup_suffix, std::string("wakeup/") + other + wakeup_suffix, "", 0});
  bench::ratio_reporter reporter("Mailbox against other queues: time per batch (lower is faster)",
                                 "time", comparisons);
  return bench::run_with(reporter, argc, argv);
}

// Idle workers help a big job (pool/shared_job.hpp): the result does not depend on the split,
// cancellation frees every helper, and a helper goes back to its own mailbox within a chunk.

#include "pool/shared_job.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <memory>
#include <span>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "pool/worker_pool.hpp"
#include "sync_support.hpp"
#include "test_server.hpp"
#include "workers/square_sum.hpp"
#include "workers/square_sum_exact.hpp"

using namespace std::chrono_literals;

namespace {

// A kind whose chunks take a known time: chunk c sleeps chunk_ms and gives c + 1, so the
// whole job of n chunks gives n (n + 1) / 2 and runs n * chunk_ms alone.
std::atomic<int> chunk_ms{1};
std::uint64_t sleepy_chunks(std::uint64_t n) noexcept {
  return n;
}
double sleepy_chunk(std::uint64_t, std::uint64_t c) noexcept {
  std::this_thread::sleep_for(std::chrono::milliseconds(chunk_ms.load()));
  return static_cast<double>(c + 1);
}
double sleepy_combine(std::span<const double> partials) noexcept {
  double sum = 0;
  for (const double p : partials) sum += p;
  return sum;
}
constexpr pool::chunked_kind sleepy{sleepy_chunks, sleepy_chunk, sleepy_combine};

pool::pool_options sharing(std::size_t threads, bool share = true) {
  pool::pool_options o;
  o.threads = threads;
  o.queue_capacity = 64;
  o.strategy = pool::strategy_kind::roundrobin;
  o.share = share;
  return o;
}

// One job's answer, waited for by the test thread.
struct answer {
  std::atomic<int> count{0};
  pool::job_result result;
  std::vector<std::uint64_t> helping_at_done;  // every worker's `helping` when it was answered
  pool::clock::time_point at{};
};

pool::job chunked_job(const pool::chunked_kind& kind, std::uint64_t n, answer& a,
                      const pool::worker_pool& p, std::shared_ptr<pool::cancel_token> token = {}) {
  pool::job j;
  j.work = [](const pool::cancel_token&) { return -1.0; };  // whole: not what a sharer runs
  j.chunked = &kind;
  j.arg = n;
  j.token = std::move(token);
  j.done = [&a, &p](pool::job_result&& r) {
    a.at = pool::clock::now();
    for (std::size_t k = 0; k < p.size(); ++k) a.helping_at_done.push_back(p.stats(k).helping);
    a.result = std::move(r);
    a.count.fetch_add(1);
  };
  return j;
}

void submit(pool::worker_pool& p, pool::job& j) {
  REQUIRE(p.try_submit(j).status == pool::submit_status::accepted);
}

}  // namespace

TEST_CASE("shared job: idle workers help, and the sum is the same to the last bit") {
  const std::uint64_t n = 300'000'000;  // 1,145 chunks
  const double alone = workers::square_sum(n);
  pool::worker_pool p(sharing(3));
  answer a;
  auto j = chunked_job(workers::square_sum_chunked(), n, a, p);
  submit(p, j);
  test::wait_until([&] { return a.count.load() == 1; });
  const auto& r = a.result;
  REQUIRE(r.status == pool::job_status::completed);
  CHECK(r.value == alone);
  CHECK(workers::relative_error(r.value, workers::square_sum_expansion(n)) <= 1e-15);
  CHECK(!r.helpers.empty());
  for (const auto h : r.helpers) CHECK(h != r.backend);
  std::uint64_t help = 0;
  for (std::size_t k = 0; k < p.size(); ++k) help += p.stats(k).help_chunks;
  CHECK(help > 0);
  CHECK(help < workers::chunk_count(n));  // the owner computed some itself
  CHECK(p.stats(r.backend).shared == 1);
  CHECK(p.stats(r.backend).completed == 1);
  for (const auto h : r.helpers) CHECK(p.stats(h).completed == 0);  // helping is not a job
}

TEST_CASE("shared job: with SHARE off, or a small job, one worker runs it") {
  SUBCASE("sharing off") {
    pool::worker_pool p(sharing(3, false));
    answer a;
    auto j = chunked_job(sleepy, 40, a, p);
    j.work = [](const pool::cancel_token&) { return 820.0; };  // runs whole
    submit(p, j);
    test::wait_until([&] { return a.count.load() == 1; });
    CHECK(a.result.value == 820.0);
    CHECK(a.result.helpers.empty());
    for (std::size_t k = 0; k < p.size(); ++k) CHECK(p.stats(k).help_chunks == 0);
  }
  SUBCASE("fewer chunks than min_shared_chunks") {
    pool::worker_pool p(sharing(3));
    answer a;
    auto j = chunked_job(sleepy, pool::min_shared_chunks - 1, a, p);
    j.work = [](const pool::cancel_token&) { return -1.0; };
    submit(p, j);
    test::wait_until([&] { return a.count.load() == 1; });
    CHECK(a.result.value == -1.0);
    CHECK(a.result.helpers.empty());
  }
}

TEST_CASE("shared job: cancelled at its deadline, every helper freed before the answer") {
  chunk_ms = 1;
  pool::worker_pool p(sharing(3));
  const auto start = pool::clock::now();
  auto token = std::make_shared<pool::cancel_token>(start + 100ms);
  answer a;
  auto j = chunked_job(sleepy, 1'000'000, a, p, token);  // 1,000 s alone
  submit(p, j);
  test::wait_until([&] { return a.count.load() == 1; });
  const auto& r = a.result;
  CHECK(r.status == pool::job_status::cancelled);
  CHECK(r.stop == pool::stop_reason::deadline);
  CHECK(r.started);
  CHECK(a.at - start < 100ms + 900ms);  // the deadline and a few chunks, on a loaded box
  CHECK(!r.helpers.empty());
  for (const auto h : a.helping_at_done) CHECK(h == 0);
  // Each worker takes a job of its own at once.
  for (std::size_t k = 0; k < p.size(); ++k) {
    answer quick;
    pool::job q;
    q.work = [](const pool::cancel_token&) { return 1.0; };
    q.done = [&quick](pool::job_result&& res) {
      quick.result = std::move(res);
      quick.count.fetch_add(1);
    };
    submit(p, q);
    test::wait_until([&] { return quick.count.load() == 1; });
    CHECK(quick.result.status == pool::job_status::completed);
  }
  CHECK(p.in_flight() == 0);
}

TEST_CASE("shared job: a client that leaves stops the job and its helpers") {
  chunk_ms = 1;
  pool::worker_pool p(sharing(2));
  auto token = std::make_shared<pool::cancel_token>();
  answer a;
  auto j = chunked_job(sleepy, 1'000'000, a, p, token);
  submit(p, j);
  test::wait_until([&] { return p.stats(0).helping + p.stats(1).helping == 1; });
  token->cancel(pool::stop_reason::client_gone);
  test::wait_until([&] { return a.count.load() == 1; });
  CHECK(a.result.status == pool::job_status::cancelled);
  CHECK(a.result.stop == pool::stop_reason::client_gone);
  for (const auto h : a.helping_at_done) CHECK(h == 0);
}

TEST_CASE("shared job: a helper that receives its own job starts it within a chunk") {
  chunk_ms = 5;
  pool::worker_pool p(sharing(2));
  auto token = std::make_shared<pool::cancel_token>();
  answer big;
  auto j = chunked_job(sleepy, 100'000, big, p, token);  // 500 s alone
  submit(p, j);                                          // roundrobin: worker 0
  test::wait_until([&] { return p.stats(1).helping == 1; });
  answer own;
  pool::job q;
  q.work = [](const pool::cancel_token&) { return 2.0; };
  q.done = [&own](pool::job_result&& res) {
    own.result = std::move(res);
    own.count.fetch_add(1);
  };
  submit(p, q);  // roundrobin: worker 1, the helper
  test::wait_until([&] { return own.count.load() == 1; });
  CHECK(own.result.backend == 1);
  CHECK(own.result.status == pool::job_status::completed);
  // One chunk is 5 ms; without going back it would wait for the whole big job.
  CHECK(own.result.queue_wait < 5ms + 200ms);
  CHECK(big.count.load() == 0);
  // Idle again, it helps again.
  test::wait_until([&] { return p.stats(1).helping == 1; });
  token->cancel(pool::stop_reason::shutdown);
  test::wait_until([&] { return big.count.load() == 1; });
  CHECK(big.result.stop == pool::stop_reason::shutdown);
  CHECK(big.result.backend == 0);
  chunk_ms = 1;
}

TEST_CASE("shared job: many at once from several threads, each answered once and right") {
  pool::worker_pool p(sharing(3));
  constexpr int per_thread = 12, threads = 3, total = per_thread * threads;
  const auto n_of = [](int id) {
    return (pool::min_shared_chunks + static_cast<std::uint64_t>(id % 5)) * workers::chunk_terms +
           static_cast<std::uint64_t>(id) * 37;
  };
  std::vector<std::atomic<int>> answers(total);
  std::vector<double> values(total);
  std::atomic<int> helped{0};
  std::vector<std::thread> submitters;
  for (int t = 0; t < threads; ++t) {
    submitters.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        const int id = t * per_thread + i;
        pool::job j;
        j.chunked = &workers::square_sum_chunked();
        j.arg = n_of(id);
        j.work = [n = j.arg](const pool::cancel_token& tk) { return workers::square_sum(n, tk); };
        j.done = [&, id](pool::job_result&& r) {
          values[id] = r.status == pool::job_status::completed ? r.value : -1;
          helped.fetch_add(r.helpers.empty() ? 0 : 1);
          answers[id].fetch_add(1);
        };
        while (p.try_submit(j).status != pool::submit_status::accepted) std::this_thread::yield();
      }
    });
  }
  for (auto& t : submitters) t.join();
  test::wait_until([&] {
    int done = 0;
    for (const auto& a : answers) done += a.load();
    return done == total;
  });
  int wrong = 0;
  for (int id = 0; id < total; ++id)
    wrong += answers[id].load() != 1 || values[id] != workers::square_sum(n_of(id));
  CHECK(wrong == 0);
  std::uint64_t completed = 0;
  for (std::size_t k = 0; k < p.size(); ++k) completed += p.stats(k).completed;
  CHECK(completed == static_cast<std::uint64_t>(total));
  MESSAGE(helped.load() << " of " << total << " jobs were helped");
}

TEST_CASE("shared job: a drain finishes a shared job, and its answer is whole") {
  chunk_ms = 1;
  answer a;
  {
    pool::worker_pool p(sharing(3));
    auto j = chunked_job(sleepy, 200, a, p);
    submit(p, j);
    p.shutdown();  // finishes every accepted job, then joins
    CHECK(a.count.load() == 1);
  }
  CHECK(a.result.status == pool::job_status::completed);
  CHECK(a.result.value == 200.0 * 201.0 / 2);
}

TEST_CASE("shared job: over HTTP, a big job names every worker that ran it") {
  auto settings = test::test_settings();
  settings.threads = 2;
  settings.max_n = 1'000'000'000;
  const std::uint64_t n = 200'000'000;
  SUBCASE("SHARE_JOBS=1") {
    test::running_server s(settings);
    test::http_client c(s.port);
    const auto b = test::body_of(c.get("/" + std::to_string(n)));
    CHECK(b["sum"].get<double>() == workers::square_sum(n));
    REQUIRE(b.contains("workers"));
    CHECK(b["workers"].size() == 2);
    CHECK(b["workers"][0] == b["worker"]);
    const auto text = c.get("/metrics").body();
    CHECK(text.find("poolserver_jobs_shared_total 1\n") != std::string::npos);
    CHECK(text.find("poolserver_helping 0\n") != std::string::npos);
  }
  SUBCASE("SHARE_JOBS=0") {
    settings.share_jobs = false;
    test::running_server s(settings);
    test::http_client c(s.port);
    const auto b = test::body_of(c.get("/" + std::to_string(n)));
    CHECK(b["sum"].get<double>() == workers::square_sum(n));
    CHECK(!b.contains("workers"));
  }
}

#include "pool/worker_pool.hpp"

#include <limits>
#include <stdexcept>
#include <string>

namespace pool {

namespace {

std::vector<std::uint64_t> finished_counts(const std::vector<std::unique_ptr<worker>>& ws) {
  std::vector<std::uint64_t> out;
  out.reserve(ws.size());
  for (const auto& w : ws) {
    const auto s = w->stats();
    out.push_back(s.completed + s.failed + s.cancelled);
  }
  return out;
}

}  // namespace

worker_pool::worker_pool(const pool_options& options)
    : options_(options), strategy_(make_strategy(options.strategy)) {
  if (options.threads == 0) throw std::invalid_argument("worker_pool needs at least one thread");
  workers_.reserve(options.threads);
  for (std::size_t i = 0; i < options.threads; ++i) {
    workers_.push_back(std::make_unique<worker>(i, options.queue_capacity, options.worker_nice));
    backends_.push_back(workers_.back().get());
  }
  samples_.push_back({clock::now(), finished_counts(workers_)});
}

worker_pool::~worker_pool() {
  shutdown();
}

submit_outcome worker_pool::try_submit(job& j) {
  if (closed_.load(std::memory_order_relaxed)) {
    shared_add(rejected_closed_);
    return {submit_status::closed, 0};
  }
  const std::size_t k = strategy_->pick(backends_);
  if (backends_[k]->try_submit(j)) return {submit_status::accepted, k};
  // Redispatch, like HAProxy's `option redispatch`: one more try, on the least busy other.
  if (backends_.size() > 1) {
    std::size_t best = k;
    std::size_t best_load = std::numeric_limits<std::size_t>::max();
    for (std::size_t i = 0; i < backends_.size(); ++i) {
      if (i == k) continue;
      const auto load = backends_[i]->in_flight();
      if (load < best_load) {
        best = i;
        best_load = load;
      }
    }
    if (backends_[best]->try_submit(j)) {
      shared_add(redispatched_);
      return {submit_status::accepted, best, true};
    }
  }
  shared_add(rejected_full_);
  return {submit_status::full, k};
}

void worker_pool::shutdown() {
  if (closed_.exchange(true)) return;
  for (auto& w : workers_) w->close();
  for (auto& w : workers_) w->join();
}

std::size_t worker_pool::in_flight() const {
  std::size_t n = 0;
  for (const auto* b : backends_) n += b->in_flight();
  return n;
}

std::uint64_t worker_pool::rejections(reject_reason r) const {
  return (r == reject_reason::queue_full ? rejected_full_ : rejected_closed_)
      .load(std::memory_order_relaxed);
}

void worker_pool::sample_throughput(clock::time_point now) {
  sample s{now, finished_counts(workers_)};
  std::lock_guard lock(samples_mutex_);
  samples_.push_back(std::move(s));
  // Keep the newest sample that is at least a window old as the front, nothing older.
  while (samples_.size() > 2 && samples_[1].at <= now - throughput_window) samples_.pop_front();
}

std::vector<double> worker_pool::throughput(clock::time_point now) const {
  const auto current = finished_counts(workers_);
  std::vector<double> rates(current.size() + 1, 0.0);
  std::lock_guard lock(samples_mutex_);
  // sample_throughput() keeps the newest sample at least a window old at the front (or the
  // first sample, early on): the rate is over one window plus at most one sampling period.
  const sample* base = &samples_.front();
  const double dt = std::chrono::duration<double>(now - base->at).count();
  if (dt <= 0) return rates;
  for (std::size_t k = 0; k < current.size(); ++k) {
    const auto delta = current[k] > base->finished[k] ? current[k] - base->finished[k] : 0;
    rates[k + 1] = static_cast<double>(delta) / dt;
    rates[0] += rates[k + 1];
  }
  return rates;
}

void worker_pool::write_metrics(prometheus_writer& w) const {
  const auto now = clock::now();
  std::vector<worker_stats> stats;
  stats.reserve(workers_.size());
  for (const auto& wk : workers_) stats.push_back(wk->stats());
  const auto rates = throughput(now);
  std::vector<std::string> ids;
  for (std::size_t k = 0; k < stats.size(); ++k) ids.push_back(std::to_string(k));

  worker_stats total;
  for (const auto& s : stats) {
    total.produced += s.produced;
    total.consumed += s.consumed;
    total.producer_waits += s.producer_waits;
    total.consumer_waits += s.consumer_waits;
    total.completed += s.completed;
    total.failed += s.failed;
    total.cancelled += s.cancelled;
    for (std::size_t r = 0; r < s.cancelled_by.size(); ++r)
      for (std::size_t st = 0; st < 2; ++st) total.cancelled_by[r][st] += s.cancelled_by[r][st];
    total.queue_depth += s.queue_depth;
    total.in_flight += s.in_flight;
    total.capacity += s.capacity;
    total.queue_wait += s.queue_wait;
    total.run_time += s.run_time;
  }

  // One pool-wide family and one per-worker family (label worker="k") per quantity.
  struct quantity {
    const char* name;
    const char* type;
    const char* help;
    std::uint64_t worker_stats::*field;
  };
  static constexpr quantity quantities[] = {
      {"jobs_produced_total", "counter", "Jobs accepted into a mailbox.", &worker_stats::produced},
      {"jobs_consumed_total", "counter", "Jobs taken out of a mailbox by a worker.",
       &worker_stats::consumed},
      {"producer_waits_total", "counter", "Pushes that found the chosen mailbox full.",
       &worker_stats::producer_waits},
      {"consumer_waits_total", "counter", "Times a worker found its mailbox empty and slept.",
       &worker_stats::consumer_waits},
      {"jobs_completed_total", "counter", "Jobs that finished with a result.",
       &worker_stats::completed},
      {"jobs_failed_total", "counter", "Jobs that failed (the job threw).", &worker_stats::failed},
      {"queue_depth", "gauge", "Jobs waiting in mailboxes now.", &worker_stats::queue_depth},
      {"queue_capacity", "gauge", "Mailbox capacity.", &worker_stats::capacity},
      {"in_flight", "gauge", "Jobs accepted and not finished (queued + running).",
       &worker_stats::in_flight},
  };
  for (const auto& q : quantities) {
    const std::string pool_name = std::string("poolserver_") + q.name;
    const std::string worker_name = std::string("poolserver_worker_") + q.name;
    w.family(pool_name, q.type, std::string(q.help) + " Whole pool.");
    w.sample(pool_name, {}, total.*q.field);
    w.family(worker_name, q.type, std::string(q.help) + " Per worker.");
    for (std::size_t k = 0; k < stats.size(); ++k)
      w.sample(worker_name, {{"worker", ids[k]}}, stats[k].*q.field);
  }

  w.family("poolserver_throughput_jobs_per_second", "gauge",
           "Jobs finished per second over the last few seconds. Whole pool.");
  w.sample("poolserver_throughput_jobs_per_second", {}, rates[0]);
  w.family("poolserver_worker_throughput_jobs_per_second", "gauge",
           "Jobs finished per second over the last few seconds. Per worker.");
  for (std::size_t k = 0; k < stats.size(); ++k)
    w.sample("poolserver_worker_throughput_jobs_per_second", {{"worker", ids[k]}}, rates[k + 1]);

  w.family("poolserver_jobs_cancelled_total", "counter",
           "Jobs stopped by their deadline, their client leaving or shutdown, by reason and by "
           "stage (queued: dropped without running; running: stopped between chunks).");
  for (std::size_t r = 1; r < stop_reason_names.size(); ++r)
    for (std::size_t st = 0; st < 2; ++st)
      w.sample("poolserver_jobs_cancelled_total",
               {{"reason", stop_reason_names[r]}, {"stage", st == 0 ? "queued" : "running"}},
               total.cancelled_by[r][st]);
  w.family("poolserver_worker_jobs_cancelled_total", "counter",
           "Jobs stopped early, any reason. Per worker.");
  for (std::size_t k = 0; k < stats.size(); ++k)
    w.sample("poolserver_worker_jobs_cancelled_total", {{"worker", ids[k]}}, stats[k].cancelled);

  w.family("poolserver_redispatches_total", "counter",
           "Jobs whose chosen mailbox was full and that another worker took.");
  w.sample("poolserver_redispatches_total", {}, redispatches());

  w.family("poolserver_rejections_total", "counter", "Jobs turned away, by reason.");
  w.sample("poolserver_rejections_total", {{"reason", "queue_full"}},
           rejections(reject_reason::queue_full));
  w.sample("poolserver_rejections_total", {{"reason", "shutting_down"}},
           rejections(reject_reason::shutting_down));

  w.family("poolserver_queue_wait_seconds", "histogram",
           "Time from a job's acceptance into a mailbox until a worker took it out.");
  w.histogram("poolserver_queue_wait_seconds", {}, total.queue_wait);
  w.family("poolserver_run_seconds", "histogram", "Time a worker spent running a job.");
  w.histogram("poolserver_run_seconds", {}, total.run_time);
}

}  // namespace pool

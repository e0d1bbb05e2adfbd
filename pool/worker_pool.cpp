#include "pool/worker_pool.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <string>

namespace pool {

namespace {

// A counter or gauge of worker_stats as a metric family.
struct quantity {
  const char* name;
  const char* type;
  const char* help;
  std::uint64_t worker_stats::*field;
  bool local_only = false;  // a quantity of local mailboxes: actors have none here
};

std::uint64_t finished(const worker_stats& s) {
  return s.completed + s.failed + s.cancelled;
}

void add_counts(worker_stats& total, const worker_stats& s) {
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

}  // namespace

std::vector<std::uint64_t> worker_pool::finished_counts() const {
  std::vector<std::uint64_t> out;
  out.reserve(workers_.size() + 1);
  for (const auto& w : workers_) out.push_back(finished(w->stats()));
  out.push_back(finished(remote_totals()));
  return out;
}

worker_stats worker_pool::remote_totals() const {
  std::shared_lock lock(backends_mutex_);
  worker_stats total = removed_;
  for (const auto& r : remotes_) add_counts(total, r->stats());
  return total;
}

worker_pool::worker_pool(const pool_options& options)
    : options_(options), strategy_(make_strategy(options.strategy)) {
  workers_.reserve(options.threads);
  for (std::size_t i = 0; i < options.threads; ++i) {
    workers_.push_back(std::make_unique<worker>(i, options.queue_capacity, options.worker_nice));
    backends_.push_back(workers_.back().get());
  }
  samples_.add(clock::now(), finished_counts());
}

worker_pool::~worker_pool() {
  shutdown();
}

submit_outcome worker_pool::try_submit(job& j) {
  if (closed_.load(std::memory_order_relaxed)) {
    shared_add(rejected_closed_);
    return {submit_status::closed, 0};
  }
  if (!options_.remotes) return offer(backends_, j);
  std::shared_lock lock(backends_mutex_);  // remove_remote() waits until this offer is over
  return offer(backends_, j);
}

submit_outcome worker_pool::offer(std::span<backend* const> backends, job& j) {
  if (backends.empty()) {
    shared_add(rejected_empty_);
    return {submit_status::empty, 0};
  }
  const std::size_t k = strategy_->pick(backends);
  if (backends[k]->try_submit(j)) return {submit_status::accepted, k};
  // Redispatch, like HAProxy's `option redispatch`: one more try, on the least busy other.
  if (backends.size() > 1) {
    std::size_t best = k;
    std::size_t best_load = std::numeric_limits<std::size_t>::max();
    for (std::size_t i = 0; i < backends.size(); ++i) {
      if (i == k) continue;
      const auto load = backends[i]->in_flight();
      if (load < best_load) {
        best = i;
        best_load = load;
      }
    }
    if (backends[best]->try_submit(j)) {
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

void worker_pool::add_remote(std::shared_ptr<remote_backend> r) {
  if (!options_.remotes) throw std::logic_error("add_remote: the pool was built without remotes");
  std::unique_lock lock(backends_mutex_);
  backends_.push_back(r.get());
  remotes_.push_back(std::move(r));
}

void worker_pool::remove_remote(const remote_backend* r, const std::function<void()>& take_back) {
  std::unique_lock lock(backends_mutex_);
  const auto it = std::find_if(remotes_.begin(), remotes_.end(),
                               [&](const auto& live) { return live.get() == r; });
  // The exclusive lock waits for every offer under way: none reaches `r` after this.
  if (it != remotes_.end()) backends_.erase(std::find(backends_.begin(), backends_.end(), r));
  if (take_back) take_back();
  if (it == remotes_.end()) return;  // never added: nothing of it is in the totals
  auto last = (*it)->stats();
  last.in_flight = 0;  // taken back (a backend that had none to give has 0 already)
  add_counts(removed_, last);
  remotes_.erase(it);
}

std::vector<std::shared_ptr<remote_backend>> worker_pool::remotes() const {
  std::shared_lock lock(backends_mutex_);
  return remotes_;
}

std::size_t worker_pool::backend_count() const {
  std::shared_lock lock(backends_mutex_);
  return backends_.size();
}

std::size_t worker_pool::in_flight() const {
  std::size_t n = 0;
  std::shared_lock lock(backends_mutex_);
  for (const auto* b : backends_) n += b->in_flight();
  return n;
}

std::uint64_t worker_pool::rejections(reject_reason r) const {
  switch (r) {
    case reject_reason::queue_full:
      return rejected_full_.load(std::memory_order_relaxed);
    case reject_reason::shutting_down:
      return rejected_closed_.load(std::memory_order_relaxed);
    case reject_reason::no_backend:
      break;
  }
  return rejected_empty_.load(std::memory_order_relaxed);
}

void worker_pool::sample_throughput(clock::time_point now) {
  samples_.add(now, finished_counts());
}

std::vector<double> worker_pool::throughput(clock::time_point now) const {
  const auto current = finished_counts();
  // current: one count per local worker, then the remote backends' together.
  std::vector<double> rates(current.size(), 0.0);
  // The rate is over one window plus at most one sampling period (the constructor took the
  // first sample, so there is always one).
  const auto [at, base] = *samples_.oldest();
  const double dt = std::chrono::duration<double>(now - at).count();
  if (dt <= 0) return rates;
  for (std::size_t k = 0; k < current.size(); ++k) {
    const auto delta = current[k] > base[k] ? current[k] - base[k] : 0;
    const double rate = static_cast<double>(delta) / dt;
    rates[0] += rate;
    if (k + 1 < rates.size()) rates[k + 1] = rate;
  }
  return rates;
}

pool_snapshot worker_pool::snapshot() const {
  pool_snapshot out;
  out.local.reserve(workers_.size());
  for (const auto& wk : workers_) out.local.push_back(wk->stats());
  for (const auto& s : out.local) add_counts(out.total, s);
  {
    std::shared_lock lock(backends_mutex_);
    add_counts(out.total, removed_);
    for (const auto& r : remotes_) out.remotes.emplace_back(r, r->stats());
  }
  for (const auto& [r, s] : out.remotes) add_counts(out.total, s);
  return out;
}

void worker_pool::write_metrics(prometheus_writer& w) const {
  const auto now = clock::now();
  const auto [stats, remotes, total] = snapshot();
  const auto rates = throughput(now);
  std::vector<std::string> ids;
  for (std::size_t k = 0; k < stats.size(); ++k) ids.push_back(std::to_string(k));

  // One pool-wide family and one per-worker family (label worker="k") per quantity.
  static constexpr quantity quantities[] = {
      {"jobs_produced_total", "counter", "Jobs accepted into a mailbox.", &worker_stats::produced},
      {"jobs_consumed_total", "counter", "Jobs taken out of a mailbox by a worker.",
       &worker_stats::consumed},
      {"producer_waits_total", "counter", "Pushes that found the chosen mailbox full.",
       &worker_stats::producer_waits},
      {"consumer_waits_total", "counter", "Times a worker found its mailbox empty and slept.",
       &worker_stats::consumer_waits, true},
      {"jobs_completed_total", "counter", "Jobs that finished with a result.",
       &worker_stats::completed},
      {"jobs_failed_total", "counter", "Jobs that failed (the job threw).", &worker_stats::failed},
      {"queue_depth", "gauge", "Jobs waiting in mailboxes now.", &worker_stats::queue_depth, true},
      {"queue_capacity", "gauge", "Mailbox capacity.", &worker_stats::capacity, true},
      {"in_flight", "gauge", "Jobs accepted and not finished (queued + running).",
       &worker_stats::in_flight},
  };
  for (const auto& q : quantities) {
    const std::string pool_name = std::string("poolserver_") + q.name;
    const std::string worker_name = std::string("poolserver_worker_") + q.name;
    w.family(pool_name, q.type,
             std::string(q.help) + (q.local_only ? " Whole pool (local mailboxes)."
                                                 : " Whole pool (local workers and actors)."));
    w.sample(pool_name, {}, total.*q.field);
    w.family(worker_name, q.type, std::string(q.help) + " Per local worker.");
    for (std::size_t k = 0; k < stats.size(); ++k)
      w.sample(worker_name, {{"worker", ids[k]}}, stats[k].*q.field);
  }
  if (options_.remotes) write_remote_metrics(w, remotes);

  w.family("poolserver_throughput_jobs_per_second", "gauge",
           "Jobs finished per second over the last few seconds. Whole pool.");
  w.sample("poolserver_throughput_jobs_per_second", {}, rates[0]);
  w.family("poolserver_worker_throughput_jobs_per_second", "gauge",
           "Jobs finished per second over the last few seconds. Per worker.");
  for (std::size_t k = 0; k < stats.size(); ++k)
    w.sample("poolserver_worker_throughput_jobs_per_second", {{"worker", ids[k]}}, rates[k + 1]);

  w.family("poolserver_jobs_cancelled_total", "counter",
           "Jobs stopped by their deadline, their client leaving or shutdown, or whose actor was "
           "lost while holding them (actor_lost: the job runs again elsewhere, or is refused), "
           "by reason and by stage (queued: dropped without running; running: stopped between "
           "chunks, or held by an actor).");
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
  w.sample("poolserver_rejections_total", {{"reason", "no_backend"}},
           rejections(reject_reason::no_backend));

  worker_stats local_total;  // the histograms are of local mailboxes and workers only
  for (const auto& st : stats) add_counts(local_total, st);
  w.family("poolserver_queue_wait_seconds", "histogram",
           "Time from a job's acceptance into a mailbox until a worker took it out.");
  w.histogram("poolserver_queue_wait_seconds", {}, local_total.queue_wait);
  w.family("poolserver_run_seconds", "histogram", "Time a local worker spent running a job.");
  w.histogram("poolserver_run_seconds", {}, local_total.run_time);
}

void worker_pool::write_remote_metrics(
    prometheus_writer& w,
    const std::vector<std::pair<std::shared_ptr<remote_backend>, worker_stats>>& remotes) const {
  w.family("poolserver_actors", "gauge", "Remote actors connected now.");
  w.sample("poolserver_actors", {}, static_cast<std::uint64_t>(remotes.size()));
  static constexpr quantity quantities[] = {
      {"jobs_produced_total", "counter", "Jobs sent (or queued to send) to the actor.",
       &worker_stats::produced},
      {"jobs_consumed_total", "counter", "Answers received from the actor.",
       &worker_stats::consumed},
      {"producer_waits_total", "counter", "Jobs the actor refused: it was at its in-flight limit.",
       &worker_stats::producer_waits},
      {"jobs_completed_total", "counter", "Jobs the actor answered with a value.",
       &worker_stats::completed},
      {"jobs_failed_total", "counter", "Jobs the actor answered with an error.",
       &worker_stats::failed},
      {"jobs_cancelled_total", "counter",
       "Jobs it held whose request was answered without it (deadline, client gone, shutdown).",
       &worker_stats::cancelled},
      {"in_flight", "gauge", "Jobs sent to the actor and not answered yet.",
       &worker_stats::in_flight},
  };
  for (const auto& q : quantities) {
    const std::string name = std::string("poolserver_actor_") + q.name;
    w.family(name, q.type, std::string(q.help) + " Per connected actor.");
    for (const auto& [r, s] : remotes) w.sample(name, {{"actor", r->name()}}, s.*q.field);
  }
  w.family("poolserver_actor_latency_seconds", "histogram",
           "Time from a job's acceptance for an actor until its answer arrived. Per connected "
           "actor.");
  for (const auto& [r, s] : remotes)
    w.histogram("poolserver_actor_latency_seconds", {{"actor", r->name()}}, s.run_time);
}

}  // namespace pool

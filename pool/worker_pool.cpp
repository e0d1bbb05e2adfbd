#include "pool/worker_pool.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <string>

namespace pool {

namespace {

std::uint64_t finished(const worker_stats& s) {
  return s.completed + s.failed + s.cancelled;
}

}  // namespace

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
  for (std::size_t p = 0; p < priority_names.size(); ++p) {
    total.queue_wait_by_priority[p] += s.queue_wait_by_priority[p];
    total.shed_by_priority[p] += s.shed_by_priority[p];
  }
  total.shared += s.shared;
  total.help_chunks += s.help_chunks;
  total.helping += s.helping;
}

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
  auto* board = options.share && options.threads > 1 ? &board_ : nullptr;
  std::vector<wakeable*> wake;
  for (std::size_t i = 0; i < options.threads; ++i) {
    workers_.push_back(std::make_unique<worker>(i, options.queue_capacity, options.worker_nice,
                                                options.admission, board));
    backends_.push_back(workers_.back().get());
    wake.push_back(workers_.back().get());
  }
  // Before any job: no run is posted until one is submitted, after this constructor.
  board_.set_workers(std::move(wake));
  samples_.add(clock::now(), finished_counts());
}

worker_pool::~worker_pool() {
  shutdown();
}

submit_outcome worker_pool::try_submit(job& j) {
  if (closed_.load(std::memory_order_relaxed)) {
    shared_add(rejected_closed_);
    return {submit_status::closed, 0, false, {}};
  }
  if (!options_.remotes) {
    if (!j.work) {  // a kind only remote backends could run, and there are none
      shared_add(rejected_empty_);
      return {submit_status::empty, 0, false, {}};
    }
    return offer(backends_, j);
  }
  std::shared_lock lock(backends_mutex_);  // remove_remote() waits until this offer is over
  // Only the backends that run the job's kind: local workers run what has `work`, a remote
  // backend what it offers. When every backend does (the usual case), no copy is made.
  const auto locals = workers_.size();
  const auto runs = [&](std::size_t i) {
    return i < locals ? static_cast<bool>(j.work) : remotes_[i - locals]->offers(j.method);
  };
  std::size_t able = 0;
  for (std::size_t i = 0; i < backends_.size(); ++i) able += runs(i);
  if (able == backends_.size()) return offer(backends_, j);
  std::vector<backend*> some;
  some.reserve(able);
  for (std::size_t i = 0; i < backends_.size(); ++i)
    if (runs(i)) some.push_back(backends_[i]);
  return offer(some, j);
}

submit_outcome worker_pool::offer(std::span<backend* const> backends, job& j) {
  if (backends.empty()) {
    shared_add(rejected_empty_);
    return {submit_status::empty, 0, false, {}};
  }
  const std::size_t k = strategy_->pick(backends);
  if (options_.admission.mode != admission_mode::adaptive) {
    if (backends[k]->try_submit(j)) return {submit_status::accepted, k, false, {}};
  } else {
    return admit(backends, k, j);
  }
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
      return {submit_status::accepted, best, true, {}};
    }
  }
  shared_add(rejected_full_);
  return {submit_status::full, k, false, {}};
}

submit_outcome worker_pool::admit(std::span<backend* const> backends, std::size_t k, job& j) {
  const auto now = clock::now();
  const auto deadline = j.token ? j.token->deadline() : clock::time_point::max();
  if (j.prio == priority::high) {
    // Not the strategy's pick but the backend whose running job ends first: a high job
    // waits only for that one.
    auto least = clock::duration::max();
    for (std::size_t i = 0; i < backends.size(); ++i)
      if (const auto wait = backends[i]->predicted_wait(j, now); wait && *wait < least) {
        least = *wait;
        k = i;
      }
  }
  // A kind not seen yet is predicted to run as long as the target: a few queue, not a burst.
  const auto unknown = backends[k]->target();
  j.predicted = j.cost ? j.cost->predict(j.arg).value_or(unknown) : unknown;
  const auto verdict_at = [&](std::size_t i) {
    const auto wait = backends[i]->predicted_wait(j, now);
    // No prediction (a remote actor): its own in-flight limit decides.
    if (!wait) return admission_verdict{};
    return judge(*wait, backends[i]->target(), j.prio, j.over_share, now, deadline);
  };
  auto verdict = verdict_at(k);
  bool full = false;
  if (!verdict.shed) {
    if (backends[k]->try_submit(j)) return {submit_status::accepted, k, false, {}};
    full = true;
  }
  // Redispatch: one more try, on the other backend with the shortest predicted wait (an actor
  // without a prediction counts its jobs in flight as jobs like this one).
  if (backends.size() > 1) {
    std::size_t best = k;
    auto best_wait = clock::duration::max();
    for (std::size_t i = 0; i < backends.size(); ++i) {
      if (i == k) continue;
      const auto wait =
          backends[i]
              ->predicted_wait(j, now)
              .value_or(static_cast<clock::rep>(backends[i]->in_flight()) * j.predicted);
      if (wait < best_wait) {
        best = i;
        best_wait = wait;
      }
    }
    const auto second = verdict_at(best);
    if (!second.shed) {
      if (backends[best]->try_submit(j)) {
        shared_add(redispatched_);
        return {submit_status::accepted, best, true, {}};
      }
    } else {
      verdict = second;  // the shortest wait there was, and still too long
      full = false;
    }
  }
  if (full) {
    shared_add(rejected_full_);
    return {submit_status::full, k, false, {}};
  }
  shared_add(shed_[static_cast<std::size_t>(*verdict.shed)][static_cast<std::size_t>(j.prio)]);
  return {submit_status::shed, k, false, verdict};
}

clock::duration worker_pool::admission_target() const {
  if (workers_.empty() || options_.admission.mode != admission_mode::adaptive)
    return clock::duration::zero();
  clock::duration sum{};
  for (const auto& w : workers_) sum += w->target();
  return sum / static_cast<clock::rep>(workers_.size());
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

}  // namespace pool

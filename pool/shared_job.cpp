#include "pool/shared_job.hpp"

#include <algorithm>

#include "pool/mpmc_queue.hpp"  // detail::futex_wait, futex_wake
#include "pool/wake_batch.hpp"

namespace pool {

shared_run::shared_run(const chunked_kind& kind, std::uint64_t n, const cancel_token& token,
                       std::size_t owner, std::size_t workers)
    : kind_(kind), n_(n), token_(token), owner_(owner), partials_(kind.chunks(n), 0.0) {
  helpers_.reserve(workers);
}

bool shared_run::enter() noexcept {
  // Dekker pair with close_and_wait(): either this load sees the owner's close, or the
  // owner's load sees this worker inside and waits for it.
  active_.fetch_add(1, std::memory_order_seq_cst);
  if (!closed_.load(std::memory_order_seq_cst)) return true;
  exit();
  return false;
}

void shared_run::exit() noexcept {
  // Release: the chunks this worker wrote are seen by the owner that sees it gone.
  if (active_.fetch_sub(1, std::memory_order_seq_cst) == 1 &&
      closed_.load(std::memory_order_seq_cst))
    detail::futex_wake(active_, true);
}

void shared_run::stop(stop_reason why) noexcept {
  auto expected = stop_reason::none;
  stop_.compare_exchange_strong(expected, why, std::memory_order_relaxed);
}

void shared_run::close_and_wait() noexcept {
  closed_.store(true, std::memory_order_seq_cst);
  for (auto inside = active_.load(std::memory_order_seq_cst); inside != 0;
       inside = active_.load(std::memory_order_seq_cst))
    detail::futex_wait(active_, inside);  // the futex itself: no sched_yield spin first
}

std::vector<std::size_t> shared_run::helpers() const {
  std::lock_guard lock(helpers_mutex_);
  auto out = helpers_;
  std::sort(out.begin(), out.end());
  return out;
}

void help_board::post(const std::shared_ptr<shared_run>& run, std::size_t owner) {
  {
    std::lock_guard lock(mutex_);
    runs_.push_back(run);
    open_.store(runs_.size(), std::memory_order_seq_cst);
  }
  for (std::size_t k = 0; k < workers_.size(); ++k)
    if (k != owner) workers_[k]->wake();
}

void help_board::withdraw(const shared_run* run) {
  std::lock_guard lock(mutex_);
  const auto it =
      std::find_if(runs_.begin(), runs_.end(), [&](const auto& r) { return r.get() == run; });
  if (it == runs_.end()) return;
  runs_.erase(it);
  open_.store(runs_.size(), std::memory_order_seq_cst);
}

std::shared_ptr<shared_run> help_board::take() const {
  // Every worker that runs out of jobs asks: an empty board costs it one load, no lock.
  if (open_.load(std::memory_order_seq_cst) == 0) return nullptr;
  std::lock_guard lock(mutex_);
  for (const auto& r : runs_)
    if (r->claimable()) return r;
  return nullptr;
}

}  // namespace pool

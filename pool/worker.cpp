#include "pool/worker.hpp"

#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <exception>
#include <string>

#include <spdlog/spdlog.h>

namespace pool {

worker::worker(std::size_t index, std::size_t capacity, int nice,
               const admission_options& admission, help_board* board)
    : index_(index),
      nice_(nice),
      admission_(admission),
      board_(board),
      // Without adaptive admission nothing goes to lanes 0 and 2: the smallest rings.
      express_(admission.mode == admission_mode::adaptive ? capacity : 1),
      mailbox_(capacity),
      back_(admission.mode == admission_mode::adaptive ? capacity : 1),
      thread_([this] { run(); }) {}

worker::~worker() {
  close();
  join();
}

void worker::join() {
  if (thread_.joinable()) thread_.join();
}

bool worker::try_submit(job& j) {
  const auto lane = lane_of(j);
  const bool adaptive = admission_.mode == admission_mode::adaptive;
  const auto cost = j.predicted.count();
  // Counted before the push, so that the worker never subtracts it first.
  if (adaptive) backlog_[lane].fetch_add(cost, std::memory_order_relaxed);
  j.accepted = clock::now();  // before the push: the worker may take it at once
  // j is untouched when the push fails.
  if (!this->lane(lane).try_emplace_quiet(std::move(j))) {
    if (adaptive) backlog_[lane].fetch_sub(cost, std::memory_order_relaxed);
    shared_add(producer_waits_);
    return false;
  }
  shared_add(produced_);
  // The worker sleeps on mailbox_ whichever lane has work (see run()).
  if (mailbox_.sleeping()) {
    if (auto* batch = wake_batch::current())
      batch->defer(*this);
    else
      mailbox_.wake_one();
  }
  return true;
}

std::optional<clock::duration> worker::predicted_wait(const job& j, clock::time_point now) const {
  if (admission_.mode != admission_mode::adaptive) return std::nullopt;
  const auto until = running_until_.load(std::memory_order_relaxed);
  const auto ticks = now.time_since_epoch().count();
  // The running job's rest, then every lane up to the job's own (they are taken in order).
  auto wait = until > ticks ? until - ticks : 0;
  for (std::size_t k = 0; k <= lane_of(j); ++k) wait += backlog_[k].load(std::memory_order_relaxed);
  return clock::duration(std::max<std::int64_t>(wait, 0));
}

std::size_t worker::in_flight() const {
  // Finished first, produced last: produced is bumped just after the push, so a job can
  // finish before it is counted; clamp that brief moment to zero.
  const auto done = finished();
  const auto produced = produced_.load(std::memory_order_relaxed);
  return produced > done ? static_cast<std::size_t>(produced - done) : 0;
}

std::uint64_t worker::finished() const noexcept {
  std::uint64_t n =
      completed_.load(std::memory_order_relaxed) + failed_.load(std::memory_order_relaxed);
  for (const auto& by_stage : cancelled_)
    for (const auto& c : by_stage) n += c.load(std::memory_order_relaxed);
  return n;
}

worker_stats worker::stats() const {
  worker_stats s;
  s.completed = completed_.load(std::memory_order_relaxed);
  s.failed = failed_.load(std::memory_order_relaxed);
  for (std::size_t r = 0; r < cancelled_.size(); ++r) {
    for (std::size_t st = 0; st < 2; ++st) {
      s.cancelled_by[r][st] = cancelled_[r][st].load(std::memory_order_relaxed);
      s.cancelled += s.cancelled_by[r][st];
    }
  }
  s.consumed = consumed_.load(std::memory_order_relaxed);
  s.consumer_waits = consumer_waits_.load(std::memory_order_relaxed);
  s.produced = produced_.load(std::memory_order_relaxed);
  s.producer_waits = producer_waits_.load(std::memory_order_relaxed);
  s.queue_depth = s.produced > s.consumed ? s.produced - s.consumed : 0;
  const auto finished = s.completed + s.failed + s.cancelled;
  s.in_flight = s.produced > finished ? s.produced - finished : 0;
  s.capacity = mailbox_.capacity();
  s.queue_wait = queue_wait_.read();
  s.run_time = run_time_.read();
  for (std::size_t p = 0; p < priority_names.size(); ++p) {
    s.queue_wait_by_priority[p] = queue_wait_by_priority_[p].read();
    s.shed_by_priority[p] = shed_[p].load(std::memory_order_relaxed);
  }
  s.shared = shared_.load(std::memory_order_relaxed);
  s.help_chunks = help_chunks_.load(std::memory_order_relaxed);
  s.helping = helping_.load(std::memory_order_relaxed) ? 1 : 0;
  return s;
}

void worker::run() {
  const std::string name = "worker-" + std::to_string(index_);
  pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
  // Workers yield the CPU to IO threads: when every core computes, an IO thread that wakes
  // must still parse, reject or answer at once (the 503 path stays fast under overload).
  // Raising one's own nice value needs no privilege; failure only loses that preference.
  if (nice_ != 0) ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), nice_);
  job j;
  for (;;) {
    // The lanes in order: a high-priority job waits only for the one running, a normal one
    // never behind low ones or those of a client over its share.
    if (express_.try_pop(j)) {
      handle(j, 0);
    } else if (mailbox_.try_pop(j)) {
      handle(j, 1);
    } else if (back_.try_pop(j)) {
      handle(j, 2);
    } else if (board_ && help()) {
      continue;  // back to its own lanes: a job arrived, or the job it helped has no chunk left
    } else if (mailbox_.closed()) {
      break;  // close() closed the other lanes first, and nothing is pushed after it
    } else {
      // Also awake for a job to help with: help_board::post() wakes sleeping workers.
      mailbox_.wait([this] { owner_add(consumer_waits_); },
                    [this] {
                      return express_.claimed() || back_.claimed() ||
                             (board_ && board_->has_work());
                    });
    }
  }
}

void worker::handle(job& j, std::size_t lane) {
  static const cancel_token never;
  const bool adaptive = admission_.mode == admission_mode::adaptive;
  owner_add(consumed_);
  const auto start = clock::now();
  if (adaptive) backlog_[lane].fetch_sub(j.predicted.count(), std::memory_order_relaxed);
  const auto prio = static_cast<std::size_t>(j.prio);
  job_result r;
  r.ran_on = backend_kind::worker;
  r.backend = index_;
  r.queue_wait = start - j.accepted;
  queue_wait_.observe(r.queue_wait);
  queue_wait_by_priority_[prio].observe(r.queue_wait);
  const cancel_token& token = j.token ? *j.token : never;

  // A job whose deadline passed in the queue, or whose client left, is not run at all.
  if (const auto why = token.check(); why != stop_reason::none) {
    r.status = job_status::cancelled;
    r.stop = why;
    return finish(j, std::move(r));
  }
  if (adaptive) {
    const auto target = this->target();
    const bool emptied = !mailbox_.claimed() && !express_.claimed() && !back_.claimed();
    if (sojourn_.shed(r.queue_wait, wait_limit(target, j.prio, j.over_share), target, emptied,
                      start, admission_)) {
      r.status = job_status::cancelled;
      r.stop = stop_reason::shed;
      owner_add(shed_[prio]);
      return finish(j, std::move(r));
    }
    running_until_.store((start + j.predicted).time_since_epoch().count(),
                         std::memory_order_relaxed);
  }
  r.started = true;
  clock::duration alone{};  // a helped run: its chunks' time, summed over its workers
  try {
    if (board_ && j.chunked && j.chunked->chunks(j.arg) >= min_shared_chunks)
      r.value = run_shared(j, token, r, alone);
    else
      r.value = j.work(token);
    r.status = job_status::completed;
  } catch (const job_cancelled& c) {
    r.status = job_status::cancelled;
    r.stop = c.reason;
  } catch (const std::exception& e) {
    r.error = e.what();
  } catch (...) {
    r.error = "job failed with a non-standard exception";
  }
  r.run_time = clock::now() - start;
  run_time_.observe(r.run_time);
  if (adaptive) {
    running_until_.store(0, std::memory_order_relaxed);
    // Only whole runs teach the estimates: a cancelled one says nothing of a job's cost.
    if (r.status == job_status::completed) {
      // A helped run teaches what the job costs one worker (the time its chunks took, summed
      // over the workers that computed them), not its shorter wall time: under load nobody
      // helps.
      if (r.helpers.empty()) alone = r.run_time;
      estimate_.observe(alone);
      if (j.cost) j.cost->observe(j.arg, alone);
    }
  }
  finish(j, std::move(r));
}

double worker::run_shared(const job& j, const cancel_token& token, job_result& r,
                          clock::duration& alone) {
  const auto run =
      std::make_shared<shared_run>(*j.chunked, j.arg, token, index_, board_->workers());
  board_->post(run, index_);
  run->work(index_, [] { return false; }, [] {}, [](std::uint64_t) {});
  board_->withdraw(run.get());
  run->close_and_wait();  // every helper has put its chunk back and left
  r.helpers = run->helpers();
  if (!r.helpers.empty()) {
    owner_add(shared_);
    alone = run->busy();  // its chunks' time, whoever computed them
  }
  if (const auto why = run->stopped(); why != stop_reason::none) throw job_cancelled{why};
  return run->result();
}

bool worker::help() {
  const auto run = board_->take();
  if (!run) return false;
  run->work(
      index_, [this] { return has_own_work(); },
      // Only once inside: a helper that arrives after the owner closed the run never shows.
      [this] { helping_.store(true, std::memory_order_relaxed); },
      [this](std::uint64_t chunks) {
        // Before the owner can see this worker gone, so that no one who has the job's
        // answer sees it still helping.
        owner_add(help_chunks_, chunks);
        helping_.store(false, std::memory_order_relaxed);
      });
  return true;
}

void worker::finish(job& j, job_result&& r) {
  // Counted before the answer leaves, so a client that has its answer sees it counted.
  // A worker's own result is completed, failed or cancelled (refused is the pool's alone).
  if (r.status == job_status::completed)
    owner_add(completed_);
  else if (r.status == job_status::failed)
    owner_add(failed_);
  else
    owner_add(cancelled_[static_cast<std::size_t>(r.stop)][static_cast<std::size_t>(
        r.started ? cancel_stage::running : cancel_stage::queued)]);
  try {
    j.done(std::move(r));
  } catch (const std::exception& e) {
    spdlog::error("worker {}: job completion threw: {}", index_, e.what());
  } catch (...) {
    spdlog::error("worker {}: job completion threw", index_);
  }
  j = job{};  // drop what the job captured now, not when the next one arrives
}

}  // namespace pool

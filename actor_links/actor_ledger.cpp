#include "actor_links/actor_ledger.hpp"

#include <spdlog/spdlog.h>

#include "actor/protocol.hpp"

namespace actor_links {

using pool::clock;

actor_ledger::actor_ledger(limits l, std::function<std::uint64_t()> next_id, std::string name)
    : limits_(l), next_id_(std::move(next_id)), name_(std::move(name)), frames_(l.max_message) {}

bool actor_ledger::try_submit(pool::job& j, clock::time_point now, bool& start_flush) {
  std::lock_guard lock(mutex_);
  if (closed_ || leaving_) return false;
  if (in_flight_.size() >= limits_.max_in_flight || outgoing_.size() >= limits_.max_unsent) {
    ++producer_waits_;
    return false;
  }
  const auto id = next_id_();
  // A greeted actor stops the job itself when its request stops waiting, as a local worker
  // does: it is sent the time left (rounded up, so it never stops before the server does).
  std::optional<std::uint64_t> deadline_ms;
  if (greeted_ && j.token && j.token->deadline() != clock::time_point::max()) {
    const auto left = j.token->deadline() - now;
    deadline_ms = left <= clock::duration::zero()
                      ? 0
                      : static_cast<std::uint64_t>(
                            std::chrono::ceil<std::chrono::milliseconds>(left).count());
  }
  actor::append_request(outgoing_, id, j.method, j.arg, deadline_ms);
  if (in_flight_.empty()) heard_ = now;  // silence counts from the first job in flight
  j.accepted = now;
  in_flight_.emplace(id, pending{std::move(j), now});
  ++produced_;
  // Jobs that arrive while a write is under way ride along in the next one.
  start_flush = start_flush_locked();
  return true;
}

bool actor_ledger::start_flush_locked() {
  if (flushing_) return false;
  flushing_ = true;
  return true;
}

void actor_ledger::greeted(std::size_t capacity) {
  std::lock_guard lock(mutex_);
  greeted_ = true;
  if (capacity != 0) limits_.max_in_flight = std::min(limits_.max_in_flight, capacity);
}

bool actor_ledger::is_greeted() const {
  std::lock_guard lock(mutex_);
  return greeted_;
}

void actor_ledger::leave() {
  std::lock_guard lock(mutex_);
  leaving_ = true;
}

bool actor_ledger::leaving() const {
  std::lock_guard lock(mutex_);
  return leaving_;
}

bool actor_ledger::say(std::string_view framed) {
  std::lock_guard lock(mutex_);
  if (closed_) return false;
  outgoing_ += framed;
  return start_flush_locked();
}

bool actor_ledger::cancel_abandoned() {
  std::lock_guard lock(mutex_);
  if (!greeted_ || closed_) return false;
  bool any = false;
  for (auto& [id, p] : in_flight_) {
    if (p.cancel_sent || !p.job.token) continue;
    const auto why = p.job.token->check();
    if (why == pool::stop_reason::none) continue;
    actor::append_cancel(outgoing_, id, pool::stop_reason_names[static_cast<std::size_t>(why)]);
    p.cancel_sent = true;
    any = true;
  }
  return any && start_flush_locked();
}

bool actor_ledger::take_unsent(std::string& out, clock::time_point now) {
  std::lock_guard lock(mutex_);
  if (outgoing_.empty()) {
    flushing_ = false;
    return false;
  }
  out.swap(outgoing_);
  writing_since_ = now;
  return true;
}

std::optional<std::string> actor_ledger::feed(std::string_view bytes, clock::time_point now,
                                              const on_control& control) {
  std::optional<std::string> broken;
  const bool fits = frames_.feed(bytes, [&](std::string_view text) {
    if (!broken) broken = on_message(text, now, control);  // nothing after a breach counts
  });
  if (broken) return broken;
  if (!fits) return "a message longer than " + std::to_string(limits_.max_message) + " bytes";
  return std::nullopt;
}

std::optional<std::string> actor_ledger::on_message(std::string_view text, clock::time_point now,
                                                    const on_control& control) {
  auto parsed = actor::parse_from_actor(text);
  ++messages_;
  if (auto* bad = std::get_if<actor::malformed>(&parsed))
    return "malformed message (" + bad->reason + ")";
  if (auto* reply = std::get_if<actor::job_reply>(&parsed)) return on_reply(std::move(*reply), now);
  // A greeting or a leave where the link takes none (the fuzzer, a test) is not understood.
  if (!control) return "a greeting or a leave where none is expected";
  if (auto* h = std::get_if<actor::hello>(&parsed)) return control(std::move(*h));
  return control(std::get<actor::leave>(parsed));
}

std::optional<std::string> actor_ledger::on_reply(actor::job_reply&& reply, clock::time_point now) {
  pending p;
  auto stop = pool::stop_reason::none;
  {
    std::lock_guard lock(mutex_);
    const auto it = in_flight_.find(reply.id);
    if (it == in_flight_.end()) {
      // Not a job it has: a duplicate answer or a made-up id. Either way it cannot be trusted.
      closed_ = true;
      return "an answer for id " + std::to_string(reply.id) +
             ", which is not a job in flight there";
    }
    p = std::move(it->second);
    in_flight_.erase(it);
    heard_ = now;
    ++consumed_;
    // An answer past the job's deadline, or after its client left, answers nobody: the
    // request got its 504 (or nothing), and is counted the way its session answered it.
    stop = p.job.token ? p.job.token->check() : pool::stop_reason::none;
    if (stop != pool::stop_reason::none)
      ++cancelled_[static_cast<std::size_t>(stop)];
    else
      ++(reply.ok ? completed_ : failed_);
    latency_.observe(now - p.sent);
  }
  // An answer without a valid pid (an error, or pid 0) is named by the last one the actor gave.
  // Only the first is logged at info: an actor may front several processes, and a line per
  // change could be a line per answer.
  if (reply.pid != 0) {
    const auto before = pid_.exchange(reply.pid, std::memory_order_relaxed);
    if (before == 0)
      spdlog::info("actor {} is process {}", name_, reply.pid);
    else if (before != reply.pid)
      spdlog::debug("actor {} now answers as process {}", name_, reply.pid);
  }
  pool::job_result r;
  r.run_time = now - p.sent;
  r.ran_on = pool::backend_kind::actor;
  r.actor_pid = reply.pid != 0 ? reply.pid : pid();
  r.started = true;
  if (stop != pool::stop_reason::none) {
    r.status = pool::job_status::cancelled;  // what its session answers, if it has not yet
    r.stop = stop;
  } else if (reply.ok) {
    r.status = pool::job_status::completed;
    r.value = reply.value;
  } else {
    r.status = pool::job_status::failed;
    r.error = "actor " + name_ + ": " + reply.error;
  }
  p.job.done(std::move(r));
  return std::nullopt;
}

std::optional<std::string> actor_ledger::silent(clock::time_point now,
                                                clock::duration timeout) const {
  const auto ms =
      std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count());
  // A write completes once the kernel has the bytes: one that waits this long means the
  // socket buffers are full, the actor reads nothing, and what waits to be written grows.
  if (writing_since_ && now - *writing_since_ > timeout)
    return "it has read none of its jobs for " + ms + " ms";
  std::lock_guard lock(mutex_);
  if (in_flight_.empty() || now - heard_ <= timeout) return std::nullopt;
  return "no answer for " + ms + " ms with jobs in flight";
}

std::vector<actor_ledger::taken_back> actor_ledger::close(bool shutdown) {
  std::lock_guard lock(mutex_);
  closed_ = true;
  std::vector<taken_back> jobs;
  jobs.reserve(in_flight_.size());
  for (auto& [id, p] : in_flight_) {
    // check(), not cancelled(): a job past its deadline is about to be answered 504 by its
    // session, whose timer may not have fired yet; running it again would help nobody.
    auto why = p.job.token ? p.job.token->check() : pool::stop_reason::none;
    if (why == pool::stop_reason::none)
      why = shutdown ? pool::stop_reason::shutdown : pool::stop_reason::actor_lost;
    ++cancelled_[static_cast<std::size_t>(why)];
    jobs.push_back({std::move(p.job), why});
  }
  in_flight_.clear();
  outgoing_.clear();
  return jobs;
}

pool::worker_stats actor_ledger::stats() const {
  pool::worker_stats s;
  std::lock_guard lock(mutex_);
  s.produced = produced_;
  s.consumed = consumed_;
  s.producer_waits = producer_waits_;
  s.completed = completed_;
  s.failed = failed_;
  for (std::size_t why = 0; why < cancelled_.size(); ++why) {
    s.cancelled_by[why][static_cast<std::size_t>(pool::cancel_stage::running)] = cancelled_[why];
    s.cancelled += cancelled_[why];
  }
  s.in_flight = in_flight_.size();
  s.run_time = latency_.read();
  return s;
}

std::size_t actor_ledger::in_flight() const {
  std::lock_guard lock(mutex_);
  return in_flight_.size();
}

}  // namespace actor_links

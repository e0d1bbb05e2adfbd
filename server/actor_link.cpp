#include "server/actor_link.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include "server/actor_listener.hpp"

namespace server {

namespace net = boost::asio;
using error_code = boost::system::error_code;
using pool::clock;

actor_link::actor_link(tcp_socket&& socket, actor_listener& owner, std::string name)
    : socket_(std::move(socket)),
      timer_(socket_.get_executor()),
      owner_(owner),
      name_(std::move(name)) {}

void actor_link::start() {
  net::post(socket_.get_executor(), [self = shared_from_this()] {
    self->owner_.pool().add_remote(self);
    spdlog::info("actor {} joined the pool", self->name_);
    self->read_more();
    self->watch();
  });
}

void actor_link::stop() {
  net::post(socket_.get_executor(),
            [self = shared_from_this()] { self->end(link_end::shutdown, "server stopping"); });
}

bool actor_link::try_submit(pool::job& j) {
  const auto now = clock::now();
  bool start_flush = false;
  {
    std::lock_guard lock(mutex_);
    if (closed_) return false;
    if (in_flight_.size() >= owner_.settings().actor_max_in_flight) {
      ++producer_waits_;
      return false;
    }
    const auto id = owner_.next_id();
    actor::append_request(outgoing_, id, j.method, j.arg);
    if (in_flight_.empty()) heard_ = now;  // silence counts from the first job in flight
    j.accepted = now;
    in_flight_.emplace(id, pending{std::move(j), now});
    ++produced_;
    start_flush = !flushing_;
    flushing_ = true;
  }
  // Jobs that arrive while a write is outstanding ride along in the next one.
  if (start_flush) net::post(socket_.get_executor(), [self = shared_from_this()] { self->flush(); });
  return true;
}

std::size_t actor_link::in_flight() const {
  std::lock_guard lock(mutex_);
  return in_flight_.size();
}

pool::worker_stats actor_link::stats() const {
  pool::worker_stats s;
  std::lock_guard lock(mutex_);
  s.produced = produced_;
  s.consumed = consumed_;
  s.producer_waits = producer_waits_;
  s.completed = completed_;
  s.failed = failed_;
  s.in_flight = in_flight_.size();
  s.run_time = latency_.read();
  return s;
}

void actor_link::flush() {
  if (ended_) return;
  {
    std::lock_guard lock(mutex_);
    if (outgoing_.empty()) {
      flushing_ = false;
      return;
    }
    writing_.swap(outgoing_);
  }
  net::async_write(socket_, net::buffer(writing_),
                   [self = shared_from_this()](error_code ec, std::size_t) { self->on_write(ec); });
}

void actor_link::on_write(error_code ec) {
  if (ended_) return;
  if (ec) return end(link_end::closed, "write: " + ec.message());
  writing_.clear();
  flush();
}

void actor_link::read_more() {
  socket_.async_read_some(
      net::buffer(chunk_),
      [self = shared_from_this()](error_code ec, std::size_t bytes) { self->on_read(ec, bytes); });
}

void actor_link::on_read(error_code ec, std::size_t bytes) {
  if (ended_) return;
  if (ec) {
    return end(link_end::closed,
               ec == net::error::eof ? "the actor closed the connection" : "read: " + ec.message());
  }
  const bool fits = frames_.feed(std::string_view(chunk_.data(), bytes),
                                 [&](std::string_view text) { on_message(text); });
  if (ended_) return;
  if (!fits)
    return end(link_end::malformed,
               "a message longer than " + std::to_string(actor::max_message) + " bytes");
  read_more();
}

void actor_link::on_message(std::string_view text) {
  if (ended_) return;  // a message before this one ended the link
  auto parsed = actor::parse_reply(text);
  if (auto* bad = std::get_if<actor::malformed>(&parsed)) {
    return end(link_end::malformed, "malformed message (" + bad->reason + ")");
  }
  auto& reply = std::get<actor::job_reply>(parsed);
  const auto now = clock::now();
  pending p;
  {
    std::lock_guard lock(mutex_);
    const auto it = in_flight_.find(reply.id);
    if (it == in_flight_.end()) {
      // Not a job it has: a duplicate answer or a made-up id. Either way it cannot be trusted.
      closed_ = true;
    } else {
      p = std::move(it->second);
      in_flight_.erase(it);
      heard_ = now;
      ++consumed_;
      ++(reply.ok ? completed_ : failed_);
      latency_.observe(now - p.sent);
    }
  }
  if (!p.job.done)
    return end(link_end::malformed, "an answer for id " + std::to_string(reply.id) +
                                        ", which is not a job in flight there");
  if (reply.ok && pid_.exchange(reply.pid, std::memory_order_relaxed) != reply.pid)
    spdlog::info("actor {} is process {}", name_, reply.pid);
  pool::job_result r;
  r.run_time = now - p.sent;
  r.actor_pid = reply.pid != 0 ? reply.pid : pid();
  if (reply.ok) {
    r.status = pool::job_status::completed;
    r.value = reply.value;
    r.started = true;
  } else {
    r.status = pool::job_status::failed;
    r.error = "actor " + name_ + ": " + reply.error;
  }
  p.job.done(std::move(r));
}

void actor_link::watch() {
  // Checked a few times per timeout, so silence is noticed within 1.25 timeouts.
  const auto timeout = owner_.settings().actor_timeout;
  timer_.expires_after(std::max<clock::duration>(timeout / 4, std::chrono::milliseconds(5)));
  timer_.async_wait([self = shared_from_this(), timeout](error_code ec) {
    if (ec || self->ended_) return;
    bool silent = false;
    {
      std::lock_guard lock(self->mutex_);
      silent = !self->in_flight_.empty() && clock::now() - self->heard_ > timeout;
    }
    if (silent)
      return self->end(link_end::timeout, "no answer for " + std::to_string(timeout.count()) +
                                              " ms with jobs in flight");
    self->watch();
  });
}

void actor_link::end(link_end why, const std::string& detail) {
  if (ended_) return;
  ended_ = true;
  // First out of the pool: once remove_remote() returns, no try_submit() reaches this link,
  // so the jobs taken below are all there will ever be.
  owner_.pool().remove_remote(this);
  std::vector<pool::job> jobs;
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
    jobs.reserve(in_flight_.size());
    for (auto& [id, p] : in_flight_) jobs.push_back(std::move(p.job));
    in_flight_.clear();
    outgoing_.clear();
  }
  error_code ec;
  socket_.shutdown(tcp_socket::shutdown_both, ec);
  socket_.close(ec);
  timer_.cancel();
  spdlog::log(why == link_end::shutdown ? spdlog::level::info : spdlog::level::warn,
              "actor {} left the pool: {}; {} job(s) in flight there", name_, detail, jobs.size());
  owner_.link_ended(why, std::move(jobs));
}

}  // namespace server

#include "actor_links/actor_link.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include "actor_links/actor_listener.hpp"

namespace actor_links {

namespace net = boost::asio;
using error_code = boost::system::error_code;
using pool::clock;

actor_link::actor_link(tcp_socket&& socket, actor_listener& owner, std::string name)
    : socket_(std::move(socket)),
      timer_(socket_.get_executor()),
      owner_(owner),
      name_(std::move(name)),
      ledger_(
          {owner.settings().actor_max_in_flight}, [&owner] { return owner.next_id(); }, name_) {}

void actor_link::start() {
  net::post(socket_.get_executor(), [self = shared_from_this()] {
    if (self->ended_) return;  // stopped before it joined
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
  bool start_flush = false;
  if (!ledger_.try_submit(j, clock::now(), start_flush)) return false;
  if (start_flush)
    net::post(socket_.get_executor(), [self = shared_from_this()] { self->flush(); });
  return true;
}

void actor_link::flush() {
  if (ended_ || !ledger_.take_unsent(writing_, clock::now())) return;
  net::async_write(socket_, net::buffer(writing_),
                   [self = shared_from_this()](error_code ec, std::size_t) { self->on_write(ec); });
}

void actor_link::on_write(error_code ec) {
  if (ended_) return;
  if (ec) return end(link_end::closed, "write: " + ec.message());
  ledger_.written();
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
  if (auto broken = ledger_.feed(std::string_view(chunk_.data(), bytes), clock::now()))
    return end(link_end::malformed, *broken);
  read_more();
}

void actor_link::watch() {
  // Checked a few times per timeout, so silence is noticed within 1.25 timeouts.
  const auto timeout = owner_.settings().actor_timeout;
  timer_.expires_after(std::max<clock::duration>(timeout / 4, std::chrono::milliseconds(5)));
  timer_.async_wait([self = shared_from_this(), timeout](error_code ec) {
    if (ec || self->ended_) return;
    if (auto why = self->ledger_.silent(clock::now(), timeout))
      return self->end(link_end::timeout, *why);
    self->watch();
  });
}

void actor_link::end(link_end why, const std::string& detail) {
  if (ended_) return;
  ended_ = true;
  // Out of the pool first: no try_submit() reaches this link once the jobs are taken back,
  // so they are all there will ever be, and no scrape sees them counted nowhere.
  std::vector<actor_ledger::taken_back> jobs;
  owner_.pool().remove_remote(this, [&] { jobs = ledger_.close(why == link_end::shutdown); });
  error_code ec;
  socket_.shutdown(tcp_socket::shutdown_both, ec);
  socket_.close(ec);
  timer_.cancel();
  spdlog::log(why == link_end::shutdown ? spdlog::level::info : spdlog::level::warn,
              "actor {} left the pool: {}; {} job(s) in flight there", name_, detail, jobs.size());
  owner_.link_ended(why, pid(), std::move(jobs));
}

}  // namespace actor_links

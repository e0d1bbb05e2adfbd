#include "actor_links/actor_link.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/write.hpp>

#include "actor_links/actor_listener.hpp"

namespace actor_links {

namespace net = boost::asio;
using error_code = boost::system::error_code;
using pool::clock;

actor_link::actor_link(tcp_socket&& socket, actor_listener& owner, std::string name,
                       net::ssl::context* tls)
    : socket_(std::move(socket)),
      tls_(tls ? std::make_unique<sockets::tls_socket>(std::move(socket_), *tls) : nullptr),
      handshaken_(tls == nullptr),
      timer_(raw().get_executor()),
      owner_(owner),
      name_(std::move(name)),
      ledger_(
          {owner.settings().actor_max_in_flight}, [&owner] { return owner.next_id(); }, name_) {}

void actor_link::start() {
  net::post(raw().get_executor(), [self = shared_from_this()] {
    if (self->ended_) return;  // stopped before it started
    self->connected_at_ = std::chrono::steady_clock::now();
    self->watch();
    if (!self->tls_) return self->read_more();
    self->tls_->async_handshake(net::ssl::stream_base::server,
                                [self](error_code ec) { self->on_handshake(ec); });
  });
}

void actor_link::on_handshake(error_code ec) {
  if (ended_) return;
  if (ec) {
    // A wrong, missing or expired certificate, or not TLS at all: refused before a byte of
    // the protocol is read, and nothing is said to it (there is no channel to say it on).
    owner_.count_refusal("tls");
    return end(link_end::refused, "TLS handshake failed: " + ec.message());
  }
  handshaken_ = true;
  connected_at_ = std::chrono::steady_clock::now();  // the greeting follows the handshake
  read_more();
}

std::string actor_link::listed(const std::vector<std::string>& kinds) {
  std::string list;
  for (const auto& k : kinds) list += (list.empty() ? "" : ", ") + k;
  return list;
}

std::vector<std::string> actor_link::kinds() const {
  std::lock_guard lock(kinds_mutex_);
  return kinds_;
}

void actor_link::join(std::vector<std::string> kinds, bool greeted) {
  {
    std::lock_guard lock(kinds_mutex_);
    kinds_ = std::move(kinds);
  }
  joined_ = true;
  const auto offered = this->kinds();
  owner_.link_joined(offered);
  owner_.pool().add_remote(shared_from_this());
  spdlog::info("actor {} joined the pool{}, offering {}", name_,
               greeted ? "" : " (no greeting: a seed actor)", listed(offered));
}

std::optional<std::string> actor_link::on_control(actor_ledger::control&& c) {
  if (std::holds_alternative<actor::leave>(c)) {
    if (!joined_ || !ledger_.is_greeted()) return "a leave from an actor that did not greet";
    if (!ledger_.leaving()) {
      ledger_.leave();
      spdlog::info("actor {} is leaving: no new job for it, {} in flight there", name_,
                   ledger_.in_flight());
    }
    return std::nullopt;  // on_read() ends the link once nothing is in flight
  }
  auto& h = std::get<actor::hello>(c);
  // A greeting comes first, or not at all: after a job it could change what the link offers
  // while jobs run.
  if (ledger_.messages() != 1) return "a greeting that is not the actor's first message";
  if (auto why = owner_.admit(h)) {
    if (joined_) return why->second;  // it is in the pool already: removed as malformed
    refuse(why->first, why->second);
    return std::nullopt;
  }
  ledger_.greeted(h.capacity);
  if (h.pid != 0) ledger_.said_pid(h.pid);
  const auto in_flight = owner_.settings().actor_max_in_flight;
  std::string welcome;
  actor::append_welcome(welcome,
                        {POOLSERVER_VERSION, h.capacity != 0 ? std::min<std::uint64_t>(
                                                                   in_flight, h.capacity)
                                                             : in_flight});
  if (ledger_.say(welcome))
    net::post(raw().get_executor(), [self = shared_from_this()] { self->flush(); });
  spdlog::debug("actor {} greeted: process {}, version '{}', capacity {}, {} worker(s)", name_,
                h.pid, h.version, h.capacity, h.workers);
  if (joined_) {
    // It was taken for a seed actor (its greeting came after greeting_window): from now on
    // it offers what it says. A job of the seed's kind sent meanwhile is answered as usual.
    auto before = kinds();
    {
      std::lock_guard lock(kinds_mutex_);
      kinds_ = h.kinds;
    }
    owner_.link_joined(h.kinds);
    owner_.link_left(before);
    spdlog::info("actor {} greeted late: now offering {}", name_, listed(h.kinds));
    return std::nullopt;
  }
  join(std::move(h.kinds), true);
  return std::nullopt;
}

void actor_link::refuse(std::string_view counted_as, const std::string& why) {
  if (!refusing_.empty() || ended_) return;
  refusing_ = why;
  owner_.count_refusal(counted_as);
  std::string message;
  actor::append_refused(message, why);
  auto bytes = std::make_shared<std::string>(std::move(message));
  with_stream([&](auto& stream) {
    net::async_write(stream, net::buffer(*bytes),
                     [self = shared_from_this(), bytes](error_code, std::size_t) {
                       self->end(link_end::refused, self->refusing_);
                     });
  });
}

void actor_link::stop() {
  net::post(raw().get_executor(),
            [self = shared_from_this()] { self->end(link_end::shutdown, "server stopping"); });
}

bool actor_link::offers(std::string_view kind) const {
  std::lock_guard lock(kinds_mutex_);
  return std::find(kinds_.begin(), kinds_.end(), kind) != kinds_.end();
}

bool actor_link::try_submit(pool::job& j) {
  bool start_flush = false;
  if (!ledger_.try_submit(j, clock::now(), start_flush)) return false;
  if (start_flush)
    net::post(raw().get_executor(), [self = shared_from_this()] { self->flush(); });
  return true;
}

void actor_link::flush() {
  if (ended_ || !refusing_.empty() || !ledger_.take_unsent(writing_, clock::now())) return;
  with_stream([&](auto& stream) {
    net::async_write(stream, net::buffer(writing_), [self = shared_from_this()](
                                                        error_code ec, std::size_t) {
      self->on_write(ec);
    });
  });
}

void actor_link::on_write(error_code ec) {
  if (ended_ || !refusing_.empty()) return;
  if (ec) return end(link_end::closed, "write: " + ec.message());
  ledger_.written();
  writing_.clear();
  flush();
}

void actor_link::read_more() {
  with_stream([&](auto& stream) {
    stream.async_read_some(net::buffer(chunk_),
                           [self = shared_from_this()](error_code ec, std::size_t bytes) {
                             self->on_read(ec, bytes);
                           });
  });
}

void actor_link::on_read(error_code ec, std::size_t bytes) {
  if (ended_ || !refusing_.empty()) return;
  if (ec) {
    const bool closed = ec == net::error::eof || ec == net::ssl::error::stream_truncated;
    return end(link_end::closed,
               closed ? "the actor closed the connection" : "read: " + ec.message());
  }
  auto broken =
      ledger_.feed(std::string_view(chunk_.data(), bytes), clock::now(),
                   [this](actor_ledger::control&& c) { return on_control(std::move(c)); });
  if (broken) {
    // A greeting that breaks the protocol is a refused actor: it never joined.
    if (!joined_) return refuse("greeting", *broken);
    return end(link_end::malformed, *broken);
  }
  if (!refusing_.empty()) return;
  if (!joined_ && ledger_.messages() > 0)
    return refuse("greeting", "the first message must be a greeting");  // a reply to no job
  if (ledger_.leaving() && ledger_.in_flight() == 0)
    return end(link_end::left, "it left, every job it held answered");
  read_more();
}

void actor_link::watch() {
  const auto timeout = owner_.settings().actor_timeout;
  // Silence is checked a few times per timeout, so it is noticed within 1.25 timeouts. A
  // greeted actor with jobs in flight is looked at every few milliseconds: a job whose
  // request stopped waiting is cancelled there soon after.
  auto period = std::max<clock::duration>(timeout / 4, std::chrono::milliseconds(5));
  if (!joined_)
    period = std::min<clock::duration>(period, greeting_window / 4);
  else if (ledger_.is_greeted() && ledger_.in_flight() > 0)
    period = std::min<clock::duration>(period, cancel_period);
  timer_.expires_after(period);
  timer_.async_wait([self = shared_from_this(), timeout](error_code ec) {
    if (ec || self->ended_ || !self->refusing_.empty()) return;
    const auto now = clock::now();
    if (!self->joined_) {
      const auto waited = std::chrono::steady_clock::now() - self->connected_at_;
      if (!self->handshaken_) {
        // A connection that never completes its handshake would hold a place of
        // ACTOR_MAX_CONNECTIONS for good.
        if (waited > timeout) {
          self->owner_.count_refusal("tls");
          return self->end(link_end::refused, "no TLS handshake within ACTOR_TIMEOUT_MS");
        }
      } else if (self->owner_.credentials_required()) {
        if (waited > timeout)
          return self->refuse("greeting", "no greeting within ACTOR_TIMEOUT_MS, and the server "
                                          "asks for credentials");
      } else if (waited >= greeting_window && self->ledger_.partial() == 0 &&
                 self->ledger_.messages() == 0) {
        self->join({std::string(seed_kind)}, false);
      }
      return self->watch();
    }
    if (auto why = self->ledger_.silent(now, timeout)) return self->end(link_end::timeout, *why);
    if (self->ledger_.cancel_abandoned()) self->flush();
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
  raw().shutdown(tcp_socket::shutdown_both, ec);
  raw().close(ec);
  timer_.cancel();
  if (!joined_) {
    spdlog::log(why == link_end::refused ? spdlog::level::warn : spdlog::level::info,
                "actor {} {}: {}", name_,
                why == link_end::refused ? "refused" : "gone before it joined", detail);
  } else {
    const bool expected = why == link_end::shutdown || why == link_end::left;
    spdlog::log(expected ? spdlog::level::info : spdlog::level::warn,
                "actor {} left the pool: {}; {} job(s) in flight there", name_, detail,
                jobs.size());
  }
  owner_.link_ended(why, joined_, kinds(), pid(), std::move(jobs));
}

}  // namespace actor_links

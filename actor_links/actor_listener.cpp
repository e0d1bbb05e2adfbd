#include "actor_links/actor_listener.hpp"

#include <sstream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>

#include "actor/protocol.hpp"
#include "sockets/listen.hpp"
#include "sockets/tls.hpp"

namespace actor_links {

namespace net = boost::asio;
using tcp = net::ip::tcp;

actor_listener::actor_listener(std::vector<net::io_context*> ios, const config::settings& settings,
                               pool::worker_pool& pool)
    : ios_(std::move(ios)),
      settings_(settings),
      pool_(pool),
      acceptor_(sockets::listen_on(*ios_.at(0), settings.actor_host,
                                   settings.actor_port.value_or(0), "ACTOR_HOST")),
      accept_retry_(*ios_[0]) {
  if (config::actor_tls(settings))
    tls_.emplace(sockets::server_tls_context(
        {settings.actor_tls_cert, settings.actor_tls_key, settings.actor_tls_ca}));
}

tcp::endpoint actor_listener::local_endpoint() const {
  return acceptor_.local_endpoint();
}

void actor_listener::start() {
  net::post(*ios_[0], [this] { do_accept(); });
}

void actor_listener::close() {
  net::post(*ios_[0], [this] {
    boost::system::error_code ec;
    acceptor_.close(ec);
    accept_retry_.cancel();
  });
}

void actor_listener::stop() {
  close();
  std::vector<std::shared_ptr<actor_link>> live;
  {
    std::lock_guard lock(links_mutex_);
    stopped_ = true;
    for (const auto& weak : links_)
      if (auto l = weak.lock()) live.push_back(std::move(l));
    links_.clear();
  }
  for (const auto& l : live) l->stop();
}

void actor_listener::do_accept() {
  auto& io = *ios_[next_io_++ % ios_.size()];
  acceptor_.async_accept(io, [this](boost::system::error_code ec, tcp_socket socket) {
    if (ec == net::error::operation_aborted) return;
    if (ec) {
      // Out of descriptors, the connection stays queued: accepting again at once would fail
      // again at once, a busy loop. The pause and the log's pace are accept_pacing's.
      const auto pause = pacing_.failed(ec);
      if (pause.count() == 0) return do_accept();  // the connection's own failure
      accept_retry_.expires_after(pause);
      accept_retry_.async_wait([this](boost::system::error_code e) {
        if (!e && acceptor_.is_open()) do_accept();
      });
      return;
    }
    pacing_.succeeded();
    boost::system::error_code opt;
    const auto remote = socket.remote_endpoint(opt);
    // Reset while it waited to be accepted: nobody is there, and a link would be named
    // "0.0.0.0:0" like every other such one, while its name must be unique.
    if (opt) return do_accept();
    if (open_links_.load(std::memory_order_relaxed) >= settings_.actor_max_connections) {
      refuse(std::move(socket), remote);
      return do_accept();
    }
    socket.set_option(tcp::no_delay(true), opt);                 // jobs are small and latency-bound
    socket.set_option(net::socket_base::keep_alive(true), opt);  // a vanished host, when idle
    std::ostringstream peer;
    peer << remote;
    auto link = std::make_shared<actor_link>(std::move(socket), *this, peer.str(),
                                             tls_ ? &*tls_ : nullptr);
    {
      std::lock_guard lock(links_mutex_);
      if (stopped_) return;
      std::erase_if(links_, [](const auto& w) { return w.expired(); });
      links_.push_back(link);
      open_links_.fetch_add(1, std::memory_order_relaxed);  // until link_ended()
    }
    connects_.fetch_add(1, std::memory_order_relaxed);
    link->start();
    do_accept();
  });
}

void actor_listener::refuse(tcp_socket socket, const tcp::endpoint& remote) {
  connections_refused_.fetch_add(1, std::memory_order_relaxed);
  boost::system::error_code ec;
  // Told why, if its socket takes the few bytes at once (never waited for): an actor that
  // greeted then knows the server heard it and refused, rather than took it for a server
  // too old to greet. Then it sees the connection end, and tries again later.
  std::string why;
  actor::append_refused(why, "ACTOR_MAX_CONNECTIONS actors are connected");
  socket.non_blocking(true, ec);
  if (!ec) socket.write_some(net::buffer(why), ec);
  socket.close(ec);
  if (!refusal_log_.allow(pool::clock::now())) {
    ++refusals_unlogged_;
    return;
  }
  const auto more = refusals_unlogged_ == 0
                        ? std::string()
                        : fmt::format(" (and {} more since the last line)", refusals_unlogged_);
  refusals_unlogged_ = 0;
  std::ostringstream peer;
  peer << remote;
  spdlog::warn("actor {} refused: ACTOR_MAX_CONNECTIONS ({}) actors are connected{}", peer.str(),
               settings_.actor_max_connections, more);
}

bool actor_listener::credentials_required() const noexcept {
  return !settings_.actor_token.empty();
}

std::optional<std::pair<std::string_view, std::string>> actor_listener::admit(
    const actor::hello& h) const {
  if (credentials_required() && !sockets::same_secret(h.token, settings_.actor_token))
    return std::pair{refusal_names[0], std::string(h.token.empty()
                                                       ? "the server asks for a token (ACTOR_TOKEN)"
                                                       : "wrong token (ACTOR_TOKEN)")};
  if (!pool_.kinds().can_offer(h.kinds))
    return std::pair{refusal_names[2],
                     std::string("a job kind's name must be 1 to 64 of A-Z a-z 0-9 _ . - (and "
                                 "the server remembers at most 1024 names)")};
  return std::nullopt;
}

void actor_listener::count_refusal(std::string_view reason) {
  for (std::size_t i = 0; i < refusal_names.size(); ++i)
    if (refusal_names[i] == reason) refusals_[i].fetch_add(1, std::memory_order_relaxed);
}

void actor_listener::link_joined(const std::vector<std::string>& kinds) {
  pool_.kinds().offered(kinds);
}

void actor_listener::link_left(const std::vector<std::string>& kinds) {
  pool_.kinds().withdrawn(kinds);
}

void actor_listener::link_ended(link_end why, bool joined, const std::vector<std::string>& kinds,
                                std::int64_t pid, std::vector<actor_ledger::taken_back>&& jobs) {
  open_links_.fetch_sub(1, std::memory_order_relaxed);
  if (joined) pool_.kinds().withdrawn(kinds);
  // An actor that never joined was refused (counted then) or went away before it greeted.
  if (joined) disconnects_[static_cast<std::size_t>(why)].fetch_add(1, std::memory_order_relaxed);
  for (auto& [j, counted_as] : jobs) {
    pool::job_result r;
    r.started = true;
    r.ran_on = pool::backend_kind::actor;  // the one that held it, for the access log
    r.actor_pid = pid;
    if (counted_as != pool::stop_reason::actor_lost) {
      // Nobody waits for it (its request was answered, or the server is stopping).
      r.status = pool::job_status::cancelled;
      r.stop = counted_as;
      j.done(std::move(r));
      continue;
    }
    switch (pool_.try_submit(j).status) {
      case pool::submit_status::accepted:
        redispatched_.fetch_add(1, std::memory_order_relaxed);
        continue;
      case pool::submit_status::closed:
        r.status = pool::job_status::cancelled;
        r.stop = pool::stop_reason::shutdown;
        break;
      case pool::submit_status::full:
      case pool::submit_status::empty:
      case pool::submit_status::shed:  // no backend would start it in time
        refused_.fetch_add(1, std::memory_order_relaxed);
        r.status = pool::job_status::refused;
        r.error = "the actor running the job was lost and no other backend had room for it";
        break;
    }
    j.done(std::move(r));  // a job the pool did not take is left untouched
  }
}

observability::actor_port_counters actor_listener::counters() const {
  observability::actor_port_counters out;
  out.connects = connects_.load(std::memory_order_relaxed);
  out.connections_refused = connections_refused_.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < link_end_names.size(); ++i)
    if (static_cast<link_end>(i) != link_end::refused)  // never joined: counted as refusals
      out.disconnects.emplace_back(link_end_names[i],
                                 disconnects_[i].load(std::memory_order_relaxed));
  for (std::size_t i = 0; i < refusal_names.size(); ++i)
    out.refusals.emplace_back(refusal_names[i], refusals_[i].load(std::memory_order_relaxed));
  out.redispatched = redispatched_.load(std::memory_order_relaxed);
  out.refused_jobs = refused_.load(std::memory_order_relaxed);
  std::vector<std::shared_ptr<actor_link>> live;
  {
    std::lock_guard lock(links_mutex_);
    for (const auto& weak : links_)
      if (auto l = weak.lock()) live.push_back(std::move(l));
  }
  for (const auto& l : live)
    if (const auto pid = l->pid(); pid != 0) out.pids.emplace_back(l->name(), pid);
  return out;
}

}  // namespace actor_links

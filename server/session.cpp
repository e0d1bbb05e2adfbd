#include "server/session.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include "server/dashboard_asset.hpp"
#include "server/response_writer.hpp"
#include "server/server.hpp"

namespace server {

namespace net = boost::asio;
using error_code = boost::system::error_code;
using pool::clock;

namespace {

std::string_view to_std(boost::beast::string_view s) {
  return {s.data(), s.size()};
}

// A field's values, each field line joined with ", " (RFC 9110 5.3); unset when not sent.
template <typename Name>
std::optional<std::string> joined(const request& req, Name name) {
  std::optional<std::string> out;
  for (auto [f, last] = req.equal_range(name); f != last; ++f) {
    if (out)
      out->append(", ");
    else
      out.emplace();
    out->append(f->value().data(), f->value().size());
  }
  return out;
}

preconditions preconditions_of(const request& req) {
  return {joined(req, boost::beast::http::field::if_match),
          joined(req, boost::beast::http::field::if_none_match)};
}

// Waiting for room: first retry after this, doubling up to the maximum.
constexpr std::chrono::microseconds first_retry{500};
constexpr std::chrono::microseconds max_retry{10'000};

}  // namespace

session::session(tcp_socket&& socket, server& owner)
    : socket_(std::move(socket)), timer_(socket_.get_executor()), server_(owner) {}

session::~session() {
  if (registered_) server_.remove_session(this);
}

void session::start() {
  if (server_.access()) {
    access_ = std::make_unique<access_note>();
    error_code ec;
    const auto peer = socket_.remote_endpoint(ec);
    access_->peer =
        ec ? std::string("-") : fmt::format("{}:{}", peer.address().to_string(), peer.port());
  }
  // Onto the connection's own io_context (the listener may run on another).
  net::dispatch(socket_.get_executor(), [self = shared_from_this()] {
    const auto admitted = self->server_.add_session(self);
    self->registered_ = true;  // counted as open, whatever the answer
    switch (admitted) {
      case admission::admitted:
        return self->next_request();
      case admission::draining:
        return self->close_gracefully();
      case admission::full:
        self->keep_alive_ = false;
        self->started_ = clock::now();
        return self->answer(error_reply(503, "too many connections; retry later"));
    }
  });
}

void session::stop_if_idle() {
  net::post(socket_.get_executor(), [self = shared_from_this()] {
    // The read waiting for the next request becomes the lingering read.
    if (self->phase_ == phase::idle) self->close_gracefully();
    if (self->phase_ == phase::watching) {
      self->keep_alive_ = false;
      self->answer_stats();
    }
  });
}

void session::terminate() {
  net::post(socket_.get_executor(), [self = shared_from_this()] {
    if (self->phase_ == phase::closed) return;
    if (self->phase_ == phase::running || self->phase_ == phase::queued) {
      if (self->token_) self->token_->cancel(pool::stop_reason::shutdown);
      self->pending_ = pool::job{};
      self->keep_alive_ = false;
      self->prepare_answer(cancelled_reply(self->call_, pool::stop_reason::shutdown));
      // Whatever the socket takes now, without waiting: a client that does not read may
      // not hold the process past its drain deadline.
      error_code ec;
      self->socket_.non_blocking(true, ec);
      if (!ec) self->socket_.write_some(net::buffer(self->out_), ec);
      if (!ec) self->socket_.shutdown(tcp_socket::shutdown_send, ec);
    }
    self->close_now();
  });
}

void session::next_request() {
  if (server_.draining()) return close_gracefully();
  phase_ = phase::idle;
  if (buffer_.size() > 0) return parse();  // a pipelined request is already here
  if (buffer_.capacity() > keep_capacity) buffer_.shrink_to_fit();
  if (peer_done_) return close_now();
  wake_at(clock::now() + server_.settings().idle_timeout);
  read_more();
}

void session::read_more() {
  if (reading_ || peer_done_ || phase_ == phase::closed) return;
  const std::size_t room = buffer_.max_size() - buffer_.size();
  if (room == 0) return;  // full of pipelined bytes: read again once they are served
  reading_ = true;
  socket_.async_read_some(
      net::buffer(chunk_.data(), std::min(room, chunk_.size())),
      [self = shared_from_this()](error_code ec, std::size_t bytes) { self->on_read(ec, bytes); });
}

void session::on_read(error_code ec, std::size_t bytes) {
  reading_ = false;
  if (phase_ == phase::closed) return;
  if (phase_ == phase::closing) {  // lingering: discard until EOF, an error or the timeout
    if (ec) return close_now();
    return read_more();
  }
  if (ec) {
    peer_done_ = true;
    if (ec != net::error::eof) spdlog::debug("read: {}", ec.message());
    switch (phase_) {
      case phase::reading:  // part of a request, then EOF: malformed, and answered so
        if (interim_) return close_now();  // one write at a time: the 100 is still going out
        if (ec == net::error::eof && reader_.at_eof() == request_reader::state::failed)
          return reject_malformed();
        return close_now();
      case phase::queued:
      case phase::running:
        return client_gone();
      case phase::writing:
        return;  // the answer still goes out, then the connection closes
      default:
        return close_now();  // idle: nothing was asked
    }
  }
  // Fits: the read asked for at most the room there was, and room only grows meanwhile.
  buffer_.commit(net::buffer_copy(buffer_.prepare(bytes), net::buffer(chunk_.data(), bytes)));
  if (phase_ == phase::idle || phase_ == phase::reading) {
    if (interim_) return read_more();  // parsed once the 100 Continue is out
    return parse();
  }
  read_more();  // pipelined bytes, served after this answer; reading on watches for EOF
}

void session::parse() {
  if (phase_ == phase::idle) {
    phase_ = phase::reading;
    first_byte_ = {};
  }
  switch (reader_.feed(buffer_)) {
    case request_reader::state::complete:
      return handle(reader_.take());
    case request_reader::state::failed:
      return reject_malformed();
    case request_reader::state::continue_expected:
      if (first_byte_ == clock::time_point{}) first_byte_ = clock::now();
      wake_at(first_byte_ + server_.settings().header_timeout);
      return expect_continue();
    case request_reader::state::need_more:
      // The whole request (headers and body) must arrive within HEADER_TIMEOUT_MS of its
      // first byte: a client sending a byte a second is dropped. (A request that comes in
      // one read never gets here, and never touches the timer.)
      if (first_byte_ == clock::time_point{}) first_byte_ = clock::now();
      wake_at(first_byte_ + server_.settings().header_timeout);
      return read_more();
  }
}

void session::expect_continue() {
  const auto& h = reader_.header();
  // A request line that fails without its body (no such route, a method it does not allow)
  // is answered now, so the client need not send the body (RFC 9110 10.1.1); the body is
  // not read, so the connection closes after the answer.
  auto early =
      route({to_std(h.method_string()), to_std(h.target()), {}, {}, {}, {}}, server_.router());
  if (auto* r = std::get_if<reply>(&early); r && (r->status == 404 || r->status == 405)) {
    started_ = clock::now();
    keep_alive_ = false;
    version_ = h.version();
    head_ = h.method() == boost::beast::http::verb::head;
    if (access_) {
      access_->method.assign(h.method_string().data(), h.method_string().size());
      access_->target.assign(h.target().data(), h.target().size());
      access_->queue_wait.reset();
      access_->backend_kind = {};
      access_->helpers.clear();
    }
    return answer(std::move(*r));
  }
  static constexpr std::string_view continue_line = "HTTP/1.1 100 Continue\r\n\r\n";
  interim_ = true;
  net::async_write(
      socket_, net::buffer(continue_line.data(), continue_line.size()),
      [self = shared_from_this()](error_code ec, std::size_t) { self->on_continue_written(ec); });
  read_more();  // the body comes now
}

void session::on_continue_written(error_code ec) {
  interim_ = false;
  if (phase_ != phase::reading) return;  // closed meanwhile (deadline, drain, client gone)
  if (ec) {
    spdlog::debug("write: {}", ec.message());
    return close_now();
  }
  if (buffer_.size() > 0) return parse();  // the body that came meanwhile
  read_more();
}

void session::reject_malformed() {
  // The stream cannot be resynchronised after a bad message: answer, then close.
  started_ = clock::now();
  keep_alive_ = false;
  version_ = 11;
  head_ = false;
  if (access_) *access_ = access_note{std::move(access_->peer), "-", "-", {}, {}, 0};
  answer(error_reply(reader_.error_status(), reader_.error_message()));
}

void session::handle(request&& req) {
  started_ = clock::now();
  keep_alive_ = req.keep_alive() && !server_.draining();
  version_ = req.version();
  head_ = req.method() == boost::beast::http::verb::head;
  if (access_) {
    access_->method.assign(req.method_string().data(), req.method_string().size());
    access_->target.assign(req.target().data(), req.target().size());
    access_->queue_wait.reset();
    access_->backend_kind = {};
    access_->helpers.clear();
  }
  const auto timeout = joined(req, "X-Request-Timeout-Ms");
  const auto priority = joined(req, "X-Priority");
  const auto client_id = joined(req, "X-Client-Id");
  const auto view = [](const std::optional<std::string>& v) {
    return v ? std::optional<std::string_view>(*v) : std::nullopt;
  };
  auto routed = route({to_std(req.method_string()), to_std(req.target()), req.body(), view(timeout),
                       view(priority), view(client_id)},
                      server_.router());
  // RFC 9110 13.2.1: preconditions count only for a request that would otherwise succeed.
  const bool would_succeed =
      std::holds_alternative<reply>(routed)
          ? std::get<reply>(routed).status / 100 == 2
          : !std::holds_alternative<readiness>(routed) || (!server_.draining() && server_.ready());
  if (would_succeed)
    if (auto failed = precondition_failed(to_std(req.method_string()), preconditions_of(req))) {
      // A 304 carries the Cache-Control its 200 would (RFC 9110 15.4.5).
      if (failed->status == 304 && std::holds_alternative<dashboard_page>(routed))
        failed->headers.emplace_back("Cache-Control", "no-cache");
      if (failed->status == 304 && std::holds_alternative<stats_page>(routed))
        failed->headers.emplace_back("Cache-Control", "no-store");
      return answer(std::move(*failed));
    }
  if (auto* call = std::get_if<job_call>(&routed))
    return submit(std::move(*call), client_id.value_or(std::string()));
  if (std::holds_alternative<scrape>(routed))
    return answer(
        reply{200, server_.metrics_text(), "text/plain; version=0.0.4; charset=utf-8", {}});
  if (const auto* stats = std::get_if<stats_page>(&routed)) {
    if (stats->wait.count() == 0 || server_.draining()) return answer_stats();
    phase_ = phase::watching;  // a long poll: on_deadline() or a drain answers it
    kind_ = observability::request_kind::long_poll;
    wake_at(started_ + stats->wait);
    return read_more();  // a client that leaves is seen, as for a job
  }
  if (std::holds_alternative<dashboard_page>(routed))
    return answer(reply{200,
                        std::string(dashboard_html()),
                        "text/html; charset=utf-8",
                        {{"Cache-Control", "no-cache"}}});
  if (std::holds_alternative<readiness>(routed))
    return answer(
        server_.draining() ? reply{503, R"({"status":"draining"})", "application/json", {}}
        : !server_.ready() ? reply{503, R"({"status":"no backends"})", "application/json", {}}
                           : reply{200, R"({"status":"ready"})", "application/json", {}});
  answer(std::move(std::get<reply>(routed)));
}

void session::submit(job_call&& call, std::string_view client_id) {
  call_ = std::move(call);
  kind_ = observability::request_kind::job;
  if (server_.drain_expired()) {
    keep_alive_ = false;
    return answer(cancelled_reply(call_, pool::stop_reason::shutdown));
  }
  const auto& cfg = server_.settings();
  // The client's deadline, capped by REQUEST_TIMEOUT_MS.
  token_ = std::make_shared<pool::cancel_token>(
      started_ + std::min(call_.timeout.value_or(cfg.request_timeout), cfg.request_timeout));
  const auto generation = ++generation_;
  pending_ = pool::job{};
  if (call_.fn)  // else a kind only remote actors run: no local worker takes it
    pending_.work = [fn = call_.fn, n = call_.n](const pool::cancel_token& t) {
      return (*fn)(n, t);
    };
  if (call_.fn) pending_.chunked = call_.fn->chunked;  // idle workers may help (SHARE_JOBS)
  pending_.method = call_.kind;  // what a remote actor is sent instead
  pending_.arg = call_.n;
  pending_.token = token_;
  pending_.prio = call_.prio;
  if (cfg.admission == pool::admission_mode::adaptive) {
    pending_.cost = server_.workers().costs().of(call_.kind);
    if (client_id.empty()) {  // then the client is its address
      if (peer_address_.empty()) {
        error_code ec;
        const auto peer = socket_.remote_endpoint(ec);
        peer_address_ = ec ? std::string("-") : peer.address().to_string();
      }
      client_id = peer_address_;
    }
    if (!client_ || client_id != client_key_) {
      client_ = server_.clients().find(client_id);
      client_key_.assign(client_id);
    }
    client_->asked();
    pending_.over_share = client_->over_share();
  }
  // Weak: the session lives by its socket's operations, never by its job. A client that
  // left is closed, uncounted and gone at once, even while an actor still holds its job;
  // the late result then finds nobody (the job itself was cancelled when the client left).
  pending_.done = [weak = weak_from_this(), executor = socket_.get_executor(),
                   generation](pool::job_result&& r) mutable {
    net::post(executor, [weak = std::move(weak), generation, r = std::move(r)]() mutable {
      if (const auto self = weak.lock()) self->on_job_done(generation, std::move(r));
    });
  };
  room_deadline_ = std::min(started_ + cfg.queue_timeout, token_->deadline());
  retry_delay_ = first_retry;
  dispatch_job();
}

void session::dispatch_job() {
  const auto outcome = server_.workers().try_submit(pending_);
  switch (outcome.status) {
    case pool::submit_status::accepted:
      pending_ = pool::job{};  // moved into the mailbox; drop the husk
      phase_ = phase::running;
      spdlog::debug("{}({}) -> backend {}{}", call_.kind, call_.n, outcome.backend,
                    outcome.redispatched ? " (redispatched)" : "");
      wake_at(token_->deadline());
      return read_more();  // a client that leaves now cancels its job
    case pool::submit_status::shed:
      pending_ = pool::job{};
      return answer(shed_reply(call_, outcome.verdict));
    case pool::submit_status::full:
      if (server_.settings().backpressure == config::backpressure_policy::wait &&
          clock::now() + retry_delay_ < room_deadline_) {
        // Like HAProxy's `timeout queue`: wait for room on the timer, never blocking a thread.
        phase_ = phase::queued;
        wake_at(clock::now() + retry_delay_);
        retry_delay_ = std::min(retry_delay_ * 2, max_retry);
        return read_more();
      }
      {
        pending_ = pool::job{};
        const auto who = outcome.backend < server_.workers().size()
                             ? "worker " + std::to_string(outcome.backend) + "'s mailbox is full"
                             : std::string("the chosen actor is at ACTOR_MAX_IN_FLIGHT");
        reply r = job_error_reply(call_, 503, rpc_code::overloaded,
                                  "server overloaded: " + who + "; retry later", "queue_full");
        r.headers.emplace_back("Retry-After", "1");
        return answer(std::move(r));
      }
    case pool::submit_status::closed:
      pending_ = pool::job{};
      keep_alive_ = false;
      return answer(
          job_error_reply(call_, 503, rpc_code::shutting_down, "server is shutting down"));
    case pool::submit_status::empty: {
      pending_ = pool::job{};
      reply r = job_error_reply(
          call_, 503, rpc_code::overloaded,
          server_.workers().backend_count() == 0
              ? "no backend: the pool is empty (no local workers, no actor connected); retry "
                "later"
              : "no backend runs job kind '" + std::string(call_.kind) + "' now; retry later",
          "no_backend");
      r.headers.emplace_back("Retry-After", "1");
      return answer(std::move(r));
    }
  }
}

void session::on_job_done(std::uint64_t generation, pool::job_result&& r) {
  if (generation != generation_ || phase_ != phase::running) return;  // answered already
  if (access_ && r.started) {
    const bool remote = r.ran_on == pool::backend_kind::actor;
    if (!remote) access_->queue_wait = r.queue_wait;  // an actor's is in its round trip
    access_->backend_kind = remote ? "actor" : "worker";
    access_->backend_id = remote ? static_cast<std::uint64_t>(r.actor_pid) : r.backend;
    access_->helpers = r.helpers;
  }
  answer(job_reply(call_, r));
}

void session::client_gone() {
  spdlog::debug("client left while its job was in progress: cancelling");
  if (token_) token_->cancel(pool::stop_reason::client_gone);
  close_now();
}

void session::answer(reply&& r) {
  phase_ = phase::writing;
  prepare_answer(r);
  wake_at(clock::now() + write_timeout);
  net::async_write(
      socket_, net::buffer(out_),
      [self = shared_from_this()](error_code ec, std::size_t bytes) { self->on_write(ec, bytes); });
}

void session::prepare_answer(const reply& r) {
  keep_open_ = keep_alive_ && !server_.draining() && !peer_done_;
  write_response(out_, r, {version_, keep_open_, head_});
  // Counted as the response is handed to the socket, so a client that has read it sees it
  // in the next scrape.
  const auto now = clock::now();
  server_.stats().record(r.status, now - started_, kind_);
  kind_ = observability::request_kind::other;  // the next request is what it says
  if (access_)
    server_.access()->write({access_->peer, access_->method, access_->target, r.status,
                             now - started_, access_->queue_wait, access_->backend_kind,
                             access_->backend_id, access_->helpers});
}

void session::answer_stats() {
  answer(reply{200, server_.stats_json(), "application/json", {{"Cache-Control", "no-store"}}});
}

void session::on_write(error_code ec, std::size_t) {
  if (phase_ == phase::closed) return;
  if (ec) {
    spdlog::debug("write: {}", ec.message());
    return close_now();
  }
  if (!keep_open_) return close_gracefully();
  if (out_.capacity() > keep_capacity) std::string().swap(out_);
  next_request();
}

void session::close_gracefully() {
  if (phase_ == phase::closing || phase_ == phase::closed) return;
  if (peer_done_) return close_now();  // the client closed already: nothing to linger for
  phase_ = phase::closing;
  pending_ = pool::job{};
  error_code ec;
  socket_.shutdown(tcp_socket::shutdown_send, ec);  // a clean FIN
  if (ec) return close_now();
  wake_at(clock::now() + linger_timeout);
  buffer_.clear();  // unanswered pipelined requests are dropped with the connection
  read_more();      // discard until EOF (the read may be outstanding already)
}

void session::close_now() {
  if (phase_ == phase::closed) return;
  phase_ = phase::closed;
  pending_ = pool::job{};
  error_code ec;
  socket_.close(ec);  // pending operations end with operation_aborted
  timer_.cancel();
  if (std::exchange(registered_, false)) server_.remove_session(this);
}

void session::wake_at(clock::time_point t) {
  wake_ = t;
  if (t >= armed_ || phase_ == phase::closed) return;  // the wait outstanding comes first
  armed_ = t;
  timer_.expires_at(t);  // a wait outstanding ends with operation_aborted
  timer_.async_wait(
      [self = shared_from_this(), arm = ++arm_](error_code ec) { self->on_timer(arm, ec); });
}

void session::on_timer(std::uint64_t arm, error_code ec) {
  if (arm != arm_) return;  // superseded by a nearer deadline
  armed_ = clock::time_point::max();
  if (ec || phase_ == phase::closed) return;
  if (clock::now() < wake_) return wake_at(wake_);  // the deadline moved out: sleep on
  wake_ = clock::time_point::max();
  on_deadline();
}

void session::on_deadline() {
  switch (phase_) {
    case phase::queued:
      return dispatch_job();  // try again for room (503 once the queue timeout is near)
    case phase::watching:
      return answer_stats();
    case phase::running:
      // Answer now, near the deadline, even if the job still waits behind a long one; the
      // worker drops it (or stops it between chunks) and its late result is ignored.
      token_->cancel(pool::stop_reason::deadline);
      return answer(cancelled_reply(call_, pool::stop_reason::deadline));
    default:
      // idle: the keep-alive timeout; reading: the header deadline (slowloris); writing:
      // the client does not read; closing: the linger is over.
      return close_now();
  }
}

}  // namespace server

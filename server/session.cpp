#include "server/session.hpp"

#include <sys/socket.h>

#include <cerrno>

#include <spdlog/spdlog.h>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>

#include "server/server.hpp"

namespace server {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;

namespace {

bool is_http_parse_error(const beast::error_code& ec) {
  return &ec.category() == &http::make_error_code(http::error::bad_target).category();
}

std::string_view to_std(beast::string_view s) {
  return {s.data(), s.size()};
}

// Waiting for room: first retry after this, doubling up to the maximum.
constexpr std::chrono::microseconds first_retry{500};
constexpr std::chrono::microseconds max_retry{10'000};

}  // namespace

session::session(net::ip::tcp::socket&& socket, server& owner)
    : stream_(std::move(socket)), timer_(stream_.get_executor()), server_(owner) {}

session::~session() {
  server_.remove_session(this);
}

void session::start() {
  // Hop onto the strand: every handler of this connection runs there.
  net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
    switch (self->server_.add_session(self)) {
      case admission::admitted:
        return self->do_read();
      case admission::draining:
        return self->do_close();
      case admission::full:
        self->keep_alive_ = false;
        self->started_ = pool::clock::now();
        return self->answer(error_reply(503, "too many connections; retry later"));
    }
  });
}

void session::stop_if_idle() {
  net::post(stream_.get_executor(), [self = shared_from_this()] {
    if (self->phase_ != phase::idle) return;
    // Cancel the idle read; its handler then starts the linger read (see on_first_bytes).
    self->begin_close();
    self->stream_.cancel();
  });
}

void session::cancel_for_shutdown() {
  net::post(stream_.get_executor(), [self = shared_from_this()] {
    if (self->phase_ != phase::running && self->phase_ != phase::queued) return;
    if (self->token_) self->token_->cancel(pool::stop_reason::shutdown);
    self->pending_ = pool::job{};
    self->stop_watching();
    self->keep_alive_ = false;
    self->answer(cancelled_reply(self->call_, pool::stop_reason::shutdown));
  });
}

void session::do_read() {
  if (server_.draining()) return do_close();
  parser_.emplace();  // a parser reads one message: a fresh one per request
  parser_->header_limit(header_limit);
  parser_->body_limit(body_limit);
  if (buffer_.size() > 0) return read_request();  // a pipelined request is already here
  // Idle keep-alive: wait for the first byte under the idle timeout.
  phase_ = phase::idle;
  stream_.expires_after(server_.settings().idle_timeout);
  stream_.async_read_some(buffer_.prepare(4096),
                          beast::bind_front_handler(&session::on_first_bytes, shared_from_this()));
}

void session::on_first_bytes(beast::error_code ec, std::size_t bytes) {
  if (phase_ == phase::closing) {  // drained while idle (stop_if_idle cancelled this read)
    if (!ec || ec == net::error::operation_aborted) linger();
    return;
  }
  if (ec) return do_close();  // EOF or idle timeout: nothing was asked
  buffer_.commit(bytes);
  read_request();
}

void session::read_request() {
  // The whole request (headers and body) must arrive within HEADER_TIMEOUT_MS of its first
  // byte: a client sending a byte a second is dropped.
  phase_ = phase::reading;
  stream_.expires_after(server_.settings().header_timeout);
  http::async_read(stream_, buffer_, *parser_,
                   beast::bind_front_handler(&session::on_read, shared_from_this()));
}

void session::on_read(beast::error_code ec, std::size_t) {
  started_ = pool::clock::now();
  if (ec) spdlog::debug("read: {}", ec.message());
  if (ec == http::error::end_of_stream || ec == net::error::operation_aborted ||
      ec == beast::error::timeout)
    return do_close();
  if (ec == http::error::body_limit || ec == http::error::header_limit ||
      ec == http::error::buffer_overflow || is_http_parse_error(ec)) {
    // The stream cannot be resynchronised after a bad message: answer, then close.
    keep_alive_ = false;
    version_ = 11;
    head_ = false;
    if (ec == http::error::body_limit)
      return answer(
          error_reply(413, "request body larger than " + std::to_string(body_limit) + " bytes"));
    if (ec == http::error::header_limit || ec == http::error::buffer_overflow)
      return answer(error_reply(
          431, "request headers larger than " + std::to_string(header_limit) + " bytes"));
    return answer(error_reply(400, "malformed HTTP request: " + ec.message()));
  }
  if (ec) return do_close();
  handle(parser_->release());
}

void session::handle(http::request<http::string_body>&& req) {
  keep_alive_ = req.keep_alive() && !server_.draining();
  version_ = req.version();
  head_ = req.method() == http::verb::head;
  auto routed =
      route({to_std(req.method_string()), to_std(req.target()), req.body()}, server_.router());
  if (auto* call = std::get_if<job_call>(&routed)) return submit(std::move(*call));
  if (std::holds_alternative<scrape>(routed))
    return answer(
        reply{200, server_.metrics_text(), "text/plain; version=0.0.4; charset=utf-8", {}});
  if (std::holds_alternative<readiness>(routed))
    return answer(server_.draining()
                      ? reply{503, R"({"status":"draining"})", "application/json", {}}
                      : reply{200, R"({"status":"ready"})", "application/json", {}});
  answer(std::move(std::get<reply>(routed)));
}

void session::submit(job_call&& call) {
  call_ = std::move(call);
  if (server_.drain_expired()) {
    keep_alive_ = false;
    return answer(cancelled_reply(call_, pool::stop_reason::shutdown));
  }
  const auto& cfg = server_.settings();
  token_ = std::make_shared<pool::cancel_token>(started_ + cfg.request_timeout);
  const auto generation = ++generation_;
  pending_ = pool::job{};
  pending_.work = [fn = call_.fn, n = call_.n](const pool::cancel_token& t) { return (*fn)(n, t); };
  pending_.token = token_;
  // The work guard keeps run() going until the answer is posted back, even when this
  // connection has no socket operation outstanding while the job runs.
  pending_.done = [self = shared_from_this(), ex = stream_.get_executor(), generation,
                   guard = net::make_work_guard(stream_.get_executor())](pool::job_result&& r) {
    net::post(ex, [self, generation, r = std::move(r)]() mutable {
      self->on_job_done(generation, std::move(r));
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
      spdlog::debug("{}({}) -> worker {}{}", call_.kind, call_.n, outcome.backend,
                    outcome.redispatched ? " (redispatched)" : "");
      timer_.expires_at(token_->deadline());
      timer_.async_wait(
          beast::bind_front_handler(&session::on_deadline, shared_from_this(), generation_));
      return watch_for_disconnect();
    case pool::submit_status::full:
      if (server_.settings().backpressure == config::backpressure_policy::wait &&
          pool::clock::now() + retry_delay_ < room_deadline_) {
        // Like HAProxy's `timeout queue`: wait for room on a timer, never blocking a thread.
        phase_ = phase::queued;
        timer_.expires_after(retry_delay_);
        retry_delay_ = std::min(retry_delay_ * 2, max_retry);
        timer_.async_wait(
            [self = shared_from_this(), generation = generation_](beast::error_code ec) {
              if (ec || self->phase_ != phase::queued || self->generation_ != generation) return;
              self->dispatch_job();
            });
        return;
      }
      {
        pending_ = pool::job{};
        reply r = job_error_reply(call_, 503, rpc_code::overloaded,
                                  "server overloaded: worker " + std::to_string(outcome.backend) +
                                      "'s mailbox is full; retry later");
        r.headers.emplace_back("Retry-After", "1");
        return answer(std::move(r));
      }
    case pool::submit_status::closed:
      pending_ = pool::job{};
      keep_alive_ = false;
      return answer(
          job_error_reply(call_, 503, rpc_code::shutting_down, "server is shutting down"));
  }
}

void session::on_job_done(std::uint64_t generation, pool::job_result&& r) {
  if (generation != generation_ || phase_ != phase::running) return;  // answered already
  timer_.cancel();
  stop_watching();
  if (r.status == pool::job_status::cancelled && r.stop == pool::stop_reason::client_gone)
    return do_close();  // nobody to answer
  answer(job_reply(call_, r));
}

void session::on_deadline(std::uint64_t generation, beast::error_code ec) {
  if (ec || generation != generation_ || phase_ != phase::running) return;
  // Answer now, near the deadline, even if the job is still queued behind a long one; the
  // worker drops it (or stops it between chunks) and its late result is ignored.
  token_->cancel(pool::stop_reason::deadline);
  stop_watching();
  answer(cancelled_reply(call_, pool::stop_reason::deadline));
}

void session::watch_for_disconnect() {
  // While the job runs nothing is read; a readable socket then means either a pipelined
  // request (leave it for later) or the client's EOF/reset (cancel the job).
  stream_.socket().async_wait(
      net::ip::tcp::socket::wait_read,
      [self = shared_from_this(), generation = generation_](beast::error_code ec) {
        if (ec || generation != self->generation_ || self->phase_ != phase::running) return;
        char c;
        const auto n =
            ::recv(self->stream_.socket().native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n > 0) return;  // pipelined bytes: served after this answer
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
          return self->watch_for_disconnect();
        spdlog::debug("client left while its job was in progress: cancelling");
        self->token_->cancel(pool::stop_reason::client_gone);
        self->timer_.cancel();
        self->do_close();
      });
}

void session::stop_watching() {
  beast::error_code ec;
  stream_.socket().cancel(ec);  // only the disconnect watch is pending on the socket now
}

void session::answer(reply&& r) {
  phase_ = phase::writing;
  res_ = {};
  res_.result(r.status);
  res_.version(version_);
  res_.set(http::field::server, "poolserver");
  res_.set(http::field::content_type,
           beast::string_view(r.content_type.data(), r.content_type.size()));
  for (auto& [name, value] : r.headers)
    res_.set(beast::string_view(name.data(), name.size()), value);
  res_.keep_alive(keep_alive_ && !server_.draining());
  res_.body() = std::move(r.body);
  res_.prepare_payload();
  if (head_) {  // the headers of the GET answer, Content-Length included, and no body
    const auto length = res_.body().size();
    res_.body().clear();
    res_.content_length(length);
  }
  // Counted as the response is handed to the socket, so a client that has read it sees it
  // in the next scrape.
  server_.stats().record(r.status, pool::clock::now() - started_);
  stream_.expires_after(write_timeout);
  http::async_write(stream_, res_,
                    beast::bind_front_handler(&session::on_write, shared_from_this()));
}

void session::on_write(beast::error_code ec, std::size_t) {
  if (ec) {
    spdlog::debug("write: {}", ec.message());
    return do_close();
  }
  if (!res_.keep_alive()) return do_close();
  do_read();
}

void session::do_close() {
  if (phase_ == phase::closing) return;
  if (begin_close()) linger();
}

bool session::begin_close() {
  phase_ = phase::closing;
  timer_.cancel();
  pending_ = pool::job{};
  beast::error_code ec;
  stream_.socket().shutdown(net::ip::tcp::socket::shutdown_send, ec);  // a clean FIN
  stream_.expires_after(linger_timeout);
  return !ec;
}

void session::linger() {
  buffer_.clear();
  stream_.async_read_some(buffer_.prepare(4096),
                          [self = shared_from_this()](beast::error_code ec, std::size_t) {
                            if (!ec) self->linger();  // discard until EOF, error or timeout
                          });
}

}  // namespace server

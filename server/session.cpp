#include "server/session.hpp"

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

}  // namespace

session::session(net::ip::tcp::socket&& socket, server& owner)
    : stream_(std::move(socket)), server_(owner) {}

session::~session() {
  server_.remove_session(this);
}

void session::start() {
  // Hop onto the strand: every handler of this connection runs there.
  net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
    if (!self->server_.add_session(self)) return self->do_close();
    self->do_read();
  });
}

void session::stop_if_idle() {
  net::post(stream_.get_executor(), [self = shared_from_this()] {
    if (self->reading_) {
      beast::error_code ec;
      self->stream_.socket().shutdown(net::ip::tcp::socket::shutdown_both, ec);
      self->stream_.cancel();
    }
  });
}

void session::do_read() {
  if (server_.draining()) return do_close();
  parser_.emplace();  // a parser reads one message: a fresh one per request
  parser_->header_limit(header_limit);
  parser_->body_limit(body_limit);
  reading_ = true;
  stream_.expires_after(read_timeout);
  http::async_read(stream_, buffer_, *parser_,
                   beast::bind_front_handler(&session::on_read, shared_from_this()));
}

void session::on_read(beast::error_code ec, std::size_t) {
  reading_ = false;
  started_ = pool::clock::now();
  if (ec) spdlog::debug("read: {}", ec.message());
  if (ec == http::error::end_of_stream) return do_close();  // the client closed: expected
  if (ec == net::error::operation_aborted || ec == beast::error::timeout) return do_close();
  if (ec == http::error::body_limit || ec == http::error::header_limit || is_http_parse_error(ec)) {
    // The stream cannot be resynchronised after a bad message: answer, then close.
    keep_alive_ = false;
    version_ = 11;
    if (ec == http::error::body_limit)
      return send(
          error_reply(413, "request body larger than " + std::to_string(body_limit) + " bytes"));
    if (ec == http::error::header_limit)
      return send(error_reply(
          431, "request headers larger than " + std::to_string(header_limit) + " bytes"));
    return send(error_reply(400, "malformed HTTP request: " + ec.message()));
  }
  if (ec) return do_close();
  handle(parser_->release());
}

void session::handle(http::request<http::string_body>&& req) {
  keep_alive_ = req.keep_alive() && !server_.draining();
  version_ = req.version();
  auto routed =
      route({to_std(req.method_string()), to_std(req.target()), req.body()}, server_.router());
  if (auto* call = std::get_if<job_call>(&routed)) return submit(std::move(*call));
  if (std::holds_alternative<scrape>(routed))
    return send(reply{200, server_.metrics_text(), "text/plain; version=0.0.4; charset=utf-8", {}});
  send(std::move(std::get<reply>(routed)));
}

void session::submit(job_call&& call) {
  call_ = std::move(call);
  pool::job j;
  j.work = [fn = call_.fn, n = call_.n] { return (*fn)(n); };
  // The work guard keeps run() going until the answer is posted back, even when this
  // connection has no socket operation outstanding while the job runs.
  j.done = [self = shared_from_this(), ex = stream_.get_executor(),
            guard = net::make_work_guard(stream_.get_executor())](pool::job_result&& r) {
    net::post(ex, [self, r = std::move(r)]() mutable { self->on_job_done(std::move(r)); });
  };
  const auto outcome = server_.workers().try_submit(j);
  switch (outcome.status) {
    case pool::submit_status::accepted:
      spdlog::debug("{}({}) -> worker {}", call_.kind, call_.n, outcome.backend);
      return;
    case pool::submit_status::full: {
      reply r = job_error_reply(call_, 503, rpc_code::overloaded,
                                "server overloaded: worker " + std::to_string(outcome.backend) +
                                    "'s mailbox is full; retry later");
      r.headers.emplace_back("Retry-After", "1");
      return send(std::move(r));
    }
    case pool::submit_status::closed:
      keep_alive_ = false;
      return send(job_error_reply(call_, 503, rpc_code::shutting_down, "server is shutting down"));
  }
}

void session::on_job_done(pool::job_result&& r) {
  send(job_reply(call_, r));
}

void session::send(reply&& r) {
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
  beast::error_code ec;
  stream_.socket().shutdown(net::ip::tcp::socket::shutdown_send, ec);  // a clean FIN
}

}  // namespace server

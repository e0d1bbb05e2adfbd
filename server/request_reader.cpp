#include "server/request_reader.hpp"

#include <boost/beast/http/error.hpp>

namespace server {

namespace http = boost::beast::http;

void request_reader::reset() {
  parser_.emplace();  // a Beast parser reads one message: a fresh one per request
  parser_->header_limit(header_limit);
  parser_->body_limit(body_limit);
  parser_->eager(true);  // parse the body as it arrives, not only the header
  error_ = {};
}

request_reader::state request_reader::feed(boost::beast::flat_buffer& buffer) {
  while (buffer.size() > 0 && !parser_->is_done()) {
    boost::beast::error_code ec;
    const std::size_t used = parser_->put(buffer.data(), ec);
    buffer.consume(used);
    if (ec == http::error::need_more) break;
    if (ec) {
      error_ = ec;
      return state::failed;
    }
    if (used == 0) break;  // Beast wants more bytes before it can go on
  }
  if (parser_->is_done()) return state::complete;
  if (buffer.size() >= buffer.max_size()) {  // no room left to complete the message
    error_ = http::error::buffer_overflow;
    return state::failed;
  }
  return state::need_more;
}

request_reader::state request_reader::at_eof() {
  if (!parser_->got_some()) return state::need_more;
  boost::beast::error_code ec;
  parser_->put_eof(ec);
  // A request is never delimited by the end of the stream: a half-read one is malformed.
  error_ = ec ? ec : http::error::partial_message;
  return state::failed;
}

request request_reader::take() {
  request r = parser_->release();
  reset();
  return r;
}

unsigned request_reader::error_status() const noexcept {
  if (error_ == http::error::body_limit) return 413;
  if (error_ == http::error::header_limit || error_ == http::error::buffer_overflow) return 431;
  return 400;
}

std::string request_reader::error_message() const {
  switch (error_status()) {
    case 413:
      return "request body larger than " + std::to_string(body_limit) + " bytes";
    case 431:
      return "request headers larger than " + std::to_string(header_limit) + " bytes";
    default:
      return "malformed HTTP request: " + error_.message();
  }
}

}  // namespace server

#include "server/request_reader.hpp"

#include <stdexcept>

#include <boost/beast/http/error.hpp>
#include <boost/beast/http/rfc7230.hpp>

namespace server {

namespace http = boost::beast::http;

namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

}  // namespace

void request_reader::reset() {
  parser_.emplace();  // a Beast parser reads one message: a fresh one per request
  parser_->header_limit(header_limit);
  parser_->body_limit(body_limit);
  parser_->eager(true);  // parse the body as it arrives, not only the header
  parser_->on_chunk_header(chunk_header_);
  error_ = {};
  header_seen_ = false;
  expect_unmet_ = false;
  trailer_over_ = false;
}

request_reader::state request_reader::on_header() {
  header_seen_ = true;
  bool continue_asked = false;
  const auto [first, last] = parser_->get().equal_range(http::field::expect);
  for (auto f = first; f != last; ++f) {
    const auto& field = *f;
    // Expect = #expectation; 100-continue is the only one defined (RFC 9110 10.1.1).
    for (const auto& item : http::opt_token_list{field.value()}) {
      if (!iequals({item.data(), item.size()}, "100-continue")) {
        expect_unmet_ = true;
        return state::failed;
      }
      continue_asked = true;
    }
    if (field.value().find_first_not_of(" \t,") != boost::beast::string_view::npos &&
        !continue_asked) {
      expect_unmet_ = true;  // not a token list at all
      return state::failed;
    }
  }
  // An HTTP/1.0 client does not know 100 Continue: its expectation is ignored (10.1.1).
  return continue_asked && parser_->get().version() >= 11 ? state::continue_expected
                                                          : state::need_more;
}

void request_reader::on_chunk_header(std::uint64_t size, boost::beast::string_view extensions,
                                     boost::beast::error_code& ec) {
  if (size != 0) return;
  // The last chunk: Beast calls this once its trailer section is complete in the buffer,
  // just before parsing the fields; the section ends at the first empty line.
  const char* from = extensions.data() + extensions.size();
  if (from < window_begin_ || from > window_end_) return;  // not in the buffer: never so
  const std::string_view rest(from, static_cast<std::size_t>(window_end_ - from));
  const auto end = rest.find("\r\n\r\n");
  if (end != std::string_view::npos && end <= trailer_limit) return;
  trailer_over_ = true;
  ec = http::error::header_limit;
}

request_reader::state request_reader::feed(boost::beast::flat_buffer& buffer) {
  bool continue_asked = false;
  while (buffer.size() > 0 && !parser_->is_done()) {
    boost::beast::error_code ec;
    std::size_t used = 0;
    try {
      window_begin_ = static_cast<const char*>(buffer.data().data());
      window_end_ = window_begin_ + buffer.size();
      used = parser_->put(buffer.data(), ec);
    } catch (const std::length_error&) {
      // basic_fields throws for a field name or value over 64 KiB: only a trailer can get
      // there (the header limit is far below), and the bound below normally stops it first.
      trailer_over_ = true;
      error_ = http::error::header_limit;
      return state::failed;
    } catch (const std::exception&) {
      error_ = http::error::bad_value;
      return state::failed;
    }
    buffer.consume(used);
    if (!header_seen_ && parser_->is_header_done()) {
      switch (on_header()) {
        case state::failed:
          error_ = http::error::bad_value;
          return state::failed;
        case state::continue_expected:
          continue_asked = true;
          break;
        default:
          break;
      }
    }
    if (ec == http::error::need_more) break;
    if (ec) {
      error_ = ec;
      return state::failed;
    }
    if (used == 0) break;  // Beast wants more bytes before it can go on
  }
  if (parser_->is_done()) return state::complete;
  // Past the header Beast consumes body bytes as they come; what it leaves unconsumed is
  // one chunk-size line or the trailer section, which must fit the same limit as a header.
  if (parser_->is_header_done() && buffer.size() > trailer_limit) {
    trailer_over_ = true;
    error_ = http::error::header_limit;
    return state::failed;
  }
  if (buffer.size() >= buffer.max_size()) {  // no room left to complete the message
    error_ = http::error::buffer_overflow;
    return state::failed;
  }
  // The body has not (all) arrived: now is when the client waits for 100 Continue.
  if (continue_asked) return state::continue_expected;
  return state::need_more;
}

request_reader::state request_reader::at_eof() {
  if (!parser_->got_some()) return state::need_more;
  boost::beast::error_code ec;
  try {
    parser_->put_eof(ec);
  } catch (const std::exception&) {
  }
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
  if (expect_unmet_) return 417;
  if (error_ == http::error::body_limit) return 413;
  if (trailer_over_ || error_ == http::error::header_limit ||
      error_ == http::error::buffer_overflow)
    return 431;
  return 400;
}

std::string request_reader::error_message() const {
  if (expect_unmet_) return "unsupported expectation: only 'Expect: 100-continue' is supported";
  if (trailer_over_)
    return "request trailer fields larger than " + std::to_string(trailer_limit) + " bytes";
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

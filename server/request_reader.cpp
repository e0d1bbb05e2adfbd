#include "server/request_reader.hpp"

#include <algorithm>
#include <iterator>
#include <stdexcept>
#include <string_view>
#include <vector>

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/rfc7230.hpp>

namespace server {

namespace http = boost::beast::http;

namespace {

std::string_view to_std(boost::beast::string_view s) {
  return {s.data(), s.size()};
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool is_hex(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// RFC 9110 7.2: Host = uri-host [ ":" port ], uri-host as RFC 3986 has it (IP-literal,
// IPv4address or reg-name), port = *DIGIT. A comma is refused too: it would make one Host
// field line read as a list of two.
bool valid_host(std::string_view v) {
  std::string_view port;
  if (!v.empty() && v.front() == '[') {
    const auto close = v.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    for (const char c : v.substr(1, close - 1))
      if (!is_hex(c) && c != ':' && c != '.' && c != 'v' && c != 'V') return false;
    const auto rest = v.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return false;
    port = rest.empty() ? rest : rest.substr(1);
  } else {
    const auto colon = v.find(':');
    const auto host = v.substr(0, colon);
    if (colon != std::string_view::npos) port = v.substr(colon + 1);
    for (std::size_t i = 0; i < host.size(); ++i) {
      const char c = host[i];
      const bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) ||
                              c == '-' || c == '.' || c == '_' || c == '~';
      const bool sub_delim = std::string_view("!$&'()*+;=").find(c) != std::string_view::npos;
      if (c == '%') {
        if (i + 2 >= host.size() || !is_hex(host[i + 1]) || !is_hex(host[i + 2])) return false;
        i += 2;
        continue;
      }
      if (!unreserved && !sub_delim) return false;
    }
  }
  for (const char c : port)
    if (!is_digit(c)) return false;
  return true;
}

// Where the header section ends in `bytes`, which start at a line of it (Beast consumes the
// request line and each field line as it parses them): just past the empty line, or 0.
std::size_t header_end(std::string_view bytes) {
  if (bytes.substr(0, 2) == "\r\n") return 2;
  const auto at = bytes.find("\r\n\r\n");
  return at == std::string_view::npos ? 0 : at + 4;
}

// Whether the request line names HTTP with a major version other than 1 (Beast reads only
// 1.0 and 1.1, and calls anything else malformed).
bool other_major_version(std::string_view bytes) {
  const auto line = bytes.substr(0, bytes.find('\n'));
  const auto space = line.rfind(' ');
  if (space == std::string_view::npos) return false;
  const auto version = line.substr(space + 1);
  return version.size() >= 8 && version.substr(0, 5) == "HTTP/" && is_digit(version[5]) &&
         version[5] != '1' && version[6] == '.' && is_digit(version[7]);
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
  header_consumed_ = 0;
  header_bytes_ = 0;
  header_fields_.clear();
  close_after_ = false;
  status_ = 0;
  message_.clear();
}

request_reader::state request_reader::fail(unsigned status, std::string message) {
  status_ = status;
  message_ = std::move(message);
  if (error_ == boost::beast::error_code{})
    error_ = status == 431 ? http::error::header_limit : http::error::bad_value;
  return state::failed;
}

request_reader::state request_reader::on_header() {
  header_seen_ = true;
  const auto& h = parser_->get();
  note_header_end();
  // Beast bounds the request line and the field lines apart, not the section as a whole.
  if (header_bytes_ > header_limit)
    return fail(431, "request headers larger than " + std::to_string(header_limit) + " bytes");
  if (h.version() / 10 != 1)  // RFC 9110 6.2: HTTP/1.x only
    return fail(505, "HTTP version not supported: only HTTP/1.0 and HTTP/1.1 are");

  // The header section's fields named `name`. When the whole message came in one put(),
  // Beast has parsed the trailer too and added its fields: those are not looked at here.
  const auto header_values = [&](http::field name) {
    std::vector<boost::beast::string_view> values;
    for (auto [f, last] = h.equal_range(name); f != last; ++f)
      if (in_header(*f)) values.push_back(f->value());
    return values;
  };

  // RFC 9112 3.2: exactly one Host in HTTP/1.1 (at most one in 1.0), and a valid one.
  const auto hosts = header_values(http::field::host);
  if (hosts.empty() && h.version() >= 11) return fail(400, "missing Host header field");
  if (hosts.size() > 1) return fail(400, "more than one Host header field");
  if (hosts.size() == 1 && !valid_host(to_std(hosts.front())))
    return fail(400, "invalid Host header field value");

  // RFC 9112 6.1 and 6.3: chunked, once and last, is the only transfer coding read here.
  const auto encodings = header_values(http::field::transfer_encoding);
  if (!encodings.empty()) {
    std::vector<boost::beast::string_view> codings;
    for (const auto& value : encodings)
      for (const auto& c : http::token_list{value}) codings.push_back(c);
    const auto chunked = std::count_if(
        codings.begin(), codings.end(),
        [](boost::beast::string_view c) { return boost::beast::iequals(c, "chunked"); });
    if (codings.empty() || chunked != 1 || !boost::beast::iequals(codings.back(), "chunked"))
      return fail(400, "Transfer-Encoding must end in chunked, once: the body cannot be framed");
    if (codings.size() > 1)
      return fail(501, "transfer codings other than chunked are not implemented");
    // An HTTP/1.0 message with Transfer-Encoding has faulty framing: close after it.
    if (h.version() < 11) close_after_ = true;
  }

  bool continue_asked = false;
  for (const auto& value : header_values(http::field::expect)) {
    // Expect = #expectation; 100-continue is the only one defined (RFC 9110 10.1.1).
    bool any = false;
    for (const auto& item : http::opt_token_list{value}) {
      any = true;
      if (!boost::beast::iequals(item, "100-continue"))
        return fail(417, "unsupported expectation: only 'Expect: 100-continue' is supported");
      continue_asked = true;
    }
    if (!any && value.find_first_not_of(" \t,") != boost::beast::string_view::npos)
      return fail(417, "unsupported expectation: only 'Expect: 100-continue' is supported");
  }
  // An HTTP/1.0 client does not know 100 Continue: its expectation is ignored (10.1.1).
  return continue_asked && h.version() >= 11 ? state::continue_expected : state::need_more;
}

void request_reader::on_chunk_header(std::uint64_t size, boost::beast::string_view extensions,
                                     boost::beast::error_code& ec) {
  note_header_end();  // the first chunk may come in the same put() as the header
  if (size != 0) return;
  // The last chunk: Beast calls this once its trailer section is complete in the buffer,
  // just before parsing the fields; the section ends at the first empty line. The fields
  // there now are the header's (a chunked message has one at least: Transfer-Encoding).
  header_fields_.clear();
  // As value_type, the class in_header() sees: Beast's iterators give its derived element.
  for (const http::fields::value_type& f : parser_->get()) header_fields_.push_back(&f);
  std::sort(header_fields_.begin(), header_fields_.end(), std::less<const void*>());
  const char* from = extensions.data() + extensions.size();
  if (from < window_begin_ || from > window_end_) return;  // not in the buffer: never so
  const std::string_view rest(from, static_cast<std::size_t>(window_end_ - from));
  const auto end = rest.find("\r\n\r\n");
  if (end != std::string_view::npos && header_bytes_ + end <= header_limit) return;
  fail(431, "request header and trailer fields larger than " + std::to_string(header_limit) +
                " bytes together");
  ec = http::error::header_limit;
}

bool request_reader::in_header(const http::fields::value_type& field) const noexcept {
  return header_fields_.empty() ||
         std::binary_search(header_fields_.begin(), header_fields_.end(),
                            static_cast<const void*>(&field), std::less<const void*>());
}

void request_reader::note_header_end() {
  if (header_bytes_ != 0) return;
  header_bytes_ =
      header_consumed_ +
      header_end({window_begin_, static_cast<std::size_t>(window_end_ - window_begin_)});
}

request_reader::state request_reader::feed(boost::beast::flat_buffer& buffer) {
  bool continue_asked = false;
  while (buffer.size() > 0 && !parser_->is_done()) {
    boost::beast::error_code ec;
    std::size_t used = 0;
    window_begin_ = static_cast<const char*>(buffer.data().data());
    window_end_ = window_begin_ + buffer.size();
    try {
      used = parser_->put(buffer.data(), ec);
    } catch (const std::length_error&) {
      // basic_fields throws for a field name or value over 64 KiB: only a trailer can get
      // there (the header limit is far below), and on_chunk_header normally stops it first.
      return fail(431,
                  "request trailer fields larger than " + std::to_string(header_limit) + " bytes");
    } catch (const std::exception&) {
      return fail(400, "malformed HTTP request");
    }
    if (!header_seen_ && parser_->is_header_done()) {
      switch (on_header()) {
        case state::failed:
          return state::failed;
        case state::continue_expected:
          continue_asked = true;
          break;
        default:
          break;
      }
    }
    if (!parser_->is_header_done()) header_consumed_ += used;
    buffer.consume(used);
    if (ec == http::error::need_more) break;
    if (ec) {
      error_ = ec;
      if (status_ != 0) return state::failed;  // decided in on_chunk_header
      if (ec == http::error::header_limit && !parser_->is_header_done()) return too_long(buffer);
      if (ec == http::error::bad_version && header_consumed_ == 0 &&
          other_major_version({static_cast<const char*>(buffer.data().data()), buffer.size()}))
        return fail(505, "HTTP version not supported: only HTTP/1.0 and HTTP/1.1 are");
      return state::failed;
    }
    if (used == 0) break;  // Beast wants more bytes before it can go on
  }
  if (parser_->is_done()) return state::complete;
  if (!parser_->is_header_done()) {
    // Beast consumes the request line and field lines as it parses them; the buffer holds
    // the rest so far.
    if (header_consumed_ + buffer.size() > header_limit) return too_long(buffer);
  } else if (buffer.size() >
             std::max<std::size_t>(
                 header_limit - std::min<std::size_t>(header_bytes_, header_limit), 256)) {
    // Past the header Beast consumes body bytes as they come; what it leaves is one
    // chunk-size line or the trailer section, bounded with the header.
    return fail(431, "request header and trailer fields larger than " +
                         std::to_string(header_limit) + " bytes together");
  }
  if (buffer.size() >= buffer.max_size()) {  // no room left to complete the message
    error_ = http::error::buffer_overflow;
    return state::failed;
  }
  // The body has not (all) arrived: now is when the client waits for 100 Continue.
  if (continue_asked) return state::continue_expected;
  return state::need_more;
}

request_reader::state request_reader::too_long(const boost::beast::flat_buffer& buffer) {
  const std::string_view bytes(static_cast<const char*>(buffer.data().data()),
                               std::min<std::size_t>(buffer.size(), header_limit));
  // RFC 9112 3: the request line (not yet parsed, so still here) is what is too long.
  if (header_consumed_ == 0 && bytes.find('\n') == std::string_view::npos)
    return fail(414, "request line longer than " + std::to_string(header_limit) + " bytes");
  return fail(431, "request headers larger than " + std::to_string(header_limit) + " bytes");
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
  // Trailer fields are not merged into the header section (RFC 9112 7.1.2): a Connection
  // or Content-Length sent as a trailer means nothing here.
  if (!header_fields_.empty()) {
    auto& fields = parser_->get();
    for (auto it = fields.begin(); it != fields.end();)
      it = in_header(*it) ? std::next(it) : fields.erase(it);
  }
  request r = parser_->release();
  if (close_after_) r.keep_alive(false);
  reset();
  return r;
}

unsigned request_reader::error_status() const noexcept {
  if (status_ != 0) return status_;
  if (error_ == http::error::body_limit) return 413;
  if (error_ == http::error::header_limit || error_ == http::error::buffer_overflow) return 431;
  return 400;
}

std::string request_reader::error_message() const {
  if (status_ != 0) return message_;
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

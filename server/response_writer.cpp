#include "server/response_writer.hpp"

#include <chrono>

#include <boost/beast/http/status.hpp>

#include "observability/json_number.hpp"

namespace server {

using observability::append_uint;

namespace {

void append_two_digits(std::string& out, int v) {
  out += static_cast<char>('0' + v / 10);
  out += static_cast<char>('0' + v % 10);
}

// RFC 9110 6.6.1: an origin server with a clock sends Date. Formatted once a second per IO
// thread: the hot path pays a clock read and a copy.
const std::string& current_http_date() {
  thread_local std::time_t formatted_at = -1;
  thread_local std::string text;
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  if (now != formatted_at) {
    text.clear();
    append_http_date(text, now);
    formatted_at = now;
  }
  return text;
}

}  // namespace

void append_http_date(std::string& out, std::time_t t) {
  // Not strftime: its day and month names follow the locale, the format's are English.
  static constexpr const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::tm tm{};
  gmtime_r(&t, &tm);
  out += days[tm.tm_wday];
  out += ", ";
  append_two_digits(out, tm.tm_mday);
  out += ' ';
  out += months[tm.tm_mon];
  out += ' ';
  append_uint(out, static_cast<unsigned>(tm.tm_year + 1900));
  out += ' ';
  append_two_digits(out, tm.tm_hour);
  out += ':';
  append_two_digits(out, tm.tm_min);
  out += ':';
  append_two_digits(out, tm.tm_sec);
  out += " GMT";
}

void write_response(std::string& out, const reply& r, const response_framing& f) {
  namespace http = boost::beast::http;
  const auto reason = http::obsolete_reason(static_cast<http::status>(r.status));
  out.clear();
  // RFC 9110 6.2: the highest version the server conforms to within the request's major
  // version, so HTTP/1.1 to an HTTP/1.0 client too (it reads the status line's major only).
  out += "HTTP/1.1 ";
  append_uint(out, r.status);
  out += ' ';  // RFC 9112 4: the space is sent even when the reason phrase is empty
  out.append(reason.data(), reason.size());
  out += "\r\n";
  if (r.status < 200) {  // an interim response: the final one carries the fields
    out += "\r\n";
    return;
  }
  // Responses that never have content, whatever the request (RFC 9112 6.3).
  const bool content = r.status != 204 && r.status != 304;
  out += "Date: ";
  out += current_http_date();
  out += "\r\nServer: poolserver\r\n";
  if (content) {
    out += "Content-Type: ";
    out += r.content_type;
    out += "\r\nContent-Length: ";
    append_uint(out, r.body.size());
    out += "\r\n";
  }
  for (const auto& [name, value] : r.headers) {
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  }
  // An HTTP/1.1 client assumes the connection stays open and an HTTP/1.0 one that it closes,
  // unless told otherwise; a close is said in either case, as the status line says 1.1.
  if (f.version == 10 && f.keep_alive) out += "Connection: keep-alive\r\n";
  if (!f.keep_alive) out += "Connection: close\r\n";
  out += "\r\n";
  if (!f.head && content) out += r.body;
}

}  // namespace server

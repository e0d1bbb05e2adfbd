#pragma once
// A client connection that writes raw bytes and reads responses as bytes, for tests about
// the wire itself: what exactly the server sent (interim responses, field lines, framing)
// and when it closed. Every response read is checked for the rules any response must keep
// (check_response), so each test checks them on every answer it gets.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstddef>
#include <ctime>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace test {

/// One response as read off the wire.
struct raw_response {
  std::string head;  ///< the bytes of the status line and the field lines, up to CRLF CRLF
  std::string version;
  unsigned status = 0;
  std::string reason;
  std::vector<std::pair<std::string, std::string>> fields;  ///< in order, values trimmed
  std::string body;

  /// The value of the first field named `name` (case-insensitive), if any.
  std::optional<std::string> field(std::string_view name) const {
    for (const auto& [n, v] : fields)
      if (same_name(n, name)) return v;
    return std::nullopt;
  }
  /// How many field lines are named `name`.
  std::size_t count(std::string_view name) const {
    return static_cast<std::size_t>(std::count_if(
        fields.begin(), fields.end(), [&](const auto& f) { return same_name(f.first, name); }));
  }
  /// Whether the Connection field lists `option`.
  bool connection_has(std::string_view option) const {
    const auto value = field("Connection");
    if (!value) return false;
    std::string lower;
    for (const char c : *value)
      lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return lower.find(option) != std::string::npos;
  }

  static bool same_name(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
             return std::tolower(static_cast<unsigned char>(x)) ==
                    std::tolower(static_cast<unsigned char>(y));
           });
  }
};

/// The rules every response of this server keeps (RFC 9112 2.2, 4, 5, 6.1; RFC 9110 5.3,
/// 5.6.7, 6.6.1, 8.6): CRLF line ends only, "HTTP/1.1 SP 3DIGIT SP reason", no whitespace
/// before the first field or the colon, each field name once, no Transfer-Encoding, a Date in
/// IMF-fixdate for every final response, a Content-Length except on 1xx, 204 and 304.
inline void check_response(const raw_response& r) {
  CAPTURE(r.head);
  for (std::size_t i = 0; i < r.head.size(); ++i) {
    if (r.head[i] == '\r') CHECK((i + 1 < r.head.size() && r.head[i + 1] == '\n'));  // no bare CR
    if (r.head[i] == '\n') CHECK((i > 0 && r.head[i - 1] == '\r'));                  // no bare LF
  }
  static const std::regex status_line(R"(HTTP/1\.1 [1-5][0-9][0-9] [\x21-\x7e][\x20-\x7e]*\r\n)");
  CHECK(std::regex_search(r.head, status_line, std::regex_constants::match_continuous));
  static const std::regex field_line(R"([!#$%&'*+.^_`|~0-9A-Za-z-]+:)");
  for (const auto& [name, value] : r.fields) {
    CHECK(std::regex_match(name + ":", field_line));  // a token, nothing before the colon
    CHECK(r.count(name) == 1);
    CHECK(value.find('\0') == std::string::npos);
  }
  CHECK_FALSE(r.field("Transfer-Encoding"));
  const bool interim = r.status < 200;
  if (interim || r.status == 204 || r.status == 304) {
    CHECK_FALSE(r.field("Content-Length"));
  } else {
    CHECK(r.field("Content-Length"));
  }
  if (!interim) {
    const auto date = r.field("Date");
    REQUIRE(date);
    static const std::regex imf_fixdate(
        R"((Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-3][0-9] )"
        R"((Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} )"
        R"([0-2][0-9]:[0-5][0-9]:[0-6][0-9] GMT)");
    CHECK(std::regex_match(*date, imf_fixdate));
    // UTC, not local time: within a day of this machine's clock (no timing is measured).
    std::tm tm{};
    REQUIRE(::strptime(date->c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm) != nullptr);
    const auto sent = ::timegm(&tm);
    const auto now = std::time(nullptr);
    CHECK(sent <= now + 60);
    CHECK(sent >= now - 24 * 3600);
  }
}

class raw_connection {
 public:
  /// Connects to 127.0.0.1:`port`; a read waits at most `receive_timeout_s`.
  explicit raw_connection(unsigned short port, int receive_timeout_s = 10)
      : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    REQUIRE(fd_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    timeval tv{receive_timeout_s, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  raw_connection(const raw_connection&) = delete;
  raw_connection& operator=(const raw_connection&) = delete;
  ~raw_connection() { ::close(fd_); }

  /// Writes all of `bytes`; false if the server has closed (or reset) the connection.
  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      const auto n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }
  /// Half-closes: the server reads EOF after what was sent.
  void shutdown_send() { ::shutdown(fd_, SHUT_WR); }

  /// Reads the next response, checked with check_response; nothing when the connection
  /// ended (EOF, reset, or the receive timeout) before a whole one arrived. `head`: the
  /// request was HEAD, so no body follows whatever Content-Length says.
  std::optional<raw_response> read(bool head = false) {
    std::size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos)
      if (!fill()) return std::nullopt;
    raw_response r;
    r.head = buffer_.substr(0, end + 4);
    buffer_.erase(0, end + 4);
    const auto line_end = r.head.find("\r\n");
    const std::string line = r.head.substr(0, line_end);
    const auto sp1 = line.find(' ');
    const auto sp2 = line.find(' ', sp1 + 1);
    if (sp1 == std::string::npos) return std::nullopt;
    r.version = line.substr(0, sp1);
    const std::string code = line.substr(sp1 + 1, sp2 - sp1 - 1);
    std::from_chars(code.data(), code.data() + code.size(), r.status);
    if (sp2 != std::string::npos) r.reason = line.substr(sp2 + 1);
    for (auto pos = line_end + 2; pos < end;) {
      const auto next = r.head.find("\r\n", pos);
      const std::string field = r.head.substr(pos, next - pos);
      const auto colon = field.find(':');
      std::string value = colon == std::string::npos ? "" : field.substr(colon + 1);
      const auto first = value.find_first_not_of(" \t");
      value = first == std::string::npos
                  ? ""
                  : value.substr(first, value.find_last_not_of(" \t") - first + 1);
      r.fields.emplace_back(field.substr(0, colon), std::move(value));
      pos = next + 2;
    }
    check_response(r);
    const bool no_content = head || r.status < 200 || r.status == 204 || r.status == 304;
    if (const auto length = r.field("Content-Length"); length && !no_content) {
      std::size_t n = 0;
      std::from_chars(length->data(), length->data() + length->size(), n);
      while (buffer_.size() < n)
        if (!fill()) return std::nullopt;
      r.body = buffer_.substr(0, n);
      buffer_.erase(0, n);
    }
    return r;
  }

  /// Reads the next response and checks that it is a final one: an interim 100 Continue
  /// before it is skipped (and reported through `saw_continue`).
  std::optional<raw_response> read_final(bool* saw_continue = nullptr) {
    auto r = read();
    if (r && r->status == 100) {
      if (saw_continue) *saw_continue = true;
      r = read();
    }
    return r;
  }

  /// True once the server has closed the connection (EOF or reset) with no byte unread;
  /// false if a byte arrives or the receive timeout passes first.
  bool closed_by_server() {
    if (!buffer_.empty()) return false;
    char c;
    const auto n = ::recv(fd_, &c, 1, 0);
    if (n == 1) buffer_ += c;
    return n == 0 || (n < 0 && errno == ECONNRESET);
  }

  /// Bytes received and not yet read as a response.
  const std::string& unread() const { return buffer_; }

 private:
  bool fill() {
    char chunk[16 * 1024];
    const auto n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<std::size_t>(n));
    return true;
  }

  int fd_;
  std::string buffer_;
};

}  // namespace test

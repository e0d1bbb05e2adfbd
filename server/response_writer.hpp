#pragma once
// Serialises a reply as HTTP/1.x bytes, in one contiguous buffer: one write per response.

#include <ctime>
#include <string>

#include "server/router.hpp"

namespace server {

/// What a response says besides the reply itself.
struct response_framing {
  unsigned version = 11;   ///< of the request: 10 or 11
  bool keep_alive = true;  ///< the connection stays open after this response
  bool head = false;       ///< the request was HEAD: headers only (Content-Length included)
};

/// Replaces `out` with the response: an HTTP/1.1 status line, Date, Server, Content-Type,
/// Content-Length, the reply's own headers, Connection (keep-alive to an HTTP/1.0 client that
/// asked for it, close whenever the connection closes), then the body.
/// A 1xx, 204 or 304 reply has no content (RFC 9110 8.6, RFC 9112 6.3): no Content-Type,
/// Content-Length or body; a 1xx is its status line alone.
void write_response(std::string& out, const reply& r, const response_framing& f);

/// Appends `t` as an IMF-fixdate (RFC 9110 5.6.7), e.g. "Sun, 06 Nov 1994 08:49:37 GMT".
void append_http_date(std::string& out, std::time_t t);

}  // namespace server

#include "server/response_writer.hpp"

#include <boost/beast/http/status.hpp>

#include "workers/json_number.hpp"

namespace server {

using workers::append_uint;

void write_response(std::string& out, const reply& r, const response_framing& f) {
  namespace http = boost::beast::http;
  const auto reason = http::obsolete_reason(static_cast<http::status>(r.status));
  out.clear();
  out += f.version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  append_uint(out, r.status);
  out += ' ';
  out.append(reason.data(), reason.size());
  out += "\r\nServer: poolserver\r\nContent-Type: ";
  out += r.content_type;
  out += "\r\nContent-Length: ";
  append_uint(out, r.body.size());
  out += "\r\n";
  for (const auto& [name, value] : r.headers) {
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  }
  // HTTP/1.1 keeps a connection open unless told otherwise, HTTP/1.0 closes it.
  if (f.version == 10 && f.keep_alive) out += "Connection: keep-alive\r\n";
  if (f.version != 10 && !f.keep_alive) out += "Connection: close\r\n";
  out += "\r\n";
  if (!f.head) out += r.body;
}

}  // namespace server

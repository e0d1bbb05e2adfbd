#pragma once
// The actor wire protocol's messages (see framing.hpp for how they are delimited):
//   server → actor: {"id": <integer>, "method": "square_sum", "args": [<n>]}
//   actor → server: {"id": <same id>, "value": <result or null>, "pid": <the actor's process id>}
//                or {"id": <same id>, "error": "<message>"}
// A pid is a process id only from 1 to 2^63-1; any other number (0, negative, larger, with a
// fraction) is read as 0, "no process id", and the reply still counts.
// Ids are unique per server; replies may come in any order. Unknown extra fields are
// ignored, so either side may add some without breaking the other.

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

namespace actor {

/// A job as the server sends it.
struct job_request {
  std::uint64_t id = 0;
  std::string method;
  std::uint64_t n = 0;
  /// Non-empty when the message is well formed but its args are not [n] with n a
  /// non-negative integer: the actor answers this id with this error.
  std::string invalid_args;
};

/// An actor's answer to one job.
struct job_reply {
  std::uint64_t id = 0;
  bool ok = false;       ///< true: `value` and `pid`; false: `error`
  double value = 0;      ///< NaN when the actor sent null (its result was not finite)
  std::int64_t pid = 0;  ///< 1..2^63-1, or 0: the actor gave no valid one
  std::string error;
};

/// A message that breaks the protocol: the connection that sent it is closed.
struct malformed {
  std::string reason;
};

/// Appends one framed message (JSON and its NUL).
void append_request(std::string& out, std::uint64_t id, std::string_view method, std::uint64_t n);
void append_value(std::string& out, std::uint64_t id, double value, std::int64_t pid);
void append_error(std::string& out, std::uint64_t id, std::string_view message);

/// Reads one message (without its NUL).
std::variant<job_request, malformed> parse_request(std::string_view text);
std::variant<job_reply, malformed> parse_reply(std::string_view text);

}  // namespace actor

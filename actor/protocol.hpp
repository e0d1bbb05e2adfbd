#pragma once
// The actor wire protocol's messages (see framing.hpp for how they are delimited). The seed's:
//   server → actor: {"id": <integer>, "method": "square_sum", "args": [<n>]}
//   actor → server: {"id": <same id>, "value": <result or null>, "pid": <the actor's process id>}
//                or {"id": <same id>, "error": "<message>"}
// A pid is a process id only from 1 to 2^63-1; any other number (0, negative, larger, with a
// fraction) is read as 0, "no process id", and the reply still counts.
// Ids are unique per server; replies may come in any order. Unknown extra fields are
// ignored, so either side may add some without breaking the other.
//
// The lifecycle messages, each used only once the peer announced it speaks them (a seed peer
// never sees one; docs/actors.md has the whole exchange):
//   actor → server, first:  {"hello": {"pid": P, "kinds": ["square_sum", ...], "capacity": C,
//                                      "workers": W, "version": "...", "token": "..."}}
//   server → actor:         {"welcome": {"version": "...", "max_in_flight": M}}
//                        or {"refused": "<why>"}, and the server closes the connection
//   server → greeted actor: jobs gain "deadline_ms": <ms left before the request's deadline>
//                           {"cancel": <id>, "reason": "client_gone"}: stop that job; the actor
//                           answers it as usual (an error, if it stopped it)
//   actor → server:         {"leave": true}: send no new job; the server closes the connection
//                           once every job in flight there is answered

#include <cstdint>
#include <string>
#include <optional>
#include <string_view>
#include <variant>
#include <vector>

namespace actor {

/// A job as the server sends it.
struct job_request {
  std::uint64_t id = 0;
  std::string method;
  std::uint64_t n = 0;
  /// Non-empty when the message is well formed but its args are not [n] with n a
  /// non-negative integer: the actor answers this id with this error.
  std::string invalid_args;
  /// Milliseconds left before the job's request is answered without it (greeted actors only).
  std::optional<std::uint64_t> deadline_ms;
};

/// An actor's greeting: who it is and what it offers.
struct hello {
  std::int64_t pid = 0;            ///< 1..2^63-1, or 0: none valid
  std::vector<std::string> kinds;  ///< the job kinds it runs (names checked by the server)
  std::uint64_t capacity = 0;      ///< jobs it takes at once (0: it did not say)
  std::uint64_t workers = 0;       ///< threads that run them (0: it did not say)
  std::string version;
  std::string token;  ///< the shared secret, when the server asks for one (ACTOR_TOKEN)
};
/// The actor leaves: no new job for it.
struct leave {};
/// The server admits a greeted actor.
struct welcome {
  std::string version;
  std::uint64_t max_in_flight = 0;  ///< jobs the server sends it at once, at most
};
/// The server refuses the actor, and closes the connection.
struct refused {
  std::string reason;
};
/// The server no longer needs the job with this id.
struct cancel {
  std::uint64_t id = 0;
  std::string reason;  ///< deadline, client_gone, shutdown (informative)
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
void append_request(std::string& out, std::uint64_t id, std::string_view method, std::uint64_t n,
                    std::optional<std::uint64_t> deadline_ms = std::nullopt);
void append_value(std::string& out, std::uint64_t id, double value, std::int64_t pid);
void append_error(std::string& out, std::uint64_t id, std::string_view message);
void append_hello(std::string& out, const hello& h);
void append_leave(std::string& out);
void append_welcome(std::string& out, const welcome& w);
void append_refused(std::string& out, std::string_view reason);
void append_cancel(std::string& out, std::uint64_t id, std::string_view reason);

/// Reads one message (without its NUL).
std::variant<job_request, malformed> parse_request(std::string_view text);
std::variant<job_reply, malformed> parse_reply(std::string_view text);
/// Anything an actor may send: a reply, its greeting, or its leave.
using from_actor = std::variant<job_reply, hello, leave, malformed>;
from_actor parse_from_actor(std::string_view text);
/// Anything a server may send: a job, a welcome, a refusal, or a cancel.
using from_server = std::variant<job_request, welcome, refused, cancel, malformed>;
from_server parse_from_server(std::string_view text);

/// The most kinds a greeting may offer, and the longest name: past them it is malformed.
inline constexpr std::size_t max_kinds = 64;
inline constexpr std::size_t max_kind_name = 64;

}  // namespace actor

#pragma once
// The router: a pure function from a parsed request to a job to run or a reply to send.
// No sockets and no Beast types, so every route can be tested (and fuzzed) directly.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "pool/job.hpp"
#include "pool/remote_kinds.hpp"
#include "workers/job_registry.hpp"

namespace server {

/// What the router needs of a request.
struct request_view {
  std::string_view method;  ///< "GET", "POST", ...
  std::string_view target;  ///< as sent: path and query, or an absolute http URI
  std::string_view body;
  /// The admission headers as sent (field lines of one name joined by ", "); unset: not sent.
  std::optional<std::string_view> timeout_ms = std::nullopt;  ///< X-Request-Timeout-Ms
  std::optional<std::string_view> priority = std::nullopt;    ///< X-Priority
  std::optional<std::string_view> client_id = std::nullopt;   ///< X-Client-Id
};

/// The longest X-Request-Timeout-Ms / timeout_ms accepted (a day); REQUEST_TIMEOUT_MS caps it.
inline constexpr std::uint64_t max_client_timeout_ms = 86'400'000;
/// The longest X-Client-Id accepted, in bytes.
inline constexpr std::size_t max_client_id = 128;

/// A response to send as it is.
struct reply {
  unsigned status = 200;
  std::string body;
  std::string_view content_type = "application/json";
  std::vector<std::pair<std::string_view, std::string>> headers;  ///< Allow, Retry-After
};

/// A job to submit to the pool, and how to phrase its answer.
struct job_call {
  /// Registry name (the registry's copy, or remote_kinds': it outlives jobs).
  std::string_view kind;
  /// Points into the registry; null for a kind that only remote actors run.
  const workers::job_kind* fn = nullptr;
  std::uint64_t n = 0;
  bool jsonrpc = false;   ///< answer as JSON-RPC 2.0
  nlohmann::json rpc_id;  ///< the request's id, echoed back
  /// How long its client waits (X-Request-Timeout-Ms, timeout_ms), before REQUEST_TIMEOUT_MS
  /// caps it; unset: the client did not say.
  std::optional<std::chrono::milliseconds> timeout;
  pool::priority prio = pool::priority::normal;  ///< X-Priority, priority
};

/// The request asks for the metrics page (rendered by the server, which owns the counters).
struct scrape {};
/// The request asks whether the server takes work (the server knows whether it drains).
struct readiness {};
/// The request asks for /stats, the dashboard's JSON (rendered by the server).
struct stats_page {
  /// ?wait=MS: answer after this long, or at once when a drain begins (a long poll, so a
  /// watcher sees "draining" before the listener is gone). 0: answer now.
  std::chrono::milliseconds wait{0};
};

/// The longest ?wait= that /stats accepts.
inline constexpr std::chrono::milliseconds max_stats_wait{10'000};
/// The request asks for /dashboard, the live page (an asset of the server's).
struct dashboard_page {};

using route_result = std::variant<reply, job_call, scrape, readiness, stats_page, dashboard_page>;

struct router_context {
  const workers::job_registry& registry;
  std::uint64_t max_n;  ///< the largest n a job may ask for
  /// The kinds remote actors offer (null: none can): a kind the registry lacks runs there.
  const pool::remote_kinds* remote = nullptr;
};

/// Routes a request through the route table (server/router.cpp): GET (and HEAD) /, /metrics,
/// /stats, /dashboard, /healthz, /readyz, /<n>, /<kind>?n=<n>; POST /rpc. / and /<n> run the
/// registry's default kind. A job's deadline and priority come from the headers and from the
/// query (timeout_ms, priority) or the JSON-RPC request's members of those names; where two
/// say, the shorter deadline and the lower priority hold; a bad value is 400. The target is
/// origin-form or absolute-form (http://host/path); a method other than GET, HEAD and POST is 501,
/// one a route does not take 405 with its Allow; a path no route matches is 404 with route_help().
route_result route(const request_view& req, const router_context& ctx);

/// Every route of the table, in order: "/, POST /rpc, /metrics, ...".
std::string route_help();

/// The answer to a finished job: 200 with the result and who ran it ("worker": index, or
/// "actor": process id), 500 with the job's error, 504 when its deadline passed, 503 when
/// shutdown cancelled it or when its actor was lost and no backend had room for it.
reply job_reply(const job_call& call, const pool::job_result& r);
/// The answer to a job that was not run: a status (503, ...), a JSON-RPC code, a message, and
/// for a refusal a machine-readable reason (the "reason" member; JSON-RPC: error.data.reason).
reply job_error_reply(const job_call& call, unsigned status, int rpc_code, std::string_view message,
                      std::string_view reason = {});
/// The answer to a job stopped for `why` (deadline: 504; shed: 503 with Retry-After, reason
/// "sojourn"; shutdown or anything else: 503).
reply cancelled_reply(const job_call& call, pool::stop_reason why);
/// The answer to a job that admission refused: 503 at once, with Retry-After, the reason
/// (queue_delay, deadline, fair_share) and the wait it predicted against the limit.
reply shed_reply(const job_call& call, const pool::admission_verdict& v);
/// A request's preconditions (RFC 9110 13.1): its If-Match and If-None-Match values, each
/// field line of the same name joined with ", ". Unset: the field was not sent.
struct preconditions {
  std::optional<std::string> if_match;
  std::optional<std::string> if_none_match;
};

/// RFC 9110 13.2.2: the answer when a precondition fails (412, or 304 for a GET or HEAD
/// whose If-None-Match fails), or nothing when the request goes on. Call it only for a
/// request that would otherwise succeed (13.2.1). The resources here have no entity tags
/// and no modification dates: "If-Match: *" holds and a list of tags never matches;
/// "If-None-Match: *" fails and a list of tags holds; If-Unmodified-Since and
/// If-Modified-Since are ignored, as for a resource without a modification date.
std::optional<reply> precondition_failed(std::string_view method, const preconditions& p);

/// A plain JSON error: {"error": message, "status": status}.
reply error_reply(unsigned status, std::string_view message);

/// The largest n that GET / picks at random below (if MAX_N allows).
inline constexpr std::uint64_t random_n_bound = 100'000'000;

/// JSON-RPC 2.0 error codes used by /rpc.
namespace rpc_code {
inline constexpr int parse_error = -32700;
inline constexpr int invalid_request = -32600;
inline constexpr int method_not_found = -32601;
inline constexpr int invalid_params = -32602;
inline constexpr int job_failed = -32000;
inline constexpr int overloaded = -32001;
inline constexpr int shutting_down = -32002;
inline constexpr int deadline_exceeded = -32003;
}  // namespace rpc_code

}  // namespace server

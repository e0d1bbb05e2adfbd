#pragma once
// What every answer of the router must satisfy, whatever the client sent. The fuzz targets
// call these on everything server::route returns; a violation prints what failed and
// aborts, which libFuzzer reports as a crash (and saves the input).

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include <nlohmann/json.hpp>

#include "pool/job.hpp"
#include "server/router.hpp"
#include "workers/job_registry.hpp"

namespace fuzz {

using json = nlohmann::json;

/// MAX_N's default, as the server runs.
inline constexpr std::uint64_t max_n = 1'000'000'000;

[[noreturn]] inline void fail(const char* what, const char* file, int line,
                              std::string_view detail) {
  std::fprintf(stderr, "%s:%d: fuzz invariant violated: %s\n", file, line, what);
  if (!detail.empty())
    std::fprintf(stderr, "  detail: %.*s\n",
                 static_cast<int>(std::min<std::size_t>(detail.size(), 4096)), detail.data());
  std::abort();
}

#define FUZZ_CHECK(cond, detail)                                    \
  do {                                                              \
    if (!(cond)) ::fuzz::fail(#cond, __FILE__, __LINE__, (detail)); \
  } while (0)

/// The context the server routes with: the shipped registry and the default MAX_N.
inline const server::router_context& context() {
  static const workers::job_registry registry = workers::default_registry();
  static const server::router_context ctx{registry, max_n};
  return ctx;
}

/// Sets a made-up job_result's outcome: 0 = the job returned a value, 1 = it threw,
/// 2 = it was cancelled, for the reason `why` (any byte, named reason or not).
inline void set_outcome(pool::job_result& r, unsigned pick, std::uint8_t why) {
  r.status = pick == 0   ? pool::job_status::completed
             : pick == 1 ? pool::job_status::failed
                         : pool::job_status::cancelled;
  r.started = pick != 2 || why % 2;
  // Any value of the enum's underlying type, named or not.
  if (pick == 2) r.stop = static_cast<pool::stop_reason>(why);
}

/// Checks one reply and returns its body, parsed. `rpc`: it answers POST /rpc, so it must
/// be a JSON-RPC 2.0 response object.
inline json check_reply(const server::reply& r, bool rpc) {
  FUZZ_CHECK(r.status >= 200 && r.status <= 599, r.body);
  FUZZ_CHECK(r.content_type == "application/json", r.body);
  for (const auto& [name, value] : r.headers) {
    FUZZ_CHECK(!name.empty() && name.find_first_of("\r\n: ") == std::string_view::npos, name);
    FUZZ_CHECK(value.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos, value);
  }
  if (r.status == 405)
    FUZZ_CHECK(std::any_of(r.headers.begin(), r.headers.end(),
                           [](const auto& h) { return h.first == "Allow"; }),
               r.body);

  const json body = json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  FUZZ_CHECK(!body.is_discarded(), r.body);
  FUZZ_CHECK(body.is_object(), r.body);
  if (r.status >= 400) FUZZ_CHECK(body.contains("error"), r.body);
  if (rpc) {
    FUZZ_CHECK(body.value("jsonrpc", json()) == "2.0", r.body);
    FUZZ_CHECK(body.contains("id"), r.body);
    if (r.status >= 400) {
      const auto& error = body["error"];
      FUZZ_CHECK(error.is_object(), r.body);
      FUZZ_CHECK(error.contains("code") && error["code"].is_number_integer(), r.body);
      FUZZ_CHECK(error.contains("message") && error["message"].is_string(), r.body);
      FUZZ_CHECK(!body.contains("result"), r.body);
    } else {
      FUZZ_CHECK(body.contains("result") && !body.contains("error"), r.body);
    }
  }
  return body;
}

/// Checks a job call, then the answers it can get: a result, a failure or a cancellation
/// (made up from `extra`, client bytes too) and a refusal (503).
inline void check_job_call(const server::job_call& call, bool rpc, std::string_view extra) {
  FUZZ_CHECK(call.fn != nullptr, call.kind);
  FUZZ_CHECK(call.n <= context().max_n, call.kind);
  FUZZ_CHECK(context().registry.find(call.kind) == call.fn, call.kind);
  FUZZ_CHECK(call.jsonrpc == rpc, call.kind);
  if (rpc)
    FUZZ_CHECK(call.rpc_id.is_string() || call.rpc_id.is_number() || call.rpc_id.is_null(),
               call.rpc_id.dump());

  // Any double (NaN, inf, denormals) from the input's first bytes; any bytes as the error.
  double value = 0;
  if (!extra.empty()) std::memcpy(&value, extra.data(), std::min(extra.size(), sizeof value));
  for (unsigned pick = 0; pick < 3; ++pick) {
    pool::job_result result;
    set_outcome(result, pick, extra.empty() ? 0 : static_cast<std::uint8_t>(extra[0]));
    result.value = value;
    result.error = std::string(extra);
    result.backend = extra.size() % 64;
    const server::reply r = server::job_reply(call, result);
    const json body = check_reply(r, rpc);
    if (pick == 0) {
      FUZZ_CHECK(r.status == 200, r.body);
      const json& fields = rpc ? body["result"] : body;
      FUZZ_CHECK(fields.value("value", json()) == call.n, r.body);
      FUZZ_CHECK(fields.contains("sum") && fields.contains("worker"), r.body);
    } else {
      FUZZ_CHECK(r.status >= 400, r.body);
    }
    if (rpc) FUZZ_CHECK(body["id"] == call.rpc_id, r.body);
  }
  const server::reply refused =
      server::job_error_reply(call, 503, server::rpc_code::overloaded, extra);
  FUZZ_CHECK(refused.status == 503, refused.body);
  const json body = check_reply(refused, rpc);
  if (rpc) FUZZ_CHECK(body["error"]["code"] == server::rpc_code::overloaded, refused.body);
}

/// The path a target names: origin-form as it is; absolute-form "http://host/path" (any case
/// of "http") from the path on, "/" when it has none; nothing for an http URI the server must
/// refuse (an empty host, userinfo). Written apart from the router's own parsing, so that the
/// two must agree.
inline std::optional<std::string_view> path_of(std::string_view target) {
  constexpr std::string_view scheme = "http://";
  const bool absolute =
      target.size() >= scheme.size() &&
      std::equal(scheme.begin(), scheme.end(), target.begin(), [](char s, char t) {
        return s == (t >= 'A' && t <= 'Z' ? static_cast<char>(t - 'A' + 'a') : t);
      });
  if (absolute) {
    const auto from = target.find_first_of("/?", scheme.size());
    const auto authority = target.substr(scheme.size(), from - scheme.size());
    if (authority.empty() || authority[0] == ':' || authority.find('@') != std::string_view::npos)
      return std::nullopt;
    if (from == std::string_view::npos || target[from] == '?') return "/";
    target = target.substr(from);
  }
  return target.substr(0, target.find('?'));
}

/// Routes a request the way the server does and checks whatever comes back.
inline void route_and_check(std::string_view method, std::string_view target,
                            std::string_view body) {
  const auto routed = server::route({method, target, body}, context());
  const std::string_view path = path_of(target).value_or("");
  const bool rpc = method == "POST" && path == "/rpc";
  if (const auto* r = std::get_if<server::reply>(&routed)) {
    check_reply(*r, rpc);
  } else if (const auto* call = std::get_if<server::job_call>(&routed)) {
    check_job_call(*call, rpc, body);
  } else {
    // A page the server renders itself (/metrics, /readyz, /stats, /dashboard): only ever for
    // GET or HEAD.
    FUZZ_CHECK(method == "GET" || method == "HEAD", target);
    if (std::holds_alternative<server::scrape>(routed)) FUZZ_CHECK(path == "/metrics", target);
    if (std::holds_alternative<server::readiness>(routed)) FUZZ_CHECK(path == "/readyz", target);
    if (std::holds_alternative<server::stats_page>(routed)) FUZZ_CHECK(path == "/stats", target);
    if (std::holds_alternative<server::dashboard_page>(routed))
      FUZZ_CHECK(path == "/dashboard", target);
  }
}

}  // namespace fuzz

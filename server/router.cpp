#include "server/router.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <optional>

#include <fmt/format.h>

#include "observability/json_number.hpp"
#include "pool/strategy.hpp"

namespace server {

using observability::append_json_double;
using observability::append_uint;

namespace {

using json = nlohmann::json;

// Invalid UTF-8 from a client must not make dump() throw: replace it.
std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

// Client text quoted in an error message, cut to a readable length.
std::string echo(std::string_view s) {
  constexpr std::size_t max = 64;
  std::string out = "'";
  out.append(s.substr(0, max));
  if (s.size() > max) out += "...";
  out += "'";
  return out;
}

// RFC 9110 9.1: GET and HEAD are required of every server; POST is /rpc's. Any other method
// (methods are case-sensitive: "get" is not GET) is one this server does not implement.
bool implemented(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "POST";
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// RFC 3986 3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
bool is_scheme(std::string_view s) {
  return !s.empty() && std::isalpha(static_cast<unsigned char>(s[0])) &&
         std::all_of(s.begin(), s.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.';
         });
}

// The path and query a request target names, or the reply that refuses the target.
struct resource {
  std::string_view path;
  std::string_view query;
  std::optional<reply> refusal;
};

// RFC 9112 3.2: the origin-form "/path?query" is what clients send to a server, but a server
// must accept the absolute-form "http://host/path?query" too (its host stands in for Host,
// which routing does not read); "*" is only for a server-wide OPTIONS, which is not served.
resource resource_of(std::string_view target) {
  if (target.empty() || target.front() != '/') {
    if (target == "*") return {{}, {}, error_reply(400, "the target '*' is only for OPTIONS")};
    const auto colon = target.find(':');
    if (colon == std::string_view::npos || !is_scheme(target.substr(0, colon)))
      return {{}, {}, error_reply(400, "request target must start with '/' or be an http URI")};
    const auto scheme = target.substr(0, colon);
    // RFC 9110 7.4: an https URI received over plain TCP must be refused; other schemes are
    // not this server's to answer either.
    if (!equals_ignoring_case(scheme, "http"))
      return {{}, {}, error_reply(421, "this server answers http URIs only, not " + echo(scheme))};
    auto rest = target.substr(colon + 1);
    if (rest.substr(0, 2) != "//")
      return {{}, {}, error_reply(400, "an http URI needs an authority: http://host/path")};
    rest.remove_prefix(2);
    const auto authority_end = rest.find_first_of("/?");
    const auto authority = rest.substr(0, authority_end);
    // RFC 9110 4.2.1: an http URI with an empty host is invalid; 4.2.4: userinfo is an error.
    if (authority.empty() || authority.front() == ':')
      return {{}, {}, error_reply(400, "the http URI has an empty host")};
    if (authority.find('@') != std::string_view::npos)
      return {{}, {}, error_reply(400, "the http URI must not carry userinfo ('@')")};
    target =
        authority_end == std::string_view::npos ? std::string_view{} : rest.substr(authority_end);
  }
  const auto qmark = target.find('?');
  resource r;
  r.path = target.substr(0, qmark);
  if (r.path.empty()) r.path = "/";  // http://host and http://host?q name the root
  if (qmark != std::string_view::npos) r.query = target.substr(qmark + 1);
  return r;
}

reply method_not_allowed(std::string_view allow) {
  reply r = error_reply(405, "method not allowed; use " + std::string(allow));
  r.headers.emplace_back("Allow", std::string(allow));
  return r;
}

// A parsed n, or the status and message that say why not.
struct n_or_error {
  std::uint64_t n = 0;
  unsigned status = 0;  // 0 when n is valid
  std::string message;
};

n_or_error parse_n(std::string_view text, std::uint64_t max_n) {
  if (text.empty()) return {0, 400, "n is missing; expected a non-negative integer"};
  if (!std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return {0, 400, "n must be a non-negative integer, got " + echo(text)};
  std::uint64_t n = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc{} || end != text.data() + text.size() || n > max_n)
    return {0, 422, "n must be at most " + std::to_string(max_n) + ", got " + echo(text)};
  return {n, 0, {}};
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decodes a query component ('+' is a space); nothing if an escape is malformed.
std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      const int hi = hex_value(s[i + 1]);
      const int lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += s[i] == '+' ? ' ' : s[i];
    }
  }
  return out;
}

// The value of the one `name=` parameter in a query string.
struct query_param {
  std::optional<std::string> value;
  std::string error;  // non-empty: the query is malformed
};

query_param find_param(std::string_view query, std::string_view name) {
  query_param out;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    const auto eq = pair.find('=');
    if (pair.substr(0, eq) != name) continue;  // other parameters are ignored
    if (out.value) return {std::nullopt, std::string(name) + " is given more than once"};
    auto decoded = percent_decode(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
    if (!decoded) return {std::nullopt, std::string(name) + " has a malformed percent-escape"};
    out.value = std::move(*decoded);
  }
  return out;
}

// A job's deadline and priority as its sources give them (headers, then the query or the
// JSON-RPC members): the shortest deadline and the lowest priority hold, so that a client
// cannot lift what a proxy in front of it set.
struct admission_fields {
  std::optional<std::chrono::milliseconds> timeout;
  std::optional<pool::priority> prio;
  std::string error;  // non-empty: the first bad value, as the 400 says it

  void timeout_from(std::string_view text, std::string_view what) {
    const auto t = parse_n(text, max_client_timeout_ms);
    if (t.status || t.n == 0) {
      fail(std::string(what) + " must be a whole number of milliseconds from 1 to " +
           std::to_string(max_client_timeout_ms) + ", got " + echo(text));
      return;
    }
    const std::chrono::milliseconds ms(t.n);
    if (!timeout || ms < *timeout) timeout = ms;
  }
  void priority_from(std::string_view text, std::string_view what) {
    const auto p = pool::parse_priority(text);
    if (!p) return fail(std::string(what) + " must be high, normal or low, got " + echo(text));
    if (!prio || *p > *prio) prio = *p;  // the enum runs from high to low
  }
  void fail(std::string message) {
    if (error.empty()) error = std::move(message);
  }
};

admission_fields header_fields(const request_view& req) {
  admission_fields f;
  if (req.timeout_ms) f.timeout_from(*req.timeout_ms, "X-Request-Timeout-Ms");
  if (req.priority) f.priority_from(*req.priority, "X-Priority");
  if (req.client_id && req.client_id->size() > max_client_id)
    f.fail("X-Client-Id must be at most " + std::to_string(max_client_id) + " bytes");
  return f;
}

route_result rpc_error(unsigned status, int code, std::string_view message, json id = nullptr);

// The call with its deadline and priority, or the 400 that names the bad value.
route_result with_admission(job_call call, admission_fields&& f) {
  if (!f.error.empty()) {
    if (call.jsonrpc) return rpc_error(400, rpc_code::invalid_request, f.error, call.rpc_id);
    return error_reply(400, f.error);
  }
  call.timeout = f.timeout;
  if (f.prio) call.prio = *f.prio;
  return call;
}

// Where a job kind runs: the registry's (local workers), one only remote actors offer now
// (fn stays null), one that actors offered but none does now, or none ever.
enum class kind_is { local, remote, gone, unknown };
kind_is resolve_kind(std::string_view name, const router_context& ctx, std::string_view& kind,
                     const workers::job_kind*& fn) {
  fn = ctx.registry.find(name, kind);
  if (fn) return kind_is::local;
  if (!ctx.remote) return kind_is::unknown;
  const auto found = ctx.remote->lookup(name);
  kind = found.name;
  switch (found.now) {
    case pool::remote_kinds::state::offered:
      return kind_is::remote;
    case pool::remote_kinds::state::gone:
      return kind_is::gone;
    case pool::remote_kinds::state::unknown:
      break;
  }
  return kind_is::unknown;
}

// A kind that actors offered and none offers now: it may come back with the next actor, so
// 503 and Retry-After, not 404 (which says that it does not exist).
reply kind_gone_reply(job_call call, std::string_view name) {
  auto r = job_error_reply(call, 503, rpc_code::overloaded,
                           "no backend offers job kind '" + std::string(name) +
                               "' now (the actors that offered it left)",
                           "no_backend");
  r.headers.emplace_back("Retry-After", "1");
  return r;
}

route_result job_route(std::string_view kind, const workers::job_kind* fn, std::string_view text,
                       const router_context& ctx) {
  auto parsed = parse_n(text, ctx.max_n);
  if (parsed.status) return error_reply(parsed.status, parsed.message);
  return job_call{kind, fn, parsed.n, false, nullptr, std::nullopt, pool::priority::normal};
}

route_result rpc_error(unsigned status, int code, std::string_view message, json id) {
  job_call call;
  call.jsonrpc = true;
  call.rpc_id = std::move(id);
  return job_error_reply(call, status, code, message);
}

route_result route_rpc(const request_view& request, const router_context& ctx) {
  const json req = json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  if (req.is_discarded())
    return rpc_error(400, rpc_code::parse_error, "parse error: body is not valid JSON");
  if (req.is_array())
    return rpc_error(400, rpc_code::invalid_request,
                     "invalid request: batch requests are not supported");
  if (!req.is_object())
    return rpc_error(400, rpc_code::invalid_request, "invalid request: expected a JSON object");

  const auto id_it = req.find("id");
  if (id_it == req.end())
    return rpc_error(400, rpc_code::invalid_request,
                     "invalid request: id is required (notifications are not supported)");
  if (!id_it->is_string() && !id_it->is_number() && !id_it->is_null())
    return rpc_error(400, rpc_code::invalid_request,
                     "invalid request: id must be a string, a number or null");
  const json& id = *id_it;

  const auto version = req.find("jsonrpc");
  if (version == req.end() || *version != "2.0")
    return rpc_error(400, rpc_code::invalid_request, "invalid request: jsonrpc must be \"2.0\"",
                     id);
  const auto method = req.find("method");
  if (method == req.end() || !method->is_string())
    return rpc_error(400, rpc_code::invalid_request, "invalid request: method must be a string",
                     id);
  const auto& name = method->get_ref<const std::string&>();
  std::string_view kind;
  const workers::job_kind* fn = nullptr;
  switch (resolve_kind(name, ctx, kind, fn)) {
    case kind_is::local:
    case kind_is::remote:
      break;
    case kind_is::gone: {
      job_call call;
      call.jsonrpc = true;
      call.rpc_id = id;
      return kind_gone_reply(std::move(call), name);
    }
    case kind_is::unknown:
      return rpc_error(404, rpc_code::method_not_found, "method not found: " + echo(name), id);
  }

  const json* n_value = nullptr;
  const auto params = req.find("params");
  if (params != req.end() && params->is_array() && params->size() == 1) {
    n_value = &(*params)[0];
  } else if (params != req.end() && params->is_object() && params->size() == 1 &&
             params->contains("n")) {
    n_value = &params->at("n");
  } else {
    return rpc_error(400, rpc_code::invalid_params, "invalid params: expected [n] or {\"n\": n}",
                     id);
  }
  if (!n_value->is_number_unsigned())  // negative integers parse as number_integer
    return rpc_error(400, rpc_code::invalid_params,
                     "invalid params: n must be a non-negative integer, got " + dump(*n_value), id);
  const auto n = n_value->get<std::uint64_t>();
  if (n > ctx.max_n)
    return rpc_error(422, rpc_code::invalid_params,
                     "invalid params: n must be at most " + std::to_string(ctx.max_n) + ", got " +
                         std::to_string(n),
                     id);
  // The request's own deadline and priority: members beside method and params.
  auto fields = header_fields(request);
  if (const auto t = req.find("timeout_ms"); t != req.end()) {
    if (t->is_number_unsigned())
      fields.timeout_from(std::to_string(t->get<std::uint64_t>()), "timeout_ms");
    else
      fields.fail("timeout_ms must be a whole number of milliseconds, got " + dump(*t));
  }
  if (const auto p = req.find("priority"); p != req.end()) {
    if (p->is_string())
      fields.priority_from(p->get_ref<const std::string&>(), "priority");
    else
      fields.fail("priority must be \"high\", \"normal\" or \"low\", got " + dump(*p));
  }
  job_call call{kind, fn, n, true, id, std::nullopt, pool::priority::normal};
  return with_admission(std::move(call), std::move(fields));
}

}  // namespace

namespace {

// "*", with optional whitespace around it (RFC 9110: If-Match = "*" / #entity-tag).
bool is_star(std::string_view v) {
  const auto first = v.find_first_not_of(" \t");
  const auto last = v.find_last_not_of(" \t");
  return first != std::string_view::npos && v.substr(first, last - first + 1) == "*";
}

}  // namespace

std::optional<reply> precondition_failed(std::string_view method, const preconditions& p) {
  // Step 1: If-Match. Without entity tags only "*" (a current representation exists) holds.
  if (p.if_match && !is_star(*p.if_match))
    return error_reply(412,
                       "precondition failed: If-Match names entity tags, and this "
                       "resource has none");
  // Step 3: If-None-Match. "*" fails, since the resource exists; no listed tag can match.
  if (p.if_none_match && is_star(*p.if_none_match)) {
    if (method == "GET" || method == "HEAD") return reply{304, {}, "application/json", {}};
    return error_reply(412, "precondition failed: If-None-Match: * and the resource exists");
  }
  return std::nullopt;
}

reply error_reply(unsigned status, std::string_view message) {
  reply r;
  r.status = status;
  r.body = dump(json{{"error", message}, {"status", status}});
  return r;
}

reply job_error_reply(const job_call& call, unsigned status, int rpc_code, std::string_view message,
                      std::string_view reason) {
  reply r;
  r.status = status;
  if (!call.jsonrpc) {
    json body{{"error", message}, {"status", status}};
    if (!reason.empty()) body["reason"] = reason;
    r.body = dump(body);
    return r;
  }
  json error{{"code", rpc_code}, {"message", message}};
  if (!reason.empty()) error["data"] = {{"reason", reason}};
  r.body = dump(json{{"jsonrpc", "2.0"}, {"error", std::move(error)}, {"id", call.rpc_id}});
  return r;
}

reply cancelled_reply(const job_call& call, pool::stop_reason why) {
  if (why == pool::stop_reason::deadline)
    return job_error_reply(call, 504, rpc_code::deadline_exceeded,
                           "deadline exceeded: the job did not finish within the request timeout");
  if (why == pool::stop_reason::shed) {
    reply r = job_error_reply(call, 503, rpc_code::overloaded,
                              "server overloaded: the job waited in its queue far longer than "
                              "predicted, and was shed; retry later",
                              "sojourn");
    r.headers.emplace_back("Retry-After", "1");
    return r;
  }
  return job_error_reply(call, 503, rpc_code::shutting_down, "server is shutting down");
}

reply shed_reply(const job_call& call, const pool::admission_verdict& v) {
  const auto ms = [](pool::clock::duration d) {
    return fmt::format("{:.1f} ms", std::chrono::duration<double, std::milli>(d).count());
  };
  const auto reason = pool::shed_reason_names[static_cast<std::size_t>(*v.shed)];
  const auto prio = pool::priority_names[static_cast<std::size_t>(call.prio)];
  std::string why;
  switch (*v.shed) {
    case pool::shed_reason::deadline:
      why = fmt::format("it would not start within its deadline ({} left, {} of queue ahead)",
                        ms(v.limit), ms(v.predicted_wait));
      break;
    case pool::shed_reason::fair_share:
      why = fmt::format(
          "this client holds more than its share of a busy pool (queue wait {} predicted, {} "
          "allowed for a client over its share at {} priority)",
          ms(v.predicted_wait), ms(v.limit), prio);
      break;
    default:
      why = fmt::format("the queue wait predicted ({}) is over the limit for {} priority ({})",
                        ms(v.predicted_wait), prio, ms(v.limit));
  }
  reply r = job_error_reply(call, 503, rpc_code::overloaded,
                            "server overloaded: " + why + "; retry later", reason);
  r.headers.emplace_back("Retry-After", "1");
  return r;
}

reply job_reply(const job_call& call, const pool::job_result& r) {
  if (r.status == pool::job_status::cancelled) return cancelled_reply(call, r.stop);
  if (r.status == pool::job_status::failed)
    return job_error_reply(call, 500, rpc_code::job_failed, "job failed: " + r.error);
  if (r.status == pool::job_status::refused) {
    reply out = job_error_reply(call, 503, rpc_code::overloaded,
                                "server overloaded: " + r.error + "; retry later");
    out.headers.emplace_back("Retry-After", "1");
    return out;
  }
  reply out;
  // Who ran it: a local worker by index, or a remote actor by process id (0: it gave none).
  const bool remote = r.ran_on == pool::backend_kind::actor;
  if (call.jsonrpc) {
    json result{{"value", call.n}, {"sum", r.value}};
    if (remote) {
      result["actor"] = r.actor_pid;
    } else {
      result["worker"] = r.backend;
      if (!r.helpers.empty()) {  // several ran it: the one that took it first, then its helpers
        auto all = json::array({r.backend});
        for (const auto h : r.helpers) all.push_back(h);
        result["workers"] = std::move(all);
      }
    }
    out.body = dump(json{{"jsonrpc", "2.0"}, {"result", std::move(result)}, {"id", call.rpc_id}});
    return out;
  }
  // The hot path: the same object, keys in the same (sorted) order, written directly.
  out.body.reserve(64);
  if (remote) {
    out.body += R"({"actor":)";
    out.body += std::to_string(r.actor_pid);
    out.body += R"(,"sum":)";
  } else {
    out.body += R"({"sum":)";
  }
  append_json_double(out.body, r.value);
  out.body += R"(,"value":)";
  append_uint(out.body, call.n);
  if (!remote) {
    out.body += R"(,"worker":)";
    append_uint(out.body, r.backend);
    if (!r.helpers.empty()) {
      out.body += R"(,"workers":[)";
      append_uint(out.body, r.backend);
      for (const auto h : r.helpers) {
        out.body += ',';
        append_uint(out.body, h);
      }
      out.body += ']';
    }
  }
  out.body += '}';
  return out;
}

namespace {

// What a route's handler sees of a request.
struct matched {
  std::string_view path;
  std::string_view query;
  const request_view& request;
};

// How a route's pattern matches a path.
enum class match {
  exact,   // the path is the pattern
  number,  // one segment that starts like a number: /<n> (a bad one is 400, not 404)
  kind,    // one segment that names a job kind: /<kind>
};

// One resource: its pattern (as the 404 help shows it), the methods it takes (its Allow),
// and its handler. GET routes take HEAD too (RFC 9110 9.1): the session sends no body.
struct route_entry {
  std::string_view pattern;
  match how;
  std::string_view allow;
  route_result (*handle)(const matched&, const router_context&);
};

// The default kind's job for n (GET / and GET /<n>), or 404 when the registry has none.
route_result default_job(std::optional<std::uint64_t> n, std::string_view n_text,
                         const router_context& ctx) {
  std::string_view kind;
  const auto* fn = ctx.registry.find(ctx.registry.default_kind(), kind);
  if (!fn) return error_reply(404, "no default job kind: use /<kind>?n=<n>");
  if (n) return job_call{kind, fn, *n, false, nullptr, std::nullopt, pool::priority::normal};
  return job_route(kind, fn, n_text, ctx);
}

route_result random_job(const matched&, const router_context& ctx) {
  const std::uint64_t bound = std::min(random_n_bound, ctx.max_n + 1);
  return default_job(pool::random_index(static_cast<std::size_t>(bound)), {}, ctx);
}

route_result stats(const matched& m, const router_context&) {
  const auto wait = find_param(m.query, "wait");
  if (!wait.error.empty()) return error_reply(400, wait.error);
  if (!wait.value) return stats_page{};
  const auto max = static_cast<std::uint64_t>(max_stats_wait.count());
  const auto ms = parse_n(*wait.value, max);
  if (ms.status)
    return error_reply(400, "wait must be milliseconds from 0 to " + std::to_string(max) +
                                ", got " + echo(*wait.value));
  return stats_page{std::chrono::milliseconds(ms.n)};
}

route_result numbered_job(const matched& m, const router_context& ctx) {
  return default_job(std::nullopt, m.path.substr(1), ctx);
}

route_result rpc(const matched& m, const router_context& ctx) {
  return route_rpc(m.request, ctx);
}

route_result healthy(const matched&, const router_context&) {
  return reply{200, R"({"status":"ok"})", "application/json", {}};
}

// A route the session answers itself (it owns what the answer shows).
template <typename Answer>
route_result answer_with(const matched&, const router_context&) {
  return Answer{};
}

route_result named_job(const matched& m, const router_context& ctx) {
  std::string_view kind;
  const workers::job_kind* fn = nullptr;
  if (resolve_kind(m.path.substr(1), ctx, kind, fn) == kind_is::gone)
    return kind_gone_reply({}, m.path.substr(1));
  auto n = find_param(m.query, "n");
  if (!n.error.empty()) return error_reply(400, n.error);
  return job_route(kind, fn, n.value.value_or(""), ctx);
}

// Every route, in the order they are tried (fixed paths first, so that no job kind can hide
// one): a new route is one line here.
constexpr std::string_view get_head = "GET, HEAD";
constexpr route_entry routes[] = {
    {"/", match::exact, get_head, random_job},
    {"/rpc", match::exact, "POST", rpc},
    {"/metrics", match::exact, get_head, answer_with<scrape>},
    {"/stats", match::exact, get_head, stats},
    {"/dashboard", match::exact, get_head, answer_with<dashboard_page>},
    {"/healthz", match::exact, get_head, healthy},
    {"/readyz", match::exact, get_head, answer_with<readiness>},
    {"/<n>", match::number, get_head, numbered_job},
    {"/<kind>?n=<n>", match::kind, get_head, named_job},
};

bool matches(const route_entry& r, std::string_view path, const router_context& ctx) {
  if (r.how == match::exact) return path == r.pattern;
  const std::string_view segment = path.substr(1);
  if (segment.empty() || segment.find('/') != std::string_view::npos) return false;
  const bool number_like = std::isdigit(static_cast<unsigned char>(segment[0])) ||
                           segment[0] == '-' || segment[0] == '+';
  if (r.how == match::number) return number_like;
  if (number_like) return false;
  std::string_view kind;
  const workers::job_kind* fn = nullptr;
  return resolve_kind(segment, ctx, kind, fn) != kind_is::unknown;
}

}  // namespace

std::string route_help() {
  std::string out;
  for (const auto& r : routes) {
    if (!out.empty()) out += ", ";
    if (r.allow != get_head) (out += r.allow) += ' ';
    out += r.pattern;
  }
  return out;
}

route_result route(const request_view& req, const router_context& ctx) {
  // RFC 9110 15.6.2: a method the server does not implement at all is 501; one it implements
  // but a resource does not take is 405 with Allow (below).
  if (!implemented(req.method))
    return error_reply(501, "method " + echo(req.method) +
                                " is not implemented; this server implements GET, HEAD and POST");
  auto resource = resource_of(req.target);
  if (resource.refusal) return std::move(*resource.refusal);
  for (const auto& r : routes) {
    if (!matches(r, resource.path, ctx)) continue;
    const bool allowed =
        r.allow == get_head ? req.method == "GET" || req.method == "HEAD" : req.method == r.allow;
    if (!allowed) return method_not_allowed(r.allow);
    auto result = r.handle({resource.path, resource.query, req}, ctx);
    auto* call = std::get_if<job_call>(&result);
    if (!call || call->jsonrpc) return result;  // JSON-RPC: route_rpc() read its own
    // A job by GET: its deadline and priority from the headers and the query.
    auto fields = header_fields(req);
    for (const auto& [name, add] : {std::pair{"timeout_ms", &admission_fields::timeout_from},
                                    std::pair{"priority", &admission_fields::priority_from}}) {
      const auto param = find_param(resource.query, name);
      if (!param.error.empty()) fields.fail(param.error);
      if (param.value) (fields.*add)(*param.value, name);
    }
    return with_admission(std::move(*call), std::move(fields));
  }
  static const std::string help = route_help();
  return error_reply(404, "no route for " + echo(resource.path) + "; try " + help);
}

}  // namespace server

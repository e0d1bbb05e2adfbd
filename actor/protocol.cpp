#include "actor/protocol.hpp"

#include <limits>

#include <nlohmann/json.hpp>

#include "observability/json_number.hpp"

namespace actor {

namespace {

using json = nlohmann::json;

void append_string(std::string& out, std::string_view s) {
  // Escapes quotes, backslashes and control characters (a NUL becomes \u0000, so it can
  // never end the frame early); invalid UTF-8 is replaced rather than thrown on.
  out += json(s).dump(-1, ' ', false, json::error_handler_t::replace);
}

// The parsed object, or why the text is not one.
std::variant<json, malformed> parse_object(std::string_view text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return malformed{"not valid JSON"};
  if (!j.is_object()) return malformed{"not a JSON object"};
  return j;
}

// The message's id: an integer from 0 to 2^64-1.
bool read_id(const json& j, std::uint64_t& id) {
  const auto it = j.find("id");
  if (it == j.end() || !it->is_number_unsigned()) return false;
  id = it->get<std::uint64_t>();
  return true;
}

// A process id from 1 to 2^63-1, or 0. Read as unsigned: a signed read of 2^63 or more wraps
// negative, and a negative or zero id names no process either.
std::int64_t read_pid(const json& pid) {
  if (!pid.is_number_unsigned()) return 0;  // negative, fractional, or past 64 bits
  const auto v = pid.get<std::uint64_t>();
  return v <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())
             ? static_cast<std::int64_t>(v)
             : 0;
}

}  // namespace

void append_request(std::string& out, std::uint64_t id, std::string_view method, std::uint64_t n,
                    std::optional<std::uint64_t> deadline_ms) {
  out += R"({"id":)";
  observability::append_uint(out, id);
  out += R"(,"method":)";
  append_string(out, method);
  out += R"(,"args":[)";
  observability::append_uint(out, n);
  out += ']';
  if (deadline_ms) {
    out += R"(,"deadline_ms":)";
    observability::append_uint(out, *deadline_ms);
  }
  out += '}';
  out += '\0';
}

void append_value(std::string& out, std::uint64_t id, double value, std::int64_t pid) {
  out += R"({"id":)";
  observability::append_uint(out, id);
  out += R"(,"value":)";
  observability::append_json_double(out, value);
  out += R"(,"pid":)";
  out += std::to_string(pid);
  out += '}';
  out += '\0';
}

void append_error(std::string& out, std::uint64_t id, std::string_view message) {
  out += R"({"id":)";
  observability::append_uint(out, id);
  out += R"(,"error":)";
  append_string(out, message);
  out += '}';
  out += '\0';
}

void append_hello(std::string& out, const hello& h) {
  json kinds = json::array();
  for (const auto& k : h.kinds) kinds.push_back(k);
  json body = {{"pid", h.pid},         {"kinds", std::move(kinds)}, {"capacity", h.capacity},
               {"workers", h.workers}, {"version", h.version}};
  if (!h.token.empty()) body["token"] = h.token;
  out += json{{"hello", std::move(body)}}.dump(-1, ' ', false, json::error_handler_t::replace);
  out += '\0';
}

void append_leave(std::string& out) {
  out += R"({"leave":true})";
  out += '\0';
}

void append_welcome(std::string& out, const welcome& w) {
  out += R"({"welcome":{"version":)";
  append_string(out, w.version);
  out += R"(,"max_in_flight":)";
  observability::append_uint(out, w.max_in_flight);
  out += "}}";
  out += '\0';
}

void append_refused(std::string& out, std::string_view reason) {
  out += R"({"refused":)";
  append_string(out, reason);
  out += '}';
  out += '\0';
}

void append_cancel(std::string& out, std::uint64_t id, std::string_view reason) {
  out += R"({"cancel":)";
  observability::append_uint(out, id);
  out += R"(,"reason":)";
  append_string(out, reason);
  out += '}';
  out += '\0';
}

namespace {

std::variant<job_request, malformed> request_of(const json& j) {
  job_request r;
  if (!read_id(j, r.id)) return malformed{"id must be a non-negative integer"};
  const auto method = j.find("method");
  if (method == j.end() || !method->is_string()) return malformed{"method must be a string"};
  r.method = method->get<std::string>();
  const auto args = j.find("args");
  if (args == j.end() || !args->is_array()) return malformed{"args must be an array"};
  if (args->size() != 1 || !(*args)[0].is_number_unsigned())
    r.invalid_args = "args must be [n] with n a non-negative integer";
  else
    r.n = (*args)[0].get<std::uint64_t>();
  if (const auto d = j.find("deadline_ms"); d != j.end()) {
    // A deadline the actor cannot read would run the job without one: the message is broken.
    if (!d->is_number_unsigned()) return malformed{"deadline_ms must be a non-negative integer"};
    r.deadline_ms = d->get<std::uint64_t>();
  }
  return r;
}

std::variant<job_reply, malformed> reply_of(const json& j) {
  job_reply r;
  if (!read_id(j, r.id)) return malformed{"id must be a non-negative integer"};
  const auto value = j.find("value");
  const auto error = j.find("error");
  if ((value == j.end()) == (error == j.end()))
    return malformed{"a reply has exactly one of value and error"};
  if (error != j.end()) {
    if (!error->is_string()) return malformed{"error must be a string"};
    r.error = error->get<std::string>();
    return r;
  }
  // null is how append_value() (and the HTTP answer) writes a value that is not finite.
  if (!value->is_number() && !value->is_null()) return malformed{"value must be a number"};
  const auto pid = j.find("pid");
  if (pid == j.end() || !pid->is_number()) return malformed{"pid must be a number"};
  r.ok = true;
  r.value = value->is_null() ? std::numeric_limits<double>::quiet_NaN() : value->get<double>();
  r.pid = read_pid(*pid);
  return r;
}

// An unsigned count member, absent meaning 0.
bool read_count(const json& body, const char* name, std::uint64_t& out) {
  const auto it = body.find(name);
  if (it == body.end()) return true;
  if (!it->is_number_unsigned()) return false;
  out = it->get<std::uint64_t>();
  return true;
}

std::variant<hello, malformed> hello_of(const json& body) {
  if (!body.is_object()) return malformed{"hello must be an object"};
  hello h;
  if (const auto pid = body.find("pid"); pid != body.end()) h.pid = read_pid(*pid);
  const auto kinds = body.find("kinds");
  if (kinds == body.end() || !kinds->is_array() || kinds->empty())
    return malformed{"hello.kinds must be a non-empty array of job kind names"};
  if (kinds->size() > max_kinds)
    return malformed{"hello.kinds offers more than " + std::to_string(max_kinds) + " kinds"};
  for (const auto& k : *kinds) {
    if (!k.is_string()) return malformed{"hello.kinds must hold strings"};
    auto name = k.get<std::string>();
    if (name.empty() || name.size() > max_kind_name)
      return malformed{"a job kind name is 1 to " + std::to_string(max_kind_name) + " bytes"};
    h.kinds.push_back(std::move(name));
  }
  if (!read_count(body, "capacity", h.capacity) || !read_count(body, "workers", h.workers))
    return malformed{"hello.capacity and hello.workers are non-negative integers"};
  if (const auto v = body.find("version"); v != body.end()) {
    if (!v->is_string()) return malformed{"hello.version must be a string"};
    h.version = v->get<std::string>();
  }
  if (const auto t = body.find("token"); t != body.end()) {
    if (!t->is_string()) return malformed{"hello.token must be a string"};
    h.token = t->get<std::string>();
  }
  return h;
}

}  // namespace

std::variant<job_request, malformed> parse_request(std::string_view text) {
  auto parsed = parse_object(text);
  if (auto* bad = std::get_if<malformed>(&parsed)) return std::move(*bad);
  return request_of(std::get<json>(parsed));
}

std::variant<job_reply, malformed> parse_reply(std::string_view text) {
  auto parsed = parse_object(text);
  if (auto* bad = std::get_if<malformed>(&parsed)) return std::move(*bad);
  return reply_of(std::get<json>(parsed));
}

from_actor parse_from_actor(std::string_view text) {
  auto parsed = parse_object(text);
  if (auto* bad = std::get_if<malformed>(&parsed)) return std::move(*bad);
  const json& j = std::get<json>(parsed);
  if (const auto h = j.find("hello"); h != j.end()) {
    auto r = hello_of(*h);
    if (auto* bad = std::get_if<malformed>(&r)) return std::move(*bad);
    return std::get<hello>(std::move(r));
  }
  if (const auto l = j.find("leave"); l != j.end()) {
    if (*l != true) return malformed{"leave must be true"};
    return leave{};
  }
  auto r = reply_of(j);
  if (auto* bad = std::get_if<malformed>(&r)) return std::move(*bad);
  return std::get<job_reply>(std::move(r));
}

from_server parse_from_server(std::string_view text) {
  auto parsed = parse_object(text);
  if (auto* bad = std::get_if<malformed>(&parsed)) return std::move(*bad);
  const json& j = std::get<json>(parsed);
  if (const auto w = j.find("welcome"); w != j.end()) {
    if (!w->is_object()) return malformed{"welcome must be an object"};
    welcome out;
    if (const auto v = w->find("version"); v != w->end() && v->is_string())
      out.version = v->get<std::string>();
    if (!read_count(*w, "max_in_flight", out.max_in_flight))
      return malformed{"welcome.max_in_flight must be a non-negative integer"};
    return out;
  }
  if (const auto r = j.find("refused"); r != j.end()) {
    if (!r->is_string()) return malformed{"refused must be a string"};
    return refused{r->get<std::string>()};
  }
  if (const auto c = j.find("cancel"); c != j.end()) {
    if (!c->is_number_unsigned()) return malformed{"cancel must be a job id"};
    cancel out{c->get<std::uint64_t>(), {}};
    if (const auto why = j.find("reason"); why != j.end() && why->is_string())
      out.reason = why->get<std::string>();
    return out;
  }
  auto r = request_of(j);
  if (auto* bad = std::get_if<malformed>(&r)) return std::move(*bad);
  return std::get<job_request>(std::move(r));
}

}  // namespace actor

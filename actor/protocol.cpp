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

void append_request(std::string& out, std::uint64_t id, std::string_view method, std::uint64_t n) {
  out += R"({"id":)";
  observability::append_uint(out, id);
  out += R"(,"method":)";
  append_string(out, method);
  out += R"(,"args":[)";
  observability::append_uint(out, n);
  out += "]}";
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

std::variant<job_request, malformed> parse_request(std::string_view text) {
  auto parsed = parse_object(text);
  if (auto* bad = std::get_if<malformed>(&parsed)) return std::move(*bad);
  const json& j = std::get<json>(parsed);
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
  return r;
}

std::variant<job_reply, malformed> parse_reply(std::string_view text) {
  auto parsed = parse_object(text);
  if (auto* bad = std::get_if<malformed>(&parsed)) return std::move(*bad);
  const json& j = std::get<json>(parsed);
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

}  // namespace actor

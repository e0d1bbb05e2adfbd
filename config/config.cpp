#include "config/config.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <cstdlib>
#include <iterator>
#include <thread>

#include <fmt/format.h>

namespace config {

namespace {

constexpr std::int64_t max_threads = 1024;
constexpr std::int64_t max_io_threads = 256;
constexpr std::int64_t max_queue_capacity = 1 << 20;
// Counting lanes in doubles is exact below 2^53.
constexpr std::int64_t max_max_n = std::int64_t{1} << 53;
constexpr std::int64_t max_ms = 86'400'000;  // a day

// The allowed-values texts below spell these limits out; keep them in step.
static_assert(max_threads == 1024 && max_io_threads == 256 && max_queue_capacity == 1048576 &&
              max_max_n == 9007199254740992 && max_ms == 86400000);

constexpr setting_info table[] = {
    {"PORT", "--port", "1337", "an integer from 0 to 65535 (0 = any free port)",
     "TCP port for HTTP"},
    {"HOST", "--host", "0.0.0.0",
     "an IPv4 or IPv6 address, such as 0.0.0.0, 127.0.0.1 or ::", "address to listen on"},
    {"THREADS", "--threads", "one per core",
     "an integer from -1024 to 1024 (0 = one per core, negative = cores minus that many, at "
     "least 1), or none (no local workers: needs ACTOR_PORT)",
     "local compute worker threads"},
    {"STRATEGY", "--strategy", "roundrobin", "roundrobin, random, leastbusy, p2c",
     "how a backend is chosen for each job"},
    {"IO_THREADS", "--io-threads", "1", "an integer from 1 to 256",
     "threads running the HTTP side"},
    {"QUEUE_CAPACITY", "--queue-capacity", "1024", "a power of two from 1 to 1048576",
     "mailbox slots per worker; a full mailbox answers 503"},
    {"MAX_N", "--max-n", "1000000000", "an integer from 0 to 9007199254740992",
     "the largest n a request may ask for (larger: 422)"},
    {"LOG_LEVEL", "--log-level", "info", "trace, debug, info, warn, error, critical, off",
     "log level"},
    {"LOG_FORMAT", "--log-format", "text", "text, json",
     "log lines as text, or one JSON object per line"},
    {"ACCESS_LOG", "--access-log", "0", "0, 1",
     "1: a line per response (path, status, times, backend)"},
    {"REQUEST_TIMEOUT_MS", "--request-timeout-ms", "30000",
     "milliseconds, an integer from 1 to 86400000", "a job's deadline from its request: then 504"},
    {"BACKPRESSURE", "--backpressure", "reject", "reject, wait",
     "when the chosen mailbox is full: 503 at once, or wait for room"},
    {"QUEUE_TIMEOUT_MS", "--queue-timeout-ms", "1000",
     "milliseconds, an integer from 0 to 86400000",
     "with BACKPRESSURE=wait, the longest wait for room before 503"},
    {"MAX_CONNECTIONS", "--max-connections", "10000", "an integer from 1 to 1000000",
     "open connections; one more is answered 503 and closed"},
    {"IDLE_TIMEOUT_MS", "--idle-timeout-ms", "30000", "milliseconds, an integer from 1 to 86400000",
     "an idle keep-alive connection is closed after this"},
    {"HEADER_TIMEOUT_MS", "--header-timeout-ms", "10000",
     "milliseconds, an integer from 1 to 86400000",
     "a request must arrive whole within this of its first byte"},
    {"DRAIN_TIMEOUT_MS", "--drain-timeout-ms", "10000",
     "milliseconds, an integer from 0 to 86400000",
     "on SIGTERM, the time to finish accepted requests"},
    {"WORKER_NICE", "--worker-nice", "10", "an integer from 0 (same priority as IO threads) to 19",
     "worker threads' niceness, so IO threads preempt them"},
    {"ACTOR_PORT", "--actor-port", "unset (no actors)",
     "an integer from 0 to 65535 (0 = any free port)", "TCP port where poolactor processes join"},
    {"ACTOR_HOST", "--actor-host", "127.0.0.1",
     "an IPv4 or IPv6 address, such as 0.0.0.0, 127.0.0.1 or ::",
     "address of the actor port (actors are not authenticated)"},
    {"ACTOR_TIMEOUT_MS", "--actor-timeout-ms", "10000",
     "milliseconds, an integer from 10 to 86400000",
     "an actor silent this long with jobs in flight is removed"},
    {"ACTOR_MAX_IN_FLIGHT", "--actor-max-in-flight", "64", "an integer from 1 to 1048576",
     "jobs sent to one actor and not yet answered"},
    {"ACTOR_MAX_CONNECTIONS", "--actor-max-connections", "256", "an integer from 1 to 65536",
     "actors connected at once; one more is closed at once"},
};

// LOG_LEVEL names, as users write them (spdlog's own names say "warning" and "err").
constexpr std::pair<std::string_view, spdlog::level::level_enum> log_levels[] = {
    {"trace", spdlog::level::trace}, {"debug", spdlog::level::debug},
    {"info", spdlog::level::info},   {"warn", spdlog::level::warn},
    {"error", spdlog::level::err},   {"critical", spdlog::level::critical},
    {"off", spdlog::level::off}};

constexpr std::pair<std::string_view, log_style> log_formats[] = {{"text", log_style::text},
                                                                  {"json", log_style::json}};
constexpr std::pair<std::string_view, backpressure_policy> policies[] = {
    {"reject", backpressure_policy::reject}, {"wait", backpressure_policy::wait}};
constexpr std::pair<std::string_view, bool> switches[] = {{"0", false}, {"1", true}};

std::string_view allowed_for(std::string_view name) {
  for (const auto& t : table)
    if (t.env == name) return t.allowed;
  return "see --help";
}

[[noreturn]] void invalid(std::string_view name, std::string_view value, std::string_view allowed) {
  throw config_error(std::string(name),
                     fmt::format("{}: invalid value '{}'; allowed: {}", name, value, allowed));
}

[[noreturn]] void invalid(std::string_view name, std::string_view value) {
  invalid(name, value, allowed_for(name));
}

std::optional<std::int64_t> parse_int(std::string_view s) {
  std::int64_t v = 0;
  if (s.empty() || s.front() == '+') return std::nullopt;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return v;
}

// The integer in [lo, hi], or config_error naming the variable.
std::int64_t int_setting(std::string_view name, const std::string& value, std::int64_t lo,
                         std::int64_t hi) {
  const auto v = parse_int(value);
  if (!v || *v < lo || *v > hi) invalid(name, value);
  return *v;
}

// A duration in whole milliseconds within [lo, hi].
std::chrono::milliseconds ms_setting(std::string_view name, const std::string& value,
                                     std::int64_t lo) {
  return std::chrono::milliseconds(int_setting(name, value, lo, max_ms));
}

// An IPv4 or IPv6 address to listen on.
std::string address_setting(std::string_view name, const std::string& value) {
  unsigned char buf[sizeof(in6_addr)];
  if (inet_pton(AF_INET, value.c_str(), buf) != 1 && inet_pton(AF_INET6, value.c_str(), buf) != 1)
    invalid(name, value);
  return value;
}

// One of a few names.
template <typename T, std::size_t N>
T choice_setting(std::string_view name, const std::string& value,
                 const std::pair<std::string_view, T> (&choices)[N]) {
  for (const auto& [text, v] : choices)
    if (text == value) return v;
  invalid(name, value);
}

}  // namespace

std::span<const setting_info> setting_table() {
  return table;
}

settings load(const env_lookup& env, unsigned cores) {
  settings s;
  const auto get = [&](std::string_view name) -> std::optional<std::string> {
    auto v = env(name);
    if (v && v->empty()) return std::nullopt;
    return v;
  };
  if (cores == 0) cores = 1;

  if (auto v = get("PORT")) s.port = static_cast<std::uint16_t>(int_setting("PORT", *v, 0, 65535));
  if (auto v = get("HOST")) s.host = address_setting("HOST", *v);

  s.threads = cores;
  if (auto v = get("THREADS"); v && *v == "none") {
    s.threads = 0;  // a pure dispatcher: every job goes to a remote actor
  } else if (v) {
    const auto t = int_setting("THREADS", *v, -max_threads, max_threads);
    if (t > 0)
      s.threads = static_cast<std::size_t>(t);
    else if (t < 0)
      s.threads = static_cast<std::size_t>(std::max<std::int64_t>(1, cores + t));
  }

  if (auto v = get("STRATEGY")) {
    const auto k = pool::parse_strategy(*v);
    if (!k) invalid("STRATEGY", *v);
    s.strategy = *k;
  }
  if (auto v = get("IO_THREADS"))
    s.io_threads = static_cast<std::size_t>(int_setting("IO_THREADS", *v, 1, max_io_threads));
  if (auto v = get("QUEUE_CAPACITY")) {
    const auto c = int_setting("QUEUE_CAPACITY", *v, 1, max_queue_capacity);
    if (!std::has_single_bit(static_cast<std::uint64_t>(c))) invalid("QUEUE_CAPACITY", *v);
    s.queue_capacity = static_cast<std::size_t>(c);
  }
  if (auto v = get("MAX_N"))
    s.max_n = static_cast<std::uint64_t>(int_setting("MAX_N", *v, 0, max_max_n));

  if (auto v = get("LOG_LEVEL")) s.log_level = choice_setting("LOG_LEVEL", *v, log_levels);
  if (auto v = get("LOG_FORMAT")) s.log_format = choice_setting("LOG_FORMAT", *v, log_formats);
  if (auto v = get("ACCESS_LOG")) s.access_log = choice_setting("ACCESS_LOG", *v, switches);

  if (auto v = get("REQUEST_TIMEOUT_MS"))
    s.request_timeout = ms_setting("REQUEST_TIMEOUT_MS", *v, 1);
  if (auto v = get("BACKPRESSURE")) s.backpressure = choice_setting("BACKPRESSURE", *v, policies);
  if (auto v = get("QUEUE_TIMEOUT_MS")) s.queue_timeout = ms_setting("QUEUE_TIMEOUT_MS", *v, 0);
  if (auto v = get("MAX_CONNECTIONS"))
    s.max_connections = static_cast<std::size_t>(int_setting("MAX_CONNECTIONS", *v, 1, 1'000'000));
  if (auto v = get("IDLE_TIMEOUT_MS")) s.idle_timeout = ms_setting("IDLE_TIMEOUT_MS", *v, 1);
  if (auto v = get("HEADER_TIMEOUT_MS")) s.header_timeout = ms_setting("HEADER_TIMEOUT_MS", *v, 1);
  if (auto v = get("WORKER_NICE"))
    s.worker_nice = static_cast<int>(int_setting("WORKER_NICE", *v, 0, 19));
  if (auto v = get("DRAIN_TIMEOUT_MS")) s.drain_timeout = ms_setting("DRAIN_TIMEOUT_MS", *v, 0);

  if (auto v = get("ACTOR_PORT"))
    s.actor_port = static_cast<std::uint16_t>(int_setting("ACTOR_PORT", *v, 0, 65535));
  if (auto v = get("ACTOR_HOST")) s.actor_host = address_setting("ACTOR_HOST", *v);
  if (auto v = get("ACTOR_TIMEOUT_MS")) s.actor_timeout = ms_setting("ACTOR_TIMEOUT_MS", *v, 10);
  if (auto v = get("ACTOR_MAX_IN_FLIGHT"))
    s.actor_max_in_flight =
        static_cast<std::size_t>(int_setting("ACTOR_MAX_IN_FLIGHT", *v, 1, max_queue_capacity));
  if (auto v = get("ACTOR_MAX_CONNECTIONS"))
    s.actor_max_connections =
        static_cast<std::size_t>(int_setting("ACTOR_MAX_CONNECTIONS", *v, 1, 65536));
  if (s.threads == 0 && !s.actor_port)
    invalid("THREADS", "none",
            "none only with ACTOR_PORT set (with no local workers, remote actors run every job)");
  return s;
}

env_lookup process_environment() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* v = std::getenv(std::string(name).c_str());
    if (!v) return std::nullopt;
    return std::string(v);
  };
}

settings load_from_environment() {
  return load(process_environment(), std::thread::hardware_concurrency());
}

std::string_view log_level_name(spdlog::level::level_enum level) {
  for (const auto& [name, l] : log_levels)
    if (l == level) return name;
  return "info";
}

std::vector<std::pair<std::string_view, std::string>> effective(const settings& s) {
  const auto ms = [](std::chrono::milliseconds d) { return std::to_string(d.count()); };
  std::vector<std::pair<std::string_view, std::string>> out{
      {"PORT", std::to_string(s.port)},
      {"HOST", s.host},
      {"THREADS", s.threads == 0 ? std::string("none") : std::to_string(s.threads)},
      {"STRATEGY", std::string(pool::to_string(s.strategy))},
      {"IO_THREADS", std::to_string(s.io_threads)},
      {"QUEUE_CAPACITY", std::to_string(s.queue_capacity)},
      {"MAX_N", std::to_string(s.max_n)},
      {"LOG_LEVEL", std::string(log_level_name(s.log_level))},
      {"LOG_FORMAT", s.log_format == log_style::json ? "json" : "text"},
      {"ACCESS_LOG", s.access_log ? "1" : "0"},
      {"REQUEST_TIMEOUT_MS", ms(s.request_timeout)},
      {"BACKPRESSURE", s.backpressure == backpressure_policy::wait ? "wait" : "reject"},
      {"QUEUE_TIMEOUT_MS", ms(s.queue_timeout)},
      {"MAX_CONNECTIONS", std::to_string(s.max_connections)},
      {"IDLE_TIMEOUT_MS", ms(s.idle_timeout)},
      {"HEADER_TIMEOUT_MS", ms(s.header_timeout)},
      {"DRAIN_TIMEOUT_MS", ms(s.drain_timeout)},
      {"WORKER_NICE", std::to_string(s.worker_nice)},
      {"ACTOR_PORT", s.actor_port ? std::to_string(*s.actor_port) : std::string()},
      {"ACTOR_HOST", s.actor_host},
      {"ACTOR_TIMEOUT_MS", ms(s.actor_timeout)},
      {"ACTOR_MAX_IN_FLIGHT", std::to_string(s.actor_max_in_flight)},
      {"ACTOR_MAX_CONNECTIONS", std::to_string(s.actor_max_connections)},
  };
  return out;
}

std::string describe(const settings& s) {
  std::string line;
  for (const auto& [name, value] : effective(s)) {
    if (!s.actor_port && name.starts_with("ACTOR_") && name != "ACTOR_PORT") continue;
    if (!line.empty()) line += ' ';
    line += fmt::format("{}={}", name, name == "ACTOR_PORT" && value.empty() ? "off" : value);
  }
  return line;
}

}  // namespace config

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

// LOG_LEVEL names, as users write them (spdlog's own names say "warning" and "err").
constexpr std::pair<std::string_view, spdlog::level::level_enum> log_levels[] = {
    {"trace", spdlog::level::trace}, {"debug", spdlog::level::debug},
    {"info", spdlog::level::info},   {"warn", spdlog::level::warn},
    {"error", spdlog::level::err},   {"critical", spdlog::level::critical},
    {"off", spdlog::level::off}};

[[noreturn]] void invalid(std::string_view name, std::string_view value, std::string_view allowed) {
  throw config_error(fmt::format("{}: invalid value '{}'; allowed: {}", name, value, allowed));
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
                         std::int64_t hi, std::string_view allowed) {
  const auto v = parse_int(value);
  if (!v || *v < lo || *v > hi) invalid(name, value, allowed);
  return *v;
}

// A duration in whole milliseconds within [lo, hi].
std::chrono::milliseconds ms_setting(std::string_view name, const std::string& value,
                                     std::int64_t lo, std::int64_t hi) {
  return std::chrono::milliseconds(int_setting(
      name, value, lo, hi, fmt::format("milliseconds, an integer from {} to {}", lo, hi)));
}

constexpr std::int64_t max_ms = 86'400'000;  // a day

// An IPv4 or IPv6 address to listen on.
std::string address_setting(std::string_view name, const std::string& value) {
  unsigned char buf[sizeof(in6_addr)];
  if (inet_pton(AF_INET, value.c_str(), buf) != 1 && inet_pton(AF_INET6, value.c_str(), buf) != 1)
    invalid(name, value, "an IPv4 or IPv6 address, such as 0.0.0.0, 127.0.0.1 or ::");
  return value;
}

}  // namespace

settings load(const env_lookup& env, unsigned cores) {
  settings s;
  const auto get = [&](std::string_view name) -> std::optional<std::string> {
    auto v = env(name);
    if (v && v->empty()) return std::nullopt;
    return v;
  };
  if (cores == 0) cores = 1;

  if (auto v = get("PORT"))
    s.port = static_cast<std::uint16_t>(
        int_setting("PORT", *v, 0, 65535, "an integer from 0 to 65535 (0 = any free port)"));

  if (auto v = get("HOST")) s.host = address_setting("HOST", *v);

  s.threads = cores;
  if (auto v = get("THREADS"); v && *v == "none") {
    s.threads = 0;  // a pure dispatcher: every job goes to a remote actor
  } else if (v) {
    const auto t = int_setting(
        "THREADS", *v, -max_threads, max_threads,
        fmt::format("an integer from {} to {} (0 = one per core, negative = cores minus that "
                    "many, at least 1), or none (no local workers: needs ACTOR_PORT)",
                    -max_threads, max_threads));
    if (t > 0)
      s.threads = static_cast<std::size_t>(t);
    else if (t < 0)
      s.threads = static_cast<std::size_t>(std::max<std::int64_t>(1, cores + t));
  }

  if (auto v = get("STRATEGY")) {
    const auto k = pool::parse_strategy(*v);
    if (!k) {
      std::string names;
      for (const auto& [kind, name] : pool::strategy_names)
        names += (names.empty() ? "" : ", ") + std::string(name);
      invalid("STRATEGY", *v, names);
    }
    s.strategy = *k;
  }

  if (auto v = get("IO_THREADS"))
    s.io_threads = static_cast<std::size_t>(
        int_setting("IO_THREADS", *v, 1, max_io_threads,
                    fmt::format("an integer from 1 to {}", max_io_threads)));

  if (auto v = get("QUEUE_CAPACITY")) {
    const auto allowed = fmt::format("a power of two from 1 to {}", max_queue_capacity);
    const auto c = int_setting("QUEUE_CAPACITY", *v, 1, max_queue_capacity, allowed);
    if (!std::has_single_bit(static_cast<std::uint64_t>(c))) invalid("QUEUE_CAPACITY", *v, allowed);
    s.queue_capacity = static_cast<std::size_t>(c);
  }

  if (auto v = get("MAX_N"))
    s.max_n = static_cast<std::uint64_t>(
        int_setting("MAX_N", *v, 0, max_max_n, fmt::format("an integer from 0 to {}", max_max_n)));

  if (auto v = get("LOG_LEVEL")) {
    const auto* it = std::find_if(std::begin(log_levels), std::end(log_levels),
                                  [&](const auto& l) { return l.first == *v; });
    if (it == std::end(log_levels))
      invalid("LOG_LEVEL", *v, "trace, debug, info, warn, error, critical, off");
    s.log_level = it->second;
  }

  if (auto v = get("REQUEST_TIMEOUT_MS"))
    s.request_timeout = ms_setting("REQUEST_TIMEOUT_MS", *v, 1, max_ms);
  if (auto v = get("BACKPRESSURE")) {
    if (*v == "reject")
      s.backpressure = backpressure_policy::reject;
    else if (*v == "wait")
      s.backpressure = backpressure_policy::wait;
    else
      invalid("BACKPRESSURE", *v, "reject, wait");
  }
  if (auto v = get("QUEUE_TIMEOUT_MS"))
    s.queue_timeout = ms_setting("QUEUE_TIMEOUT_MS", *v, 0, max_ms);
  if (auto v = get("MAX_CONNECTIONS"))
    s.max_connections = static_cast<std::size_t>(
        int_setting("MAX_CONNECTIONS", *v, 1, 1'000'000, "an integer from 1 to 1000000"));
  if (auto v = get("IDLE_TIMEOUT_MS"))
    s.idle_timeout = ms_setting("IDLE_TIMEOUT_MS", *v, 1, max_ms);
  if (auto v = get("HEADER_TIMEOUT_MS"))
    s.header_timeout = ms_setting("HEADER_TIMEOUT_MS", *v, 1, max_ms);
  if (auto v = get("WORKER_NICE"))
    s.worker_nice = static_cast<int>(int_setting(
        "WORKER_NICE", *v, 0, 19, "an integer from 0 (same priority as IO threads) to 19"));
  if (auto v = get("DRAIN_TIMEOUT_MS"))
    s.drain_timeout = ms_setting("DRAIN_TIMEOUT_MS", *v, 0, max_ms);

  if (auto v = get("ACTOR_PORT"))
    s.actor_port = static_cast<std::uint16_t>(int_setting(
        "ACTOR_PORT", *v, 0, 65535, "an integer from 0 to 65535 (0 = any free port)"));
  if (auto v = get("ACTOR_HOST")) s.actor_host = address_setting("ACTOR_HOST", *v);
  if (auto v = get("ACTOR_TIMEOUT_MS"))
    s.actor_timeout = ms_setting("ACTOR_TIMEOUT_MS", *v, 10, max_ms);
  if (auto v = get("ACTOR_MAX_IN_FLIGHT"))
    s.actor_max_in_flight = static_cast<std::size_t>(int_setting(
        "ACTOR_MAX_IN_FLIGHT", *v, 1, max_queue_capacity,
        fmt::format("an integer from 1 to {}", max_queue_capacity)));
  if (s.threads == 0 && !s.actor_port)
    invalid("THREADS", "none",
            "none only with ACTOR_PORT set (with no local workers, remote actors run every job)");
  return s;
}

settings load_from_environment() {
  return load(
      [](std::string_view name) -> std::optional<std::string> {
        const char* v = std::getenv(std::string(name).c_str());
        if (!v) return std::nullopt;
        return std::string(v);
      },
      std::thread::hardware_concurrency());
}

std::string_view log_level_name(spdlog::level::level_enum level) {
  for (const auto& [name, l] : log_levels)
    if (l == level) return name;
  return "info";
}

std::string describe(const settings& s) {
  return fmt::format(
      "PORT={} HOST={} THREADS={} STRATEGY={} IO_THREADS={} QUEUE_CAPACITY={} MAX_N={} "
      "LOG_LEVEL={} REQUEST_TIMEOUT_MS={} BACKPRESSURE={} QUEUE_TIMEOUT_MS={} MAX_CONNECTIONS={} "
      "IDLE_TIMEOUT_MS={} HEADER_TIMEOUT_MS={} DRAIN_TIMEOUT_MS={} WORKER_NICE={}{}",
      s.port, s.host, s.threads == 0 ? std::string("none") : std::to_string(s.threads), pool::to_string(s.strategy), s.io_threads, s.queue_capacity,
      s.max_n, log_level_name(s.log_level), s.request_timeout.count(),
      s.backpressure == backpressure_policy::wait ? "wait" : "reject", s.queue_timeout.count(),
      s.max_connections, s.idle_timeout.count(), s.header_timeout.count(), s.drain_timeout.count(),
      s.worker_nice,
      s.actor_port ? fmt::format(" ACTOR_PORT={} ACTOR_HOST={} ACTOR_TIMEOUT_MS={} "
                                 "ACTOR_MAX_IN_FLIGHT={}",
                                 *s.actor_port, s.actor_host, s.actor_timeout.count(),
                                 s.actor_max_in_flight)
                   : std::string(" ACTOR_PORT=off"));
}

}  // namespace config

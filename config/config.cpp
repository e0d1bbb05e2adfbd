#include "config/config.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <type_traits>
#include <utility>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace config {

namespace {

constexpr std::int64_t max_threads = 1024;
constexpr std::int64_t max_queue_capacity = 1 << 20;
// Counting lanes in doubles is exact below 2^53.
constexpr std::int64_t max_max_n = std::int64_t{1} << 53;
constexpr std::int64_t max_ms = 86'400'000;  // a day

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
constexpr std::pair<std::string_view, pool::admission_mode> admissions[] = {
    {"adaptive", pool::admission_mode::adaptive}, {"static", pool::admission_mode::fixed}};
constexpr std::pair<std::string_view, bool> switches[] = {{"0", false}, {"1", true}};

// STRATEGY names, taken from pool's list so that a new strategy needs no change here.
constexpr auto strategies = [] {
  std::array<std::pair<std::string_view, pool::strategy_kind>, pool::strategy_names.size()> out{};
  for (std::size_t i = 0; i < out.size(); ++i)
    out[i] = {pool::strategy_names[i].second, pool::strategy_names[i].first};
  return out;
}();

[[noreturn]] void invalid(std::string_view name, std::string_view value, std::string_view allowed) {
  throw config_error(std::string(name),
                     fmt::format("{}: invalid value '{}'; allowed: {}", name, value, allowed));
}

// The same, with why the value is not allowed, when the allowed text alone would not say.
[[noreturn]] void invalid(std::string_view name, std::string_view value, std::string_view reason,
                          std::string_view allowed) {
  throw config_error(std::string(name), fmt::format("{}: invalid value '{}' ({}); allowed: {}",
                                                    name, value, reason, allowed));
}

// A secret's bad value is not repeated: it may be the right secret with a typo in it.
[[noreturn]] void invalid_secret(std::string_view name, std::string_view value,
                                 std::string_view allowed) {
  throw config_error(std::string(name),
                     fmt::format("{}: invalid value (not shown: {} bytes); allowed: {}", name,
                                 value.size(), allowed));
}

std::optional<std::int64_t> parse_int(std::string_view s) {
  std::int64_t v = 0;
  if (s.empty() || s.front() == '+') return std::nullopt;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return v;
}

// The integer `text` spells, if it is from lo to hi.
std::optional<std::int64_t> in_bounds(const std::string& text, std::int64_t lo, std::int64_t hi) {
  const auto v = parse_int(text);
  if (!v || *v < lo || *v > hi) return std::nullopt;
  return v;
}

// The type of the settings member that Member points to.
template <auto Member>
using member_type = std::remove_cvref_t<decltype(std::declval<settings&>().*Member)>;

// The number an integer member holds: ACTOR_PORT is an optional one (unset: no actors).
template <typename T>
struct number_of {
  using type = T;
};
template <typename T>
struct number_of<std::optional<T>> {
  using type = T;
};

template <typename T>
std::string number_text(const T& v) {
  return std::to_string(v);
}
template <typename T>
std::string number_text(const std::optional<T>& v) {
  return v ? std::to_string(*v) : std::string();  // empty reads back as unset
}

// What every kind of setting shares; the flag and the default text are derived later, in
// setting_table(), from the env name and the default settings.
setting describe_setting(std::string_view env, std::string_view meaning, value_kind kind,
                         std::string allowed) {
  setting d;
  d.env = env;
  d.meaning = meaning;
  d.kind = kind;
  d.allowed = std::move(allowed);
  return d;
}

// KINDS: a comma-separated list of built-in job kinds, at least one, none twice.
setting kinds_setting(std::string_view meaning) {
  auto d = describe_setting("KINDS", meaning, value_kind::names,
                            fmt::format("a comma-separated list of {}",
                                        fmt::join(std::begin(builtin_kinds),
                                                  std::end(builtin_kinds), ", ")));
  for (const auto k : builtin_kinds) d.choices.push_back(k);
  d.parse = [](settings& s, const std::string& text, unsigned) {
    std::vector<std::string> out;
    std::string_view rest = text;
    while (true) {
      const auto comma = rest.find(',');
      auto name = rest.substr(0, comma);
      while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
      while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
      if (std::find(std::begin(builtin_kinds), std::end(builtin_kinds), name) ==
              std::end(builtin_kinds) ||
          std::find(out.begin(), out.end(), name) != out.end())
        return false;
      out.emplace_back(name);
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
    s.kinds = std::move(out);
    return true;
  };
  d.format = [](const settings& s) { return fmt::format("{}", fmt::join(s.kinds, ",")); };
  return d;
}

// An integer from Lo to Hi; `note` says what a special value means, e.g. "0 = any free port".
template <auto Member, std::int64_t Lo, std::int64_t Hi>
setting integer(std::string_view env, std::string_view meaning, std::string_view note = {}) {
  using number = typename number_of<member_type<Member>>::type;
  static_assert(std::is_integral_v<number> && Lo <= Hi && std::in_range<number>(Lo) &&
                    std::in_range<number>(Hi),
                "the bounds must fit the member");
  auto d = describe_setting(env, meaning, value_kind::integer,
                            fmt::format("an integer from {} to {}{}", Lo, Hi,
                                        note.empty() ? std::string() : fmt::format(" ({})", note)));
  d.lo = Lo;
  d.hi = Hi;
  d.parse = [](settings& s, const std::string& text, unsigned) {
    const auto v = in_bounds(text, Lo, Hi);
    if (v) s.*Member = static_cast<number>(*v);
    return v.has_value();
  };
  d.format = [](const settings& s) { return number_text(s.*Member); };
  return d;
}

// A duration in whole milliseconds from Lo to Hi (at most a day).
template <auto Member, std::int64_t Lo, std::int64_t Hi = max_ms>
setting milliseconds(std::string_view env, std::string_view meaning) {
  static_assert(std::is_same_v<member_type<Member>, std::chrono::milliseconds> && 0 <= Lo &&
                Lo <= Hi);
  auto d = describe_setting(env, meaning, value_kind::milliseconds,
                            fmt::format("milliseconds, an integer from {} to {}", Lo, Hi));
  d.lo = Lo;
  d.hi = Hi;
  d.parse = [](settings& s, const std::string& text, unsigned) {
    const auto v = in_bounds(text, Lo, Hi);
    if (v) s.*Member = std::chrono::milliseconds(*v);
    return v.has_value();
  };
  d.format = [](const settings& s) { return std::to_string((s.*Member).count()); };
  return d;
}

// A power of two from Lo to Hi.
template <auto Member, std::int64_t Lo, std::int64_t Hi>
setting power_of_two(std::string_view env, std::string_view meaning) {
  using number = member_type<Member>;
  static_assert(std::is_integral_v<number> && 0 < Lo && Lo <= Hi &&
                std::has_single_bit(static_cast<std::uint64_t>(Lo)) &&
                std::has_single_bit(static_cast<std::uint64_t>(Hi)) && std::in_range<number>(Hi));
  auto d = describe_setting(env, meaning, value_kind::power_of_two,
                            fmt::format("a power of two from {} to {}", Lo, Hi));
  d.lo = Lo;
  d.hi = Hi;
  d.parse = [](settings& s, const std::string& text, unsigned) {
    const auto v = in_bounds(text, Lo, Hi);
    if (!v || !std::has_single_bit(static_cast<std::uint64_t>(*v))) return false;
    s.*Member = static_cast<number>(*v);
    return true;
  };
  d.format = [](const settings& s) { return std::to_string(s.*Member); };
  return d;
}

// An IPv4 or IPv6 address to listen on.
template <auto Member>
setting address(std::string_view env, std::string_view meaning) {
  static_assert(std::is_same_v<member_type<Member>, std::string>);
  auto d = describe_setting(env, meaning, value_kind::address,
                            "an IPv4 or IPv6 address, such as 0.0.0.0, 127.0.0.1 or ::");
  d.parse = [](settings& s, const std::string& text, unsigned) {
    unsigned char buf[sizeof(in6_addr)];
    if (inet_pton(AF_INET, text.c_str(), buf) != 1 && inet_pton(AF_INET6, text.c_str(), buf) != 1)
      return false;
    s.*Member = text;
    return true;
  };
  d.format = [](const settings& s) { return s.*Member; };
  return d;
}

// One of the names in Choices, a list of (name, value) pairs; a switch is the choice 0, 1.
template <auto Member, const auto& Choices>
setting choice(std::string_view env, std::string_view meaning) {
  std::vector<std::string_view> names;
  for (const auto& c : Choices) names.push_back(c.first);
  auto d =
      describe_setting(env, meaning, value_kind::choice, fmt::format("{}", fmt::join(names, ", ")));
  d.choices = std::move(names);
  d.parse = [](settings& s, const std::string& text, unsigned) {
    for (const auto& [name, value] : Choices)
      if (name == text) {
        s.*Member = value;
        return true;
      }
    return false;
  };
  d.format = [](const settings& s) {
    for (const auto& [name, value] : Choices)
      if (value == s.*Member) return std::string(name);
    return std::string();
  };
  return d;
}

// THREADS: a count resolved against the cores, or none for a pure dispatcher, which only
// makes sense with remote actors to run the jobs.
setting threads(std::string_view meaning) {
  auto d = describe_setting(
      "THREADS", meaning, value_kind::integer,
      fmt::format("an integer from {} to {} (0 = one per core, negative = cores minus that many, "
                  "at least 1), or none (no local workers: needs ACTOR_PORT)",
                  -max_threads, max_threads));
  d.lo = -max_threads;
  d.hi = max_threads;
  d.choices = {"none"};
  d.fallback = "one per core";
  d.when_unset = "0";
  d.parse = [](settings& s, const std::string& text, unsigned cores) {
    if (text == "none") {
      s.threads = 0;  // a pure dispatcher: every job goes to a remote actor
      return true;
    }
    const auto v = in_bounds(text, -max_threads, max_threads);
    if (!v) return false;
    const std::int64_t n = *v > 0 ? *v : std::max<std::int64_t>(1, std::int64_t{cores} + *v);
    s.threads = static_cast<std::size_t>(n);
    return true;
  };
  d.format = [](const settings& s) {
    return s.threads == 0 ? std::string("none") : std::to_string(s.threads);
  };
  d.check = [](const settings& s) -> std::string_view {
    if (s.threads == 0 && !s.actor_port)
      return "none only with ACTOR_PORT set (with no local workers, remote actors run every job)";
    return {};
  };
  return d;
}

// Whether `host` (an address that parse() accepted) is a loopback one: 127.0.0.0/8, ::1, or
// an IPv4 loopback address mapped into IPv6.
bool is_loopback(const std::string& host) {
  unsigned char v4[sizeof(in_addr)];
  if (inet_pton(AF_INET, host.c_str(), v4) == 1) return v4[0] == 127;
  in6_addr v6{};
  if (inet_pton(AF_INET6, host.c_str(), &v6) != 1) return false;
  return IN6_IS_ADDR_LOOPBACK(&v6) || (IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127);
}

// ACTOR_HOST: off loopback, anyone who reaches the port could join the pool and be sent
// jobs (and answer them wrongly), so it takes authentication or an explicit ACTOR_INSECURE.
setting actor_host(std::string_view meaning) {
  auto d = address<&settings::actor_host>("ACTOR_HOST", meaning);
  d.check = [](const settings& s) -> std::string_view {
    if (!s.actor_port || is_loopback(s.actor_host) || actors_authenticated(s) || s.actor_insecure)
      return {};
    return "a loopback address (127.0.0.0/8 or ::1) while actors are not authenticated, since "
           "whoever reaches the actor port could join the pool and be sent jobs: set "
           "ACTOR_TLS_CERT, ACTOR_TLS_KEY and ACTOR_TLS_CA (mutual TLS), or ACTOR_TOKEN (a shared "
           "token), or ACTOR_INSECURE=1 to accept any actor on a network you trust";
  };
  return d;
}

// One of the three TLS files. They go together: one without the others is a mistake, not a
// way to turn half of TLS on.
template <auto Member>
setting tls_file(std::string_view env, std::string_view meaning) {
  static_assert(std::is_same_v<member_type<Member>, std::string>);
  auto d = describe_setting(env, meaning, value_kind::file,
                            "a path to a PEM file, set together with the other two");
  d.fallback = "unset (no TLS)";
  d.parse = [](settings& s, const std::string& text, unsigned) {
    s.*Member = text;
    return true;
  };
  d.format = [](const settings& s) { return s.*Member; };
  d.check = [](const settings& s) -> std::string_view {
    const bool any =
        !s.actor_tls_cert.empty() || !s.actor_tls_key.empty() || !s.actor_tls_ca.empty();
    if (!any || !(s.*Member).empty()) return {};
    return "mutual TLS takes all three of ACTOR_TLS_CERT (this end's certificate), ACTOR_TLS_KEY "
           "(its private key) and ACTOR_TLS_CA (the CA the peer's certificate must chain to): "
           "set it too, or unset the others";
  };
  return d;
}

// ACTOR_TOKEN: what a token may be. Printable ASCII without spaces, so that it survives an
// environment file, a command line and a JSON greeting unchanged; 16 bytes at least, so that
// it cannot be guessed (openssl rand -hex 32 makes 64).
constexpr std::size_t min_token = 16, max_token = 1024;
constexpr std::string_view token_allowed =
    "16 to 1024 printable ASCII characters, no spaces (openssl rand -hex 32 makes one); "
    "--print-config shows it as ***";
constexpr std::string_view token_file_allowed =
    "a readable file that holds the token (16 to 1024 printable ASCII characters, no spaces; "
    "a trailing newline is ignored), with ACTOR_TOKEN unset";

// Empty when `token` may be one, else what is wrong with it (without showing it).
std::string token_fault(std::string_view token) {
  if (token.size() < min_token || token.size() > max_token)
    return fmt::format("the token is {} bytes", token.size());
  for (const char c : token)
    if (c < '!' || c > '~') return "the token has a space or a character that is not ASCII";
  return {};
}

setting token(std::string_view meaning) {
  auto d = describe_setting("ACTOR_TOKEN", meaning, value_kind::secret, std::string(token_allowed));
  d.fallback = "unset (no token)";
  d.parse = [](settings& s, const std::string& text, unsigned) {
    if (!token_fault(text).empty()) return false;
    s.actor_token = text;
    return true;
  };
  // Never the token itself. One read from ACTOR_TOKEN_FILE shows as that file instead.
  d.format = [](const settings& s) {
    return s.actor_token.empty() || !s.actor_token_file.empty() ? std::string() : "***";
  };
  return d;
}

// ACTOR_TOKEN_FILE: the token from a file, so that it is in no environment or command line
// (which other users may read in /proc); a trailing newline (echo, editors) is not part of it.
setting token_file(std::string_view meaning) {
  auto d = describe_setting("ACTOR_TOKEN_FILE", meaning, value_kind::secret_file,
                            std::string(token_file_allowed));
  d.fallback = "unset";
  d.parse = [](settings& s, const std::string& path, unsigned) {
    constexpr std::string_view env = "ACTOR_TOKEN_FILE";
    // ACTOR_TOKEN comes first in the table, so it is read by now.
    if (!s.actor_token.empty())
      invalid(env, path, "ACTOR_TOKEN is set too: give the token one way", token_file_allowed);
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) invalid(env, path, std::strerror(errno), token_file_allowed);
    std::string text(max_token + 3, '\0');  // room for a token, CR LF, and one byte too many
    std::size_t got = 0;
    while (got < text.size()) {
      const auto n = ::read(fd, text.data() + got, text.size() - got);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        const int err = errno;
        ::close(fd);
        invalid(env, path, std::strerror(err), token_file_allowed);
      }
      if (n == 0) break;
      got += static_cast<std::size_t>(n);
    }
    ::close(fd);
    text.resize(got);
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    if (const auto fault = token_fault(text); !fault.empty())
      invalid(env, path, fault, token_file_allowed);
    s.actor_token = std::move(text);
    s.actor_token_file = path;
    return true;
  };
  d.format = [](const settings& s) { return s.actor_token_file; };
  return d;
}

// A default that is not a value, shown in --help instead of the formatted default.
setting shown_default(setting d, std::string_view text) {
  d.fallback = text;
  return d;
}

// The flag for a variable: PORT is --port, IO_THREADS is --io-threads.
std::string flag_for(std::string_view env) {
  std::string flag = "--";
  for (const char c : env)
    flag += c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return flag;
}

std::vector<setting> make_table() {
  using s = settings;
  std::vector<setting> table{
      integer<&s::port, 0, 65535>("PORT", "TCP port for HTTP", "0 = any free port"),
      address<&s::host>("HOST", "address to listen on"),
      threads("local compute worker threads"),
      choice<&s::strategy, strategies>("STRATEGY", "how a backend is chosen for each job"),
      integer<&s::io_threads, 1, 256>("IO_THREADS", "threads running the HTTP side"),
      power_of_two<&s::queue_capacity, 1, max_queue_capacity>(
          "QUEUE_CAPACITY", "mailbox slots per worker; a full mailbox answers 503"),
      integer<&s::max_n, 0, max_max_n>("MAX_N",
                                       "the largest n a request may ask for (larger: 422)"),
      choice<&s::log_level, log_levels>("LOG_LEVEL", "log level"),
      choice<&s::log_format, log_formats>("LOG_FORMAT",
                                          "log lines as text, or one JSON object per line"),
      choice<&s::access_log, switches>("ACCESS_LOG",
                                       "1: a line per response (path, status, times, backend)"),
      milliseconds<&s::request_timeout, 1>("REQUEST_TIMEOUT_MS",
                                           "a job's deadline from its request: then 504"),
      choice<&s::backpressure, policies>(
          "BACKPRESSURE", "when the chosen mailbox is full: 503 at once, or wait for room"),
      milliseconds<&s::queue_timeout, 0>(
          "QUEUE_TIMEOUT_MS", "with BACKPRESSURE=wait, the longest wait for room before 503"),
      choice<&s::admission, admissions>(
          "ADMISSION", "adaptive: refuse what would wait too long; static: only a full mailbox"),
      milliseconds<&s::admission_target, 1>(
          "ADMISSION_TARGET_MS", "adaptive: the least queue wait aimed at (it follows run times)"),
      milliseconds<&s::admission_interval, 1>(
          "ADMISSION_INTERVAL_MS", "adaptive: a standing queue this long is overload (CoDel)"),
      integer<&s::max_connections, 1, 1'000'000>(
          "MAX_CONNECTIONS", "open connections; one more is answered 503 and closed"),
      milliseconds<&s::idle_timeout, 1>("IDLE_TIMEOUT_MS",
                                        "an idle keep-alive connection is closed after this"),
      milliseconds<&s::header_timeout, 1>(
          "HEADER_TIMEOUT_MS", "a request must arrive whole within this of its first byte"),
      milliseconds<&s::drain_timeout, 0>("DRAIN_TIMEOUT_MS",
                                         "on SIGTERM, the time to finish accepted requests"),
      kinds_setting("the job kinds run here (poolactor: offered to the server)"),
      integer<&s::worker_nice, 0, 19>("WORKER_NICE",
                                      "worker threads' niceness, so IO threads preempt them",
                                      "0 = same priority as IO threads"),
      choice<&s::share_jobs, switches>(
          "SHARE_JOBS", "1: idle workers take chunks of a big job; 0: each job runs on one worker"),
      shown_default(integer<&s::agent_port, 0, 65535>(
                        "AGENT_PORT", "TCP port on HOST where HAProxy's agent-check reads a weight",
                        "0 = any free port"),
                    "unset (no agent)"),
      milliseconds<&s::agent_drain, 0>(
          "AGENT_DRAIN_MS", "with AGENT_PORT: on SIGTERM, serve this long as the agent says drain"),
      shown_default(
          integer<&s::actor_port, 0, 65535>("ACTOR_PORT", "TCP port where poolactor processes join",
                                            "0 = any free port"),
          "unset (no actors)"),
      actor_host("address of the actor port; other than loopback, actors must authenticate"),
      milliseconds<&s::actor_timeout, 10>(
          "ACTOR_TIMEOUT_MS", "an actor silent this long with jobs in flight is removed"),
      integer<&s::actor_max_in_flight, 1, max_queue_capacity>(
          "ACTOR_MAX_IN_FLIGHT", "jobs sent to one actor and not yet answered"),
      integer<&s::actor_max_connections, 1, 65536>(
          "ACTOR_MAX_CONNECTIONS", "actors connected at once; one more is closed at once"),
      tls_file<&s::actor_tls_cert>("ACTOR_TLS_CERT",
                                   "mutual TLS on the actor port: this end's certificate (PEM)"),
      tls_file<&s::actor_tls_key>("ACTOR_TLS_KEY", "mutual TLS: the private key of ACTOR_TLS_CERT"),
      tls_file<&s::actor_tls_ca>("ACTOR_TLS_CA",
                                 "mutual TLS: the CA that the peer's certificate must chain to"),
      token("a secret every actor must present to join"),
      token_file("ACTOR_TOKEN read from this file instead"),
      choice<&s::actor_insecure, switches>(
          "ACTOR_INSECURE", "1: ACTOR_HOST may be off loopback with no TLS and no token"),
  };
  const settings defaults;
  for (auto& d : table) {
    d.flag = flag_for(d.env);
    if (d.fallback.empty()) d.fallback = d.format(defaults);
  }
  return table;
}

}  // namespace

std::span<const setting> setting_table() {
  static const std::vector<setting> table = make_table();
  return table;
}

settings load(const env_lookup& env, unsigned cores) {
  settings s;
  if (cores == 0) cores = 1;
  for (const auto& d : setting_table()) {
    auto v = env(d.env);
    if (v && v->empty()) v.reset();  // an empty value counts as unset
    if (!v && d.when_unset.empty()) continue;
    const std::string text = v ? std::move(*v) : std::string(d.when_unset);
    if (d.parse(s, text, cores)) continue;
    if (d.kind == value_kind::secret) invalid_secret(d.env, text, d.allowed);
    invalid(d.env, text, d.allowed);
  }
  for (const auto& d : setting_table()) {
    if (!d.check) continue;
    const auto allowed = d.check(s);
    if (allowed.empty()) continue;
    const auto value = d.format(s);
    if (value.empty())
      throw config_error(std::string(d.env), fmt::format("{}: unset; {}", d.env, allowed));
    invalid(d.env, value, allowed);
  }
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
  std::vector<std::pair<std::string_view, std::string>> out;
  for (const auto& d : setting_table()) out.emplace_back(d.env, d.format(s));
  return out;
}

std::string describe(const settings& s) {
  std::string line;
  for (const auto& [name, value] : effective(s)) {
    if (!s.actor_port && name.starts_with("ACTOR_") && name != "ACTOR_PORT") continue;
    if (!s.agent_port && name == "AGENT_DRAIN_MS") continue;
    if (!line.empty()) line += ' ';
    const bool port = name == "ACTOR_PORT" || name == "AGENT_PORT";
    const std::string_view none = port ? "off" : "unset";
    line += fmt::format("{}={}", name, value.empty() ? none : std::string_view(value));
  }
  return line;
}

}  // namespace config

#pragma once
// The one place that reads poolserver's settings (environment, flags) and validates them.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <spdlog/common.h>

#include "pool/admission.hpp"
#include "pool/strategy.hpp"

namespace config {

/// The job kinds built into both binaries (workers/job_registry.cpp has their code).
inline constexpr std::string_view builtin_kinds[] = {"square_sum", "sleep_ms"};

/// A setting that cannot be used; what() is one line naming the variable, the bad value
/// and what is allowed.
class config_error : public std::runtime_error {
 public:
  config_error(std::string setting, const std::string& message)
      : std::runtime_error(message), setting_(std::move(setting)) {}
  /// The variable at fault, e.g. "PORT".
  const std::string& setting() const noexcept { return setting_; }

 private:
  std::string setting_;
};

/// What a request does when the chosen mailbox (and the redispatch) is full.
enum class backpressure_policy {
  reject,  ///< 503 with Retry-After at once
  wait,    ///< retry on a timer until QUEUE_TIMEOUT_MS, then 503
};

/// How log lines are written to stderr.
enum class log_style {
  text,  ///< spdlog's human-readable lines
  json,  ///< one JSON object per line, for log pipelines
};

/// The effective configuration, every value validated and resolved.
struct settings {
  std::uint16_t port = 1337;     ///< PORT (0 = any free port)
  std::string host = "0.0.0.0";  ///< HOST, an IPv4 or IPv6 address
  std::size_t threads = 1;       ///< THREADS resolved against the core count (0: none)
  pool::strategy_kind strategy = pool::strategy_kind::roundrobin;  ///< STRATEGY
  std::size_t io_threads = 1;                                      ///< IO_THREADS
  std::size_t queue_capacity = 1024;    ///< QUEUE_CAPACITY per worker, a power of two
  std::uint64_t max_n = 1'000'000'000;  ///< MAX_N, the largest n a job may ask for
  spdlog::level::level_enum log_level = spdlog::level::info;  ///< LOG_LEVEL
  log_style log_format = log_style::text;                     ///< LOG_FORMAT
  bool access_log = false;  ///< ACCESS_LOG: one line per response (method, path, status, times)
  std::chrono::milliseconds request_timeout{30'000};  ///< REQUEST_TIMEOUT_MS: job deadline → 504
  backpressure_policy backpressure = backpressure_policy::reject;  ///< BACKPRESSURE
  std::chrono::milliseconds queue_timeout{1'000};    ///< QUEUE_TIMEOUT_MS: longest wait for room
  pool::admission_mode admission = pool::admission_mode::adaptive;  ///< ADMISSION
  std::chrono::milliseconds admission_target{5};      ///< ADMISSION_TARGET_MS: the target's floor
  std::chrono::milliseconds admission_interval{100};  ///< ADMISSION_INTERVAL_MS: CoDel's interval
  std::size_t max_connections = 10'000;              ///< MAX_CONNECTIONS open at once
  std::chrono::milliseconds idle_timeout{30'000};    ///< IDLE_TIMEOUT_MS: keep-alive idle limit
  std::chrono::milliseconds header_timeout{10'000};  ///< HEADER_TIMEOUT_MS: to receive a request
  std::chrono::milliseconds drain_timeout{10'000};   ///< DRAIN_TIMEOUT_MS: graceful stop limit
  /// KINDS: the job kinds this process runs (the server: on its local workers; poolactor:
  /// offered to the server), names of builtin_kinds.
  std::vector<std::string> kinds{"square_sum"};
  int worker_nice = 10;  ///< WORKER_NICE: worker threads' niceness, so IO threads preempt them
  bool share_jobs = true;  ///< SHARE_JOBS: idle workers take chunks of a big job
  /// AGENT_PORT: where HAProxy's agent-check reads the server's weight, on HOST (unset: no
  /// agent; 0 = any free port).
  std::optional<std::uint16_t> agent_port;
  /// AGENT_DRAIN_MS: with AGENT_PORT, how long a stopping server answers the agent `drain`
  /// while it still serves, before its listener closes.
  std::chrono::milliseconds agent_drain{1'000};
  /// ACTOR_PORT: where remote actors connect (unset: no actors; 0 = any free port).
  std::optional<std::uint16_t> actor_port;
  std::string actor_host = "127.0.0.1";  ///< ACTOR_HOST, an IPv4 or IPv6 address
  /// ACTOR_TIMEOUT_MS: an actor with jobs in flight that sends nothing for this long is
  /// removed and its jobs run elsewhere.
  std::chrono::milliseconds actor_timeout{10'000};
  std::size_t actor_max_in_flight = 64;  ///< ACTOR_MAX_IN_FLIGHT: jobs sent to one actor at once
  /// ACTOR_MAX_CONNECTIONS: actors connected at once; one more is closed at once.
  std::size_t actor_max_connections = 256;
  /// ACTOR_TLS_CERT, ACTOR_TLS_KEY, ACTOR_TLS_CA: PEM files for mutual TLS on the actor port,
  /// this end's certificate, its private key, and the CA the peer's certificate must chain
  /// to (sockets::tls_files). load() sees to it that all three are set or none (no TLS).
  std::string actor_tls_cert;
  std::string actor_tls_key;  ///< ACTOR_TLS_KEY (above)
  std::string actor_tls_ca;   ///< ACTOR_TLS_CA (above)
  /// ACTOR_TOKEN, or the token read from ACTOR_TOKEN_FILE: the secret an actor must
  /// present to join; empty: none.
  std::string actor_token;
  /// ACTOR_TOKEN_FILE: the file actor_token was read from; empty when it came from
  /// ACTOR_TOKEN or there is none.
  std::string actor_token_file;
  /// ACTOR_INSECURE: an ACTOR_HOST other than loopback may go without TLS and token.
  bool actor_insecure = false;
};

/// Whether the actor port uses mutual TLS (load() checks that the three files go together).
inline bool actor_tls(const settings& s) {
  return !s.actor_tls_cert.empty();
}

/// Whether actors must prove who they are: mutual TLS, a token, or both.
inline bool actors_authenticated(const settings& s) {
  return actor_tls(s) || !s.actor_token.empty();
}

/// The kind of value a setting takes: what --help shows after its flag, and what its
/// bounds or names mean.
enum class value_kind {
  integer,       ///< a whole number from lo to hi
  milliseconds,  ///< a duration in whole milliseconds from lo to hi
  power_of_two,  ///< a power of two from lo to hi
  address,       ///< an IPv4 or IPv6 address
  choice,        ///< one of `choices`
  file,          ///< a file's path, read by what uses it
  secret,        ///< a secret: never shown, not even in an error (--print-config shows ***)
  secret_file,   ///< a file that holds a secret, read by load()
  names,         ///< a comma-separated list of some of `choices`
};

/// One setting: everything poolserver knows about it. load(), --help, the errors,
/// --print-config (effective()) and describe() all read it from here, so that a new
/// setting is one line in the table (config.cpp) plus its member in `settings`.
struct setting {
  std::string_view env;      ///< the environment variable, e.g. "PORT"
  std::string flag;          ///< the command-line flag, derived from env: "--port"
  std::string fallback;      ///< the default, as text (the default settings, formatted)
  std::string allowed;       ///< the values allowed, as in the error for a bad one
  std::string_view meaning;  ///< what it does, in a line
  value_kind kind = value_kind::integer;  ///< what kind of value it takes
  std::int64_t lo = 0;                    ///< integer kinds: the smallest value allowed
  std::int64_t hi = 0;                    ///< integer kinds: the largest value allowed
  /// choice: the names allowed; an integer kind: names allowed besides (THREADS: none).
  std::vector<std::string_view> choices;
  /// The text read when the variable is unset, for a default that depends on the machine
  /// (THREADS: "0", one per core); empty: the default in `settings` stays.
  std::string_view when_unset;
  /// Sets the value in `s` from `text` (`cores` resolves THREADS); false when not allowed.
  bool (*parse)(settings& s, const std::string& text, unsigned cores) = nullptr;
  /// The value in `s` as text that parse() reads back to the same value.
  std::string (*format)(const settings& s) = nullptr;
  /// A rule across settings, checked once all are read: empty when `s` keeps it, else the
  /// allowed text for the error (THREADS=none needs ACTOR_PORT), or, for a setting left
  /// unset, why it is needed (ACTOR_TLS_KEY with ACTOR_TLS_CERT). Null: no such rule.
  std::string_view (*check)(const settings& s) = nullptr;
};

/// Every setting, in the order load() reads them and --help and --print-config list them.
std::span<const setting> setting_table();

/// Looks a variable up; nothing when unset.
using env_lookup = std::function<std::optional<std::string>(std::string_view name)>;

/// Reads every setting through `env`; `cores` resolves THREADS. An empty value counts as
/// unset. Throws config_error for the first invalid value.
settings load(const env_lookup& env, unsigned cores);

/// Looks variables up in the process environment (getenv).
env_lookup process_environment();

/// load() over the process environment and std::thread::hardware_concurrency().
settings load_from_environment();

/// The LOG_LEVEL name of a level ("warn", not spdlog's "warning").
std::string_view log_level_name(spdlog::level::level_enum level);

/// Every setting's effective value as NAME and text, in setting_table() order; a value
/// read back through load() gives the same settings (an unset ACTOR_PORT is empty), except a
/// secret: ACTOR_TOKEN shows as *** (which load() refuses), or empty when ACTOR_TOKEN_FILE
/// gave it.
std::vector<std::pair<std::string_view, std::string>> effective(const settings& s);

/// One line with every effective setting, for the start-up log (unset ones say so).
std::string describe(const settings& s);

}  // namespace config

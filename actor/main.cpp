// poolactor: a remote actor. Connects to a poolserver's ACTOR_PORT, joins its pool as one
// backend, and runs the jobs it is sent on a local pool (THREADS, STRATEGY, QUEUE_CAPACITY).

#include <utility>  // before Asio: see docs/architecture.md, known pitfalls

#include <cstdio>
#include <cstring>
#include <functional>
#include <optional>
#include <string>

#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "actor/client.hpp"
#include "config/config.hpp"
#include "logging/log_setup.hpp"
#include "workers/job_registry.hpp"
#include "workers/square_sum.hpp"

namespace {

constexpr const char* usage =
    "usage: poolactor HOST:PORT\n"
    "\n"
    "Connects to a poolserver started with ACTOR_PORT and runs the jobs it sends on a local\n"
    "pool. Reconnects with backoff (0.1 s doubling to 5 s) whenever the connection is lost.\n"
    "SIGTERM leaves gracefully: no new job, the jobs here are answered first (at most\n"
    "DRAIN_TIMEOUT_MS); a second SIGTERM stops at once.\n"
    "HOST may be a name or an address; an IPv6 address goes in brackets: [::1]:7000.\n"
    "\n"
    "Environment (as for poolserver): THREADS (local workers; default one per core),\n"
    "STRATEGY, QUEUE_CAPACITY, WORKER_NICE, DRAIN_TIMEOUT_MS, LOG_LEVEL, LOG_FORMAT (text\n"
    "or json), KINDS (the job kinds it offers).\n"
    "Authentication, as the server asks: ACTOR_TOKEN or ACTOR_TOKEN_FILE (a shared secret),\n"
    "ACTOR_TLS_CERT, ACTOR_TLS_KEY, ACTOR_TLS_CA (mutual TLS: this actor's certificate and\n"
    "key, and the CA the server's certificate must chain to; it must name HOST).\n";

// HOST:PORT, or [IPv6]:PORT; false when it is neither.
bool split_address(const std::string& arg, std::string& host, std::string& port) {
  const auto colon = arg.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == arg.size()) return false;
  host = arg.substr(0, colon);
  port = arg.substr(colon + 1);
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return false;
    host = host.substr(1, host.size() - 2);
  }
  return port.find_first_not_of("0123456789") == std::string::npos;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0)) {
    std::fputs(usage, stdout);
    return 0;
  }
  if (argc == 2 && std::strcmp(argv[1], "--version") == 0) {
    std::printf("poolactor %s\n", POOLSERVER_VERSION);
    return 0;
  }
  actor::client_options options;  // host and port from the command line
  if (argc != 2 || !split_address(argv[1], options.host, options.port)) {
    std::fputs(usage, stderr);
    return 2;
  }
  config::settings settings;
  try {
    settings = config::load_from_environment();
  } catch (const config::config_error& e) {
    std::fprintf(stderr, "poolactor: %s\n", e.what());
    return 2;
  }
  logging::install_default_logger("poolactor", settings);
  options.leave_timeout = settings.drain_timeout;
  options.token = settings.actor_token;
  std::optional<boost::asio::ssl::context> tls;
  if (config::actor_tls(settings)) {
    try {
      tls.emplace(sockets::client_tls_context(
          {settings.actor_tls_cert, settings.actor_tls_key, settings.actor_tls_ca}, options.host));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "poolactor: %s\n", e.what());
      return 2;
    }
    options.tls = &*tls;
  }
  spdlog::info("poolactor {} starting: THREADS={} STRATEGY={} QUEUE_CAPACITY={}, square_sum "
               "kernel {}",
               POOLSERVER_VERSION, settings.threads, pool::to_string(settings.strategy),
               settings.queue_capacity, workers::kernel_name());

  const auto registry = workers::registry_of(settings.kinds);
  pool::worker_pool pool({settings.threads, settings.queue_capacity, settings.strategy,
                          settings.worker_nice, false});
  boost::asio::io_context io(1);
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  options.on_stopped = [&signals] { signals.cancel(); };  // then run() returns
  actor::client client(io, options, pool, registry);
  // The first signal leaves gracefully (the jobs here are answered first, within
  // DRAIN_TIMEOUT_MS); a second one stops at once (the server runs them again elsewhere).
  std::function<void(const boost::system::error_code&, int)> on_signal =
      [&](const boost::system::error_code& ec, int signo) {
        if (ec) return;
        static bool first = true;
        if (first) {
          first = false;
          spdlog::info("signal {}: leaving (a second signal stops at once)", signo);
          signals.async_wait(on_signal);  // first: a leave that stops at once cancels it
          client.leave();
          return;
        }
        spdlog::info("signal {}: stopping now", signo);
        client.stop();
      };
  signals.async_wait(on_signal);
  client.start();
  io.run();
  pool.shutdown();
  const auto& t = client.totals();
  spdlog::info("stopped: {} job(s) received, {} run to their end, {} failed, {} cancelled",
               t.received, t.completed, t.failed, t.cancelled);
  return 0;
}

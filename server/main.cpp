// poolserver: HTTP compute server. Settings come from flags and the environment (--help).

#include <exception>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "config/cli.hpp"
#include "config/config.hpp"
#include "logging/log_setup.hpp"
#include "server/server.hpp"
#include "workers/job_registry.hpp"
#include "workers/square_sum.hpp"

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv, argv + argc);
  const auto cli = config::parse_command_line(
      args, config::process_environment(), std::thread::hardware_concurrency(), std::cout,
      std::cerr);
  if (!cli.run) return cli.exit_code;
  const config::settings& settings = *cli.run;

  logging::install_default_logger("poolserver", settings);
  spdlog::info("poolserver {} starting: {}, square_sum kernel {}", POOLSERVER_VERSION,
               config::describe(settings), workers::kernel_name());
  try {
    server::server srv(settings, workers::registry_of(settings.kinds));
    srv.handle_signals();
    std::ostringstream address;
    address << srv.local_endpoint();
    if (const auto actors = srv.actor_endpoint()) {
      std::ostringstream where;
      where << *actors;
      const char* auth = config::actor_tls(settings)
                             ? (settings.actor_token.empty() ? "mutual TLS" : "mutual TLS and a token")
                             : (settings.actor_token.empty() ? "not authenticated" : "a token");
      spdlog::info("actors connect to {} ({}; run: poolactor {})", where.str(), auth,
                   where.str());
    }
    if (const auto agent = srv.agent_endpoint()) {
      std::ostringstream where;
      where << *agent;
      spdlog::info("agent-check on {} (haproxy.cfg: agent-check agent-port {})", where.str(),
                   agent->port());
    }
    spdlog::info("listening on http://{}", address.str());
    srv.run();
    spdlog::info("stopped: every accepted request answered, workers joined");
    return 0;
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return 1;
  }
}

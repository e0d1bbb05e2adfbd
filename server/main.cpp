// poolserver: HTTP compute server. Settings come from the environment (see README).

#include <cstdio>
#include <exception>
#include <sstream>

#include <spdlog/spdlog.h>

#include "config/config.hpp"
#include "server/server.hpp"
#include "workers/job_registry.hpp"
#include "workers/square_sum.hpp"

int main() {
  config::settings settings;
  try {
    settings = config::load_from_environment();
  } catch (const config::config_error& e) {
    std::fprintf(stderr, "poolserver: %s\n", e.what());
    return 2;
  }
  spdlog::set_level(settings.log_level);
  spdlog::info("poolserver {} starting: {}, square_sum kernel {}", POOLSERVER_VERSION,
               config::describe(settings), workers::isa_name(workers::active_isa()));
  try {
    server::server srv(settings, workers::default_registry());
    srv.handle_signals();
    std::ostringstream address;
    address << srv.local_endpoint();
    if (const auto actors = srv.actor_endpoint()) {
      std::ostringstream where;
      where << *actors;
      spdlog::info("actors connect to {} (run: poolactor {})", where.str(), where.str());
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

#pragma once
// The server's two pages about itself: /metrics (Prometheus text) and /stats (the
// dashboard's JSON), rendered from a view of the server's parts taken at one moment.

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>

#include "config/config.hpp"
#include "observability/actor_port_counters.hpp"
#include "observability/http_stats.hpp"
#include "observability/live_window.hpp"
#include "observability/pool_metrics.hpp"
#include "pool/job_clock.hpp"
#include "pool/worker_pool.hpp"

namespace observability {

/// What the pages show: the pool, the live window and the actor port read at one moment,
/// when a page is asked for; the HTTP counters read as the page renders.
struct server_view {
  const config::settings& settings;  ///< the effective settings (MAX_CONNECTIONS fitted)
  pool_view pool;                    ///< the pool's counters, throughput and rejections
  const http_stats& http;            ///< read as the page renders
  live_window::delta recent;                  ///< the last few seconds
  std::optional<actor_port_counters> actors;  ///< when ACTOR_PORT is set
  std::size_t open_connections = 0;
  bool draining = false;
  /// The weight the agent answers HAProxy with, in percent; nothing when AGENT_PORT is unset.
  std::optional<int> agent_weight;
  double uptime_seconds = 0;
};

/// /metrics: build and configuration, the pool, HTTP, and the actor port's families.
std::string metrics_text(const server_view& v);
/// /stats: the state and why, the settings, throughput, latency of the last few seconds,
/// totals and one entry per backend.
std::string stats_json(const server_view& v);

}  // namespace observability

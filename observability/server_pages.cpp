#include "observability/server_pages.hpp"

#include <chrono>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "observability/pool_metrics.hpp"
#include "observability/prometheus_writer.hpp"

namespace observability {

namespace {

void write_actor_metrics(prometheus_writer& w, const actor_port_counters& a) {
  w.family("poolserver_actor_connects_total", "counter", "Actor connections accepted.");
  w.sample("poolserver_actor_connects_total", {}, a.connects);
  w.family("poolserver_actor_connections_refused_total", "counter",
           "Actor connections closed at once: ACTOR_MAX_CONNECTIONS actors were connected.");
  w.sample("poolserver_actor_connections_refused_total", {}, a.connections_refused);
  w.family("poolserver_actor_disconnects_total", "counter",
           "Actors removed from the pool, by reason (closed: the actor closed or the connection "
           "failed; malformed: it broke the protocol; timeout: silent with jobs in flight, or "
           "reading nothing; "
           "shutdown: the server stopped; left: it said it leaves and every job it held was "
           "answered).");
  for (const auto& [reason, n] : a.disconnects)
    w.sample("poolserver_actor_disconnects_total", {{"reason", reason}}, n);
  w.family("poolserver_actor_refusals_total", "counter",
           "Actors refused before they joined, by reason (credentials: a missing or wrong "
           "ACTOR_TOKEN; tls: the TLS handshake failed; greeting: malformed, missing or late).");
  for (const auto& [reason, n] : a.refusals)
    w.sample("poolserver_actor_refusals_total", {{"reason", reason}}, n);
  w.family("poolserver_actor_redispatched_jobs_total", "counter",
           "Jobs in flight at an actor that was removed, submitted again to another backend.");
  w.sample("poolserver_actor_redispatched_jobs_total", {}, a.redispatched);
  w.family("poolserver_actor_refused_jobs_total", "counter",
           "Jobs in flight at an actor that was removed, answered 503: no backend had room.");
  w.sample("poolserver_actor_refused_jobs_total", {}, a.refused_jobs);
  w.family("poolserver_actor_info", "gauge",
           "A connected actor's process id, once its first answer told it; always 1.");
  for (const auto& [name, pid] : a.pids)
    w.sample("poolserver_actor_info", {{"actor", name}, {"pid", std::to_string(pid)}},
             std::uint64_t{1});
}

}  // namespace

std::string metrics_text(const server_view& v) {
  std::string out;
  out.reserve(16 * 1024);
  prometheus_writer w(out);
  w.family("poolserver_info", "gauge", "Build and configuration; the value is always 1.");
  const auto threads = std::to_string(v.settings.threads);
  const auto io_threads = std::to_string(v.settings.io_threads);
  const auto capacity = std::to_string(v.settings.queue_capacity);
  w.sample("poolserver_info",
           {{"version", POOLSERVER_VERSION},
            {"strategy", pool::to_string(v.settings.strategy)},
            {"threads", threads},
            {"io_threads", io_threads},
            {"queue_capacity", capacity}},
           std::uint64_t{1});
  write_pool_metrics(w, v.pool);
  v.http.write_metrics(w, v.open_connections, v.settings.max_connections);
  if (v.actors) write_actor_metrics(w, *v.actors);
  if (v.agent_weight) {
    w.family("poolserver_agent_weight", "gauge",
             "The weight the agent-check answers HAProxy with, in percent of the configured "
             "one: lower the more the server refuses, 100 with room to spare.");
    w.sample("poolserver_agent_weight", {}, static_cast<std::uint64_t>(*v.agent_weight));
  }
  return out;
}

std::string stats_json(const server_view& v) {
  using json = nlohmann::json;
  const auto& [local, remotes, total] = v.pool.counters;
  const auto& rates = v.pool.throughput;
  const auto& recent = v.recent;

  // One bar of the dashboard: a backend's counters; throughput is null for an actor (the
  // pool measures actors' throughput together only).
  json backends = json::array();
  const auto add_backend = [&](const std::string& name, std::string_view kind,
                               const pool::worker_stats& s, std::uint64_t capacity,
                               json throughput) {
    backends.push_back({{"name", name},
                        {"kind", kind},
                        {"queue_depth", s.queue_depth},
                        {"capacity", capacity},
                        {"in_flight", s.in_flight},
                        {"produced", s.produced},
                        {"consumed", s.consumed},
                        {"producer_waits", s.producer_waits},
                        {"consumer_waits", s.consumer_waits},
                        {"shared", s.shared},
                        {"help_chunks", s.help_chunks},
                        {"helping", s.helping},
                        {"throughput", std::move(throughput)}});
  };
  std::string fullest;  // a mailbox at 90% or more, named for the state's reason
  for (std::size_t k = 0; k < local.size(); ++k) {
    const auto& s = local[k];
    const auto name = "worker " + std::to_string(k);
    add_backend(name, "worker", s, s.capacity, k + 1 < rates.size() ? rates[k + 1] : 0.0);
    if (fullest.empty() && s.capacity > 0 && s.queue_depth * 10 >= s.capacity * 9)
      fullest =
          name + "'s mailbox is " + std::to_string(s.queue_depth * 100 / s.capacity) + "% full";
  }
  for (const auto& [r, s] : remotes)
    add_backend(r->name(), "actor", s, v.settings.actor_max_in_flight, nullptr);

  // The state an operator should see first, and why.
  std::string state = "ok";
  std::string reason;
  if (v.draining) {
    state = "draining";
    reason = "stopping: finishing accepted requests, taking no new connections";
  } else if (v.pool.backends == 0) {
    state = "no backends";
    reason = "no local worker and no actor connected: requests are answered 503";
  } else if (recent.rejected > 0 && v.pool.admission == pool::admission_mode::adaptive) {
    state = "shedding";
    reason = fmt::format(
        "{} request(s) answered 503 in the last {:.1f} s; admission's target is {:.1f} ms "
        "(admission.shed_by_reason and totals say which refusals)",
        recent.rejected, recent.seconds,
        std::chrono::duration<double, std::milli>(v.pool.target).count());
  } else if (recent.rejected > 0) {
    state = "overloaded";
    reason = fmt::format("{} request(s) answered 503 in the last {:.1f} s", recent.rejected,
                         recent.seconds);
  } else if (!fullest.empty()) {
    state = "overloaded";
    reason = fullest;
  }

  // Quantiles of what was seen in the window; null when it saw none.
  const auto quantile = [](const pool::histogram::snapshot& h, double q) -> json {
    if (h.count() == 0) return nullptr;
    return pool::quantile(h, q);
  };

  // Admission: its mode and target, and what it refused or shed, by reason and by priority.
  json by_reason = json::object();
  json by_priority = json::object();
  for (std::size_t r = 0; r < pool::shed_reason_names.size(); ++r) {
    std::uint64_t n = 0;
    for (const auto c : v.pool.sheds[r]) n += c;
    by_reason[std::string(pool::shed_reason_names[r])] = n;
  }
  for (std::size_t p = 0; p < pool::priority_names.size(); ++p) {
    std::uint64_t n = 0;
    for (const auto& row : v.pool.sheds) n += row[p];
    by_priority[std::string(pool::priority_names[p])] = n;
  }
  std::uint64_t sojourn_sheds = 0;  // accepted, then shed: in totals.cancelled already
  for (const auto c : v.pool.sheds[static_cast<std::size_t>(pool::shed_reason::sojourn)])
    sojourn_sheds += c;
  json admission{
      {"mode", v.pool.admission == pool::admission_mode::adaptive ? "adaptive" : "static"},
      {"target_ms", std::chrono::duration<double, std::milli>(v.pool.target).count()},
      {"shed", v.pool.shed_total()},
      {"shed_by_reason", std::move(by_reason)},
      {"shed_by_priority", std::move(by_priority)}};

  const json out{
      {"version", POOLSERVER_VERSION},
      {"uptime_seconds", v.uptime_seconds},
      {"state", state},
      {"reason", reason},
      {"strategy", pool::to_string(v.settings.strategy)},
      {"backpressure",
       v.settings.backpressure == config::backpressure_policy::wait ? "wait" : "reject"},
      {"threads", v.settings.threads},
      {"actors", remotes.size()},
      {"io_threads", v.settings.io_threads},
      {"queue_capacity", v.settings.queue_capacity},
      {"connections", v.open_connections},
      {"agent_weight", v.agent_weight ? json(*v.agent_weight) : json(nullptr)},
      {"throughput", rates.empty() ? 0.0 : rates[0]},
      // Jobs answered 200 apart from those turned away: 503s are fast, and under overload
      // they would hide how long the accepted jobs take.
      {"latency",
       {{"window_seconds", recent.seconds},
        {"jobs", recent.answered.count()},
        {"p50", quantile(recent.answered, 0.5)},
        {"p99", quantile(recent.answered, 0.99)},
        {"refused", recent.refused.count()},
        {"refused_p99", quantile(recent.refused, 0.99)}}},
      {"totals",
       {{"produced", total.produced},
        {"consumed", total.consumed},
        {"producer_waits", total.producer_waits},
        {"consumer_waits", total.consumer_waits},
        {"completed", total.completed},
        {"failed", total.failed},
        {"cancelled", total.cancelled},
        {"queue_depth", total.queue_depth},
        {"in_flight", total.in_flight},
        {"rejected", v.pool.rejected(pool::reject_reason::queue_full) +
                         v.pool.rejected(pool::reject_reason::no_backend) +
                         v.pool.rejected(pool::reject_reason::shutting_down) + v.pool.shed_total()},
        {"responses_503", v.http.responses(503)}}},
      {"admission", std::move(admission)},
      {"backends", std::move(backends)},
  };
  return out.dump();
}

}  // namespace observability

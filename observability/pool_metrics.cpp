#include "observability/pool_metrics.hpp"

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace observability {

namespace {

// A counter or gauge of worker_stats as a metric family.
struct quantity {
  const char* name;
  const char* type;
  const char* help;
  std::uint64_t pool::worker_stats::*field;
  bool local_only = false;  // a quantity of local mailboxes: actors have none here
};

void write_remote_metrics(
    prometheus_writer& w,
    const std::vector<std::pair<std::shared_ptr<pool::remote_backend>, pool::worker_stats>>&
        remotes) {
  w.family("poolserver_actors", "gauge", "Remote actors connected now.");
  w.sample("poolserver_actors", {}, static_cast<std::uint64_t>(remotes.size()));
  static constexpr quantity quantities[] = {
      {"jobs_produced_total", "counter", "Jobs sent (or queued to send) to the actor.",
       &pool::worker_stats::produced},
      {"jobs_consumed_total", "counter", "Answers received from the actor.",
       &pool::worker_stats::consumed},
      {"producer_waits_total", "counter", "Jobs the actor refused: it was at its in-flight limit.",
       &pool::worker_stats::producer_waits},
      {"jobs_completed_total", "counter", "Jobs the actor answered with a value.",
       &pool::worker_stats::completed},
      {"jobs_failed_total", "counter", "Jobs the actor answered with an error.",
       &pool::worker_stats::failed},
      {"jobs_cancelled_total", "counter",
       "Jobs it held whose request was answered without it (deadline, client gone, shutdown).",
       &pool::worker_stats::cancelled},
      {"in_flight", "gauge", "Jobs sent to the actor and not answered yet.",
       &pool::worker_stats::in_flight},
  };
  for (const auto& q : quantities) {
    const std::string name = std::string("poolserver_actor_") + q.name;
    w.family(name, q.type, std::string(q.help) + " Per connected actor.");
    for (const auto& [r, s] : remotes) w.sample(name, {{"actor", r->name()}}, s.*q.field);
  }
  w.family("poolserver_actor_latency_seconds", "histogram",
           "Time from a job's acceptance for an actor until its answer arrived. Per connected "
           "actor.");
  for (const auto& [r, s] : remotes)
    w.histogram("poolserver_actor_latency_seconds", {{"actor", r->name()}}, s.run_time);
}

}  // namespace

pool_view view_of(const pool::worker_pool& pool, pool::clock::time_point now) {
  pool_view v;
  v.counters = pool.snapshot();
  v.throughput = pool.throughput(now);
  for (const auto r : {pool::reject_reason::queue_full, pool::reject_reason::shutting_down,
                       pool::reject_reason::no_backend})
    v.rejections[static_cast<std::size_t>(r)] = pool.rejections(r);
  v.redispatches = pool.redispatches();
  v.backends = pool.backend_count();
  v.takes_remotes = pool.options().remotes;
  v.admission = pool.options().admission.mode;
  v.target = pool.admission_target();
  for (std::size_t r = 0; r < pool::shed_reason_names.size(); ++r)
    for (std::size_t p = 0; p < pool::priority_names.size(); ++p)
      v.sheds[r][p] =
          static_cast<pool::shed_reason>(r) == pool::shed_reason::sojourn
              ? v.counters.total.shed_by_priority[p]
              : pool.sheds(static_cast<pool::shed_reason>(r), static_cast<pool::priority>(p));
  return v;
}

void write_pool_metrics(prometheus_writer& w, const pool_view& pool) {
  const auto& [stats, remotes, total] = pool.counters;
  const auto& rates = pool.throughput;
  std::vector<std::string> ids;
  for (std::size_t k = 0; k < stats.size(); ++k) ids.push_back(std::to_string(k));

  // One pool-wide family and one per-worker family (label worker="k") per quantity.
  static constexpr quantity quantities[] = {
      {"jobs_produced_total", "counter", "Jobs accepted into a mailbox.",
       &pool::worker_stats::produced},
      {"jobs_consumed_total", "counter", "Jobs taken out of a mailbox by a worker.",
       &pool::worker_stats::consumed},
      {"producer_waits_total", "counter", "Pushes that found the chosen mailbox full.",
       &pool::worker_stats::producer_waits},
      {"consumer_waits_total", "counter", "Times a worker found its mailbox empty and slept.",
       &pool::worker_stats::consumer_waits, true},
      {"jobs_completed_total", "counter", "Jobs that finished with a result.",
       &pool::worker_stats::completed},
      {"jobs_failed_total", "counter", "Jobs that failed (the job threw).",
       &pool::worker_stats::failed},
      {"queue_depth", "gauge", "Jobs waiting in mailboxes now.", &pool::worker_stats::queue_depth,
       true},
      {"queue_capacity", "gauge", "Mailbox capacity.", &pool::worker_stats::capacity, true},
      {"in_flight", "gauge", "Jobs accepted and not finished (queued + running).",
       &pool::worker_stats::in_flight},
      {"jobs_shared_total", "counter",
       "Jobs that idle workers helped with (SHARE_JOBS), counted on the worker that took them.",
       &pool::worker_stats::shared, true},
      {"help_chunks_total", "counter",
       "Chunks of another worker's job computed while the own mailbox was empty (SHARE_JOBS).",
       &pool::worker_stats::help_chunks, true},
      {"helping", "gauge", "Workers computing chunks of another worker's job now (SHARE_JOBS).",
       &pool::worker_stats::helping, true},
  };
  for (const auto& q : quantities) {
    const std::string pool_name = std::string("poolserver_") + q.name;
    const std::string worker_name = std::string("poolserver_worker_") + q.name;
    w.family(pool_name, q.type,
             std::string(q.help) + (q.local_only ? " Whole pool (local mailboxes)."
                                                 : " Whole pool (local workers and actors)."));
    w.sample(pool_name, {}, total.*q.field);
    w.family(worker_name, q.type, std::string(q.help) + " Per local worker.");
    for (std::size_t k = 0; k < stats.size(); ++k)
      w.sample(worker_name, {{"worker", ids[k]}}, stats[k].*q.field);
  }
  if (pool.takes_remotes) write_remote_metrics(w, remotes);

  w.family("poolserver_throughput_jobs_per_second", "gauge",
           "Jobs finished per second over the last few seconds. Whole pool.");
  w.sample("poolserver_throughput_jobs_per_second", {}, rates[0]);
  w.family("poolserver_worker_throughput_jobs_per_second", "gauge",
           "Jobs finished per second over the last few seconds. Per worker.");
  for (std::size_t k = 0; k < stats.size(); ++k)
    w.sample("poolserver_worker_throughput_jobs_per_second", {{"worker", ids[k]}}, rates[k + 1]);

  w.family("poolserver_jobs_cancelled_total", "counter",
           "Jobs stopped by their deadline, their client leaving or shutdown, or whose actor was "
           "lost while holding them (actor_lost: the job runs again elsewhere, or is refused), "
           "by reason and by stage (queued: dropped without running; running: stopped between "
           "chunks, or held by an actor).");
  for (std::size_t r = 1; r < pool::stop_reason_names.size(); ++r)
    for (std::size_t st = 0; st < 2; ++st)
      w.sample("poolserver_jobs_cancelled_total",
               {{"reason", pool::stop_reason_names[r]}, {"stage", st == 0 ? "queued" : "running"}},
               total.cancelled_by[r][st]);
  w.family("poolserver_worker_jobs_cancelled_total", "counter",
           "Jobs stopped early, any reason. Per worker.");
  for (std::size_t k = 0; k < stats.size(); ++k)
    w.sample("poolserver_worker_jobs_cancelled_total", {{"worker", ids[k]}}, stats[k].cancelled);

  w.family("poolserver_redispatches_total", "counter",
           "Jobs whose chosen mailbox was full and that another worker took.");
  w.sample("poolserver_redispatches_total", {}, pool.redispatches);

  w.family("poolserver_rejections_total", "counter", "Jobs turned away, by reason.");
  w.sample("poolserver_rejections_total", {{"reason", "queue_full"}},
           pool.rejected(pool::reject_reason::queue_full));
  w.sample("poolserver_rejections_total", {{"reason", "shutting_down"}},
           pool.rejected(pool::reject_reason::shutting_down));
  w.sample("poolserver_rejections_total", {{"reason", "no_backend"}},
           pool.rejected(pool::reject_reason::no_backend));

  w.family("poolserver_shed_total", "counter",
           "Jobs refused at admission (queue_delay: predicted wait over its class's limit; "
           "deadline: would not start before its client's deadline; fair_share: its client "
           "holds more than its share of a congested pool) or shed from a mailbox (sojourn), "
           "by reason and priority. Each was answered 503: at admission at once, from a mailbox "
           "after its wait.");
  for (std::size_t r = 0; r < pool::shed_reason_names.size(); ++r)
    for (std::size_t p = 0; p < pool::priority_names.size(); ++p)
      w.sample("poolserver_shed_total",
               {{"reason", pool::shed_reason_names[r]}, {"priority", pool::priority_names[p]}},
               pool.sheds[r][p]);
  w.family("poolserver_admission_target_seconds", "gauge",
           "The queue wait admission aims at now: the local workers' recent longest run, at "
           "least ADMISSION_TARGET_MS (their mean); 0 with ADMISSION=static.");
  w.sample("poolserver_admission_target_seconds", {},
           std::chrono::duration<double>(pool.target).count());

  pool::worker_stats local_total;  // the histograms are of local mailboxes and workers only
  for (const auto& st : stats) pool::add_counts(local_total, st);
  w.family("poolserver_queue_wait_seconds", "histogram",
           "Time from a job's acceptance into a mailbox until a worker took it out.");
  w.histogram("poolserver_queue_wait_seconds", {}, local_total.queue_wait);
  w.family("poolserver_priority_queue_wait_seconds", "histogram",
           "Time from a job's acceptance into a mailbox until a worker took it out, by "
           "priority.");
  for (std::size_t p = 0; p < pool::priority_names.size(); ++p)
    w.histogram("poolserver_priority_queue_wait_seconds", {{"priority", pool::priority_names[p]}},
                local_total.queue_wait_by_priority[p]);
  w.family("poolserver_run_seconds", "histogram", "Time a local worker spent running a job.");
  w.histogram("poolserver_run_seconds", {}, local_total.run_time);
}

}  // namespace observability

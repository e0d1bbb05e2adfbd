#pragma once
// A backend outside this process: a remote actor's connection. It joins and leaves a running
// pool, and reports the counters a local worker does where they apply.

#include <string>
#include <string_view>

#include "pool/backend.hpp"
#include "pool/worker.hpp"

namespace pool {

class remote_backend : public backend {
 public:
  /// A snapshot of the counters: produced (jobs sent or queued to send), consumed (answers
  /// received), producer_waits (refused: at its in-flight limit), completed, failed,
  /// cancelled (by reason, stage running: jobs whose request was answered without them, by
  /// its deadline, its client leaving or shutdown, or that it held when it was removed; the
  /// actor is not told, and runs such a job to its end), in_flight, and as run_time the round
  /// trip from accepting a job to its answer; produced = completed + failed + cancelled +
  /// in_flight. No local mailbox: queue_depth, capacity and consumer_waits stay 0.
  virtual worker_stats stats() const = 0;
  /// Its name in metrics and logs, unique among live ones (its address, e.g. "10.0.0.7:51234").
  virtual const std::string& name() const = 0;
  /// Whether it runs jobs of this kind (a registry name; see job::method).
  virtual bool offers(std::string_view kind) const = 0;
};

}  // namespace pool

#pragma once
// The unit of work that travels through a mailbox, and what comes back from it.

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>

namespace pool {

using clock = std::chrono::steady_clock;

/// What a finished job reports to whoever submitted it.
struct job_result {
  bool ok = false;
  double value = 0;              ///< the job's return value when ok
  std::string error;             ///< what went wrong when !ok (the exception's message)
  std::size_t backend = 0;       ///< index of the backend that ran it
  clock::duration queue_wait{};  ///< accepted → taken out of the mailbox
  clock::duration run_time{};    ///< taken out → finished
};

/// A job: the computation and its completion. `done` is called exactly once, on the
/// thread that ran the job, and must not block (post the result elsewhere instead).
struct job {
  std::function<double()> work;
  std::function<void(job_result&&)> done;
  clock::time_point accepted{};  ///< set by the backend when the mailbox takes it
};

}  // namespace pool

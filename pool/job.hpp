#pragma once
// The unit of work that travels through a mailbox, and what comes back from it.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "pool/admission.hpp"
#include "pool/cancel.hpp"
#include "pool/job_clock.hpp"
#include "pool/shared_job.hpp"

namespace pool {

enum class job_status {
  completed,  ///< the job returned a value
  failed,     ///< the job threw
  cancelled,  ///< stopped (or never started) because its token said so; see `stop`
  refused,    ///< its remote backend was lost and no other backend had room to run it again
};

/// Which kind of backend ran a job: said by the backend, never inferred from other fields.
enum class backend_kind : std::uint8_t {
  none,    ///< no backend said (a job refused or answered before any backend took it)
  worker,  ///< a local worker: job_result::backend is its index
  actor,   ///< a remote actor: job_result::actor_pid is its process id (0: it gave none valid)
};

/// What a finished job reports to whoever submitted it.
struct job_result {
  job_status status = job_status::failed;
  double value = 0;                      ///< the job's return value when completed
  std::string error;                     ///< what went wrong when failed (the exception's message)
  stop_reason stop = stop_reason::none;  ///< why, when cancelled
  bool started = false;                  ///< false: dropped from the mailbox without running
  backend_kind ran_on = backend_kind::none;  ///< who ran it (or dropped it)
  std::size_t backend = 0;                   ///< ran_on worker: the local worker's index
  /// ran_on worker: the other local workers that computed chunks of it (pool/shared_job.hpp),
  /// by index; empty when `backend` ran it alone.
  std::vector<std::size_t> helpers;
  std::int64_t actor_pid = 0;    ///< ran_on actor: its process id, 1..2^63-1; 0 when it gave none
  clock::duration queue_wait{};  ///< accepted → taken out of the mailbox
  clock::duration run_time{};    ///< taken out → finished
};

/// A job: the computation, its completion and (optionally) its cancellation token.
/// `done` is called exactly once, on the thread that ran the job, and must not block
/// (post the result elsewhere instead). A local worker runs `work`; a remote actor is sent
/// `method` and `arg` instead, so a job that may go remote names both.
struct job {
  std::function<double(const cancel_token&)> work;
  std::string_view method;  ///< a job kind's registry name (outlives the job)
  std::uint64_t arg = 0;    ///< its argument n
  /// How its kind splits into chunks that idle workers may take (null: it runs whole).
  const chunked_kind* chunked = nullptr;
  std::function<void(job_result&&)> done;
  std::shared_ptr<cancel_token> token;  ///< null: never cancelled, no deadline
  priority prio = priority::normal;     ///< its class at admission (pool/admission.hpp)
  bool over_share = false;              ///< its client holds more than its share of the pool
  cost_model* cost = nullptr;           ///< its kind's run times (null: not predicted)
  clock::duration predicted{};          ///< its predicted run time, set at admission
  clock::time_point accepted{};         ///< set by the backend when the mailbox takes it
};

}  // namespace pool

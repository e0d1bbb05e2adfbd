#pragma once
// One actor link's bookkeeping, without its socket: the jobs sent to the actor and not yet
// answered, the framed jobs not yet written, the framing of what the actor sends, and the
// link's counters. The link (actor_link.hpp) moves bytes and keeps time; this decides what
// they mean, so tests and the fuzzer drive it without a network.
//
// Exactly once: a job lives here from try_submit() until its answer arrives or close() takes
// it back, and whoever takes it out (under the mutex) is the only one who finishes it.
//
// Threads: try_submit(), stats() and pid() from any thread (the pool's callers); the rest
// from the link's thread only.

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "actor/framing.hpp"
#include "actor/protocol.hpp"
#include "pool/job.hpp"
#include "pool/metrics.hpp"
#include "pool/worker.hpp"

namespace actor_links {

class actor_ledger {
 public:
  struct limits {
    std::size_t max_in_flight = 64;                ///< ACTOR_MAX_IN_FLIGHT
    std::size_t max_message = actor::max_message;  ///< longest message the actor may send
    /// Framed jobs not yet handed to a write; past it the ledger takes no job (an actor
    /// that answers by guessing ids keeps none in flight while it reads nothing).
    std::size_t max_unsent = 1 << 20;
  };

  /// `next_id` gives job ids unique for the server's life; `name` is the link's, for errors.
  actor_ledger(limits l, std::function<std::uint64_t()> next_id, std::string name);
  actor_ledger(const actor_ledger&) = delete;
  actor_ledger& operator=(const actor_ledger&) = delete;

  /// Takes the job (moved from) if the ledger is open and below its limits; false leaves
  /// `j` untouched. Sets `start_flush` when the caller must start writing (none under way).
  bool try_submit(pool::job& j, pool::clock::time_point now, bool& start_flush);
  /// Swaps the framed jobs not yet written into `out`, which must be empty; false when there
  /// are none (writing stops until a try_submit() asks for it again). `now`: the write of
  /// them starts.
  bool take_unsent(std::string& out, pool::clock::time_point now);
  /// The write of what take_unsent() gave has completed.
  void written() noexcept { writing_since_.reset(); }
  /// A greeting or a leave, for the link to act on; it returns why the link must end, if it must.
  using control = std::variant<actor::hello, actor::leave>;
  using on_control = std::function<std::optional<std::string>(control&&)>;
  /// Bytes from the actor: finishes each job they answer (its `done` is called outside the
  /// lock) and hands greetings and leaves to `control`. Returns why the link must end when
  /// they break the protocol; nothing more is read.
  std::optional<std::string> feed(std::string_view bytes, pool::clock::time_point now,
                                  const on_control& control = {});
  /// The actor greeted: its jobs carry their deadlines and may be cancelled, and at most
  /// `capacity` (when not 0) are in flight there at once. Before any job is taken.
  void greeted(std::size_t capacity);
  bool is_greeted() const;
  /// The actor leaves: no job is taken any more; its jobs in flight are still answered.
  void leave();
  bool leaving() const;
  /// Frames a message to the actor (a welcome, a refusal) to go out with the next write;
  /// returns whether the caller must start writing (as try_submit()).
  bool say(std::string_view framed);
  /// Frames a cancel for each job of a greeted actor whose request no longer waits for it
  /// (its token says stop), once per job; returns whether the caller must start writing.
  bool cancel_abandoned();
  /// How many messages the actor sent so far (greetings and leaves included).
  std::uint64_t messages() const noexcept { return messages_; }
  /// Why the link must end for silence, if it must: jobs in flight and nothing heard for
  /// `timeout`, or a write under way for `timeout` (the actor reads nothing).
  std::optional<std::string> silent(pool::clock::time_point now,
                                    pool::clock::duration timeout) const;
  /// A job close() took back, and how its attempt here was counted: actor_lost when someone
  /// still waits for it (the caller submits it again, or refuses it), else the reason its
  /// request was answered already, or shutdown (the caller answers it cancelled).
  struct taken_back {
    pool::job job;
    pool::stop_reason counted_as;
  };
  /// Takes no job any more, and returns the jobs in flight, each counted as cancelled
  /// (stage running: the actor may have started it). `shutdown`: the server is stopping.
  std::vector<taken_back> close(bool shutdown);

  /// produced, consumed, producer_waits, completed, failed, cancelled (by reason), in_flight,
  /// and as run_time the round trip (see pool::remote_backend::stats()).
  pool::worker_stats stats() const;
  std::size_t in_flight() const;
  /// The actor's process id, once an answer said it (0 before).
  std::int64_t pid() const noexcept { return pid_.load(std::memory_order_relaxed); }
  /// The pid its greeting said (answers may say another later).
  void said_pid(std::int64_t pid) noexcept { pid_.store(pid, std::memory_order_relaxed); }
  /// Bytes of a message whose NUL has not arrived yet.
  std::size_t partial() const noexcept { return frames_.pending(); }

 private:
  struct pending {
    pool::job job;
    pool::clock::time_point sent;  // accepted for sending
    bool cancel_sent = false;
  };

  // One message from the actor; why the link must end, if it must.
  std::optional<std::string> on_message(std::string_view text, pool::clock::time_point now,
                                        const on_control& control);
  std::optional<std::string> on_reply(actor::job_reply&& reply, pool::clock::time_point now);
  // Under the mutex: asks for a write unless one is asked for or under way.
  bool start_flush_locked();

  limits limits_;                                         // max_in_flight: lowered by greeted()
  const std::function<std::uint64_t()> next_id_;
  const std::string name_;
  actor::frame_reader frames_;                            // link thread only
  std::optional<pool::clock::time_point> writing_since_;  // link thread only
  std::uint64_t messages_ = 0;                            // link thread only

  mutable std::mutex mutex_;  // guards the members below
  std::unordered_map<std::uint64_t, pending> in_flight_;
  std::string outgoing_;             // framed jobs not yet handed to a write
  bool flushing_ = false;            // a write is asked for or under way
  bool closed_ = false;              // no more jobs: the link ended
  bool greeted_ = false;             // deadlines and cancels go to the actor
  bool leaving_ = false;             // the actor said it leaves: no more jobs
  pool::clock::time_point heard_{};  // last message, or when in_flight_ became non-empty
  std::uint64_t produced_ = 0;
  std::uint64_t producer_waits_ = 0;
  std::uint64_t consumed_ = 0;
  std::uint64_t completed_ = 0;
  std::uint64_t failed_ = 0;
  std::array<std::uint64_t, pool::stop_reason_names.size()> cancelled_{};  // stage running
  pool::histogram latency_{true};

  std::atomic<std::int64_t> pid_{0};
};

}  // namespace actor_links

#pragma once
// Coalesced wake-ups. A thread that submits jobs in bursts (an IO thread working through a
// batch of ready sockets) can wake each sleeping worker once per burst instead of once per
// job. A futex wake is a system call, and in a VM often an inter-processor interrupt: at
// 140k requests/s of GET /0 (wrk -t1 -c50) it took 9% of the IO thread's time
// (perf record -e cpu-clock -g -p <server pid>).

#include <functional>
#include <vector>

namespace pool {

/// Something a wake_batch can wake: a backend whose consumer sleeps.
class wakeable {
 public:
  /// Wakes the sleeping consumer, if there is one; safe from any thread.
  virtual void wake() noexcept = 0;

 protected:
  ~wakeable() = default;
};

class wake_batch {
 public:
  /// `schedule` runs on this thread when the first wake-up of a burst is deferred; it must
  /// make flush() run on this thread soon (an IO thread posts it behind its ready handlers,
  /// which is as soon as it could handle the jobs' results anyway).
  explicit wake_batch(std::function<void()> schedule) : schedule_(std::move(schedule)) {}
  /// Wakes whatever is still deferred.
  ~wake_batch() { flush(); }
  wake_batch(const wake_batch&) = delete;
  wake_batch& operator=(const wake_batch&) = delete;

  /// The batch that submissions on this thread defer to; null (the default): wake at once.
  static wake_batch* current() noexcept { return current_ref(); }

  /// Makes `batch` this thread's current batch for the scope's lifetime.
  class scope {
   public:
    explicit scope(wake_batch& batch) noexcept : previous_(current_ref()) {
      current_ref() = &batch;
    }
    ~scope() { current_ref() = previous_; }
    scope(const scope&) = delete;
    scope& operator=(const scope&) = delete;

   private:
    wake_batch* previous_;
  };

  /// Remembers that `w` must be woken when the burst ends (once, however many jobs it got).
  void defer(wakeable& w) {
    for (const auto* p : pending_)
      if (p == &w) return;
    pending_.push_back(&w);
    if (pending_.size() == 1) schedule_();
  }

  /// Wakes every deferred consumer; the next deferral starts a new burst.
  void flush() noexcept {
    for (auto* w : pending_) w->wake();
    pending_.clear();
  }

 private:
  static wake_batch*& current_ref() noexcept {
    thread_local wake_batch* batch = nullptr;
    return batch;
  }

  std::function<void()> schedule_;
  std::vector<wakeable*> pending_;  // distinct, in order of deferral
};

}  // namespace pool

#pragma once
// Bounded multi-producer multi-consumer queue of the Vyukov family (the worker mailbox).
//
// Not lock-free in the strict sense: a producer preempted between claiming a slot (the
// ticket's fetch_add) and publishing it (the turn's store) stalls the consumer of that slot,
// and so the mailbox's one worker, until it runs again. No lock is taken: other producers
// go on filling the slots after it.
//
// A ring of slots, each with a "turn" sequence number (the Vyukov / rigtorp design): the
// ticket `pos` maps to slot `pos % capacity` and round `pos / capacity`; a slot whose turn
// is 2*round is free for the producer of that round, 2*round+1 holds that round's item.
// try_push/try_pop never block. pop() sleeps on an empty queue on a futex and is woken
// by try_push (only when someone sleeps).

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <utility>

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace pool {

namespace detail {

// Sleep until woken while `word` still holds `expected`; wake up to `count` sleepers.
// On Linux these are the futex calls themselves: libstdc++ 12's std::atomic::wait first
// spins calling sched_yield, which cost 13% of the server's CPU in the GET /0 benchmark
// (perf: do_sched_yield) and takes a core from the IO thread on a small machine.
inline void futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected) noexcept {
#if defined(__linux__)
  static_assert(sizeof(word) == sizeof(std::uint32_t) &&
                std::atomic<std::uint32_t>::is_always_lock_free);
  // Returns at once if the word changed already (EAGAIN); callers re-check in a loop.
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAIT_PRIVATE, expected,
            nullptr, nullptr, 0);
#else
  word.wait(expected, std::memory_order_seq_cst);
#endif
}

inline void futex_wake(std::atomic<std::uint32_t>& word, bool all) noexcept {
#if defined(__linux__)
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAKE_PRIVATE,
            all ? INT32_MAX : 1, nullptr, nullptr, 0);
#else
  all ? word.notify_all() : word.notify_one();
#endif
}

}  // namespace detail

/// Size of a cache line on the machines we target; padding unit against false sharing.
inline constexpr std::size_t cache_line = 64;

template <typename T>
class mpmc_queue {
  static_assert(std::is_nothrow_move_constructible_v<T>,
                "a slot is claimed before the item is moved in: moving must not throw");
  static_assert(std::is_nothrow_destructible_v<T>);

 public:
  /// Creates an empty queue; `capacity` must be a power of two, at least 1.
  explicit mpmc_queue(std::size_t capacity)
      : capacity_(capacity),
        shift_(static_cast<unsigned>(std::countr_zero(capacity))),
        slots_(new slot[capacity]) {
    if (capacity == 0 || !std::has_single_bit(capacity))
      throw std::invalid_argument("mpmc_queue capacity must be a power of two");
  }

  mpmc_queue(const mpmc_queue&) = delete;
  mpmc_queue& operator=(const mpmc_queue&) = delete;

  ~mpmc_queue() {
    for (std::size_t i = 0; i < capacity_; ++i)
      if (slots_[i].turn.load(std::memory_order_relaxed) & 1) slots_[i].item()->~T();
  }

  /// Moves `item` in if there is room; returns false when full, and then `item` has not
  /// been moved from (it is only moved once a slot is claimed).
  bool try_push(T&& item) noexcept { return try_emplace(std::move(item)); }
  /// Copies `item` in if there is room; returns false when full.
  bool try_push(const T& item) noexcept requires std::is_nothrow_copy_constructible_v<T> {
    return try_emplace(item);
  }

  /// Constructs an item in place if there is room; returns false when full.
  template <typename... Args>
  bool try_emplace(Args&&... args) noexcept {
    if (!try_emplace_quiet(std::forward<Args>(args)...)) return false;
    wake_one();
    return true;
  }

  /// Like try_emplace(), but wakes nobody: when sleeping() is true afterwards, the caller
  /// must call wake_one() soon (so that a burst of pushes wakes a consumer once).
  template <typename... Args>
  bool try_emplace_quiet(Args&&... args) noexcept {
    static_assert(std::is_nothrow_constructible_v<T, Args&&...>);
    std::size_t head = head_.load(std::memory_order_acquire);
    for (;;) {
      slot& s = slots_[index(head)];
      if (s.turn.load(std::memory_order_acquire) == 2 * round(head)) {
        // seq_cst: claiming the ticket is this side's half of the Dekker pair with pop().
        if (head_.compare_exchange_strong(head, head + 1, std::memory_order_seq_cst,
                                          std::memory_order_acquire)) {
          ::new (static_cast<void*>(s.storage)) T(std::forward<Args>(args)...);
          s.turn.store(2 * round(head) + 1, std::memory_order_release);
          return true;
        }
        // CAS failure reloaded `head`: another producer took that ticket, try the next.
      } else {
        const std::size_t seen = head;
        head = head_.load(std::memory_order_acquire);
        if (head == seen) return false;  // the slot is still occupied from the last round
      }
    }
  }

  /// Whether a consumer sleeps (or is about to) in pop(). After a push, false means that
  /// no wake-up is needed: a consumer going to sleep later sees the item first.
  bool sleeping() const noexcept { return sleepers_.load(std::memory_order_seq_cst) != 0; }

  /// Wakes one sleeping consumer, if any. Called after publishing an item; the epoch is
  /// only bumped when someone sleeps, so a busy pool pays one load per push here, not a
  /// contended read-modify-write.
  void wake_one() noexcept {
    if (sleeping()) {
      pushes_.fetch_add(1, std::memory_order_seq_cst);
      detail::futex_wake(pushes_, false);
    }
  }

  /// Moves the oldest item into `out`; returns false when empty.
  bool try_pop(T& out) noexcept {
    std::size_t tail = tail_.load(std::memory_order_acquire);
    for (;;) {
      slot& s = slots_[index(tail)];
      if (s.turn.load(std::memory_order_acquire) == 2 * round(tail) + 1) {
        if (tail_.compare_exchange_strong(tail, tail + 1, std::memory_order_acq_rel)) {
          out = std::move(*s.item());
          s.item()->~T();
          s.turn.store(2 * round(tail) + 2, std::memory_order_release);
          return true;
        }
      } else {
        const std::size_t seen = tail;
        tail = tail_.load(std::memory_order_acquire);
        if (tail == seen) return false;
      }
    }
  }

  /// Pops into `out`, sleeping while the queue is empty; `on_sleep()` runs before each
  /// sleep. Returns false once close() was called and the queue is empty.
  template <typename OnSleep>
  bool pop(T& out, OnSleep&& on_sleep) {
    for (;;) {
      if (try_pop(out)) return true;
      if (closed_.load(std::memory_order_acquire)) return false;
      const std::uint32_t seen = pushes_.load(std::memory_order_seq_cst);
      sleepers_.fetch_add(1, std::memory_order_seq_cst);
      // Dekker pair with try_emplace_quiet() and wake_one(), all seq_cst: either this load
      // sees a producer's claim of a ticket, or that producer, after publishing, sees
      // sleepers_ > 0 and bumps the epoch, so the wait returns at once or is woken. The
      // pair is on head_, which producers write with a locked instruction anyway, so that
      // publishing the item needs only a release store. (No standalone fences: TSan cannot
      // see those.)
      if (head_.load(std::memory_order_seq_cst) != tail_.load(std::memory_order_seq_cst)) {
        // An item is there, or claimed and about to be published: do not sleep.
        sleepers_.fetch_sub(1, std::memory_order_relaxed);
        if (try_pop(out)) return true;
        std::this_thread::yield();
        continue;
      }
      if (!closed_.load(std::memory_order_acquire)) {
        on_sleep();
        detail::futex_wait(pushes_, seen);
      }
      sleepers_.fetch_sub(1, std::memory_order_relaxed);
    }
  }
  bool pop(T& out) {
    return pop(out, [] {});
  }

  /// For a consumer of several queues that sleeps on this one: returns once this queue has an
  /// item, is closed, or `other_ready()` is true (checked after announcing the sleep), and
  /// sleeps until a push or wake_one() otherwise. A producer of the other queue must push
  /// (a seq_cst claim, as try_emplace_quiet() does) and then call this queue's wake_one().
  template <typename OnSleep, typename Ready>
  void wait(OnSleep&& on_sleep, Ready&& other_ready) {
    const std::uint32_t seen = pushes_.load(std::memory_order_seq_cst);
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    // The Dekker pair of pop(), extended to the other queue's tickets.
    if (head_.load(std::memory_order_seq_cst) == tail_.load(std::memory_order_seq_cst) &&
        !other_ready() && !closed_.load(std::memory_order_acquire)) {
      on_sleep();
      detail::futex_wait(pushes_, seen);
    }
    sleepers_.fetch_sub(1, std::memory_order_relaxed);
  }

  /// Whether an item is there or claimed (seq_cst: the other half of a wait()'s check).
  bool claimed() const noexcept {
    return head_.load(std::memory_order_seq_cst) != tail_.load(std::memory_order_seq_cst);
  }
  bool closed() const noexcept { return closed_.load(std::memory_order_acquire); }

  /// Wakes every sleeping consumer; pop() then drains what is left and returns false.
  void close() noexcept {
    closed_.store(true, std::memory_order_release);
    pushes_.fetch_add(1, std::memory_order_seq_cst);
    detail::futex_wake(pushes_, true);
  }

  /// Items in the queue now (a snapshot; exact when no push or pop is in progress).
  std::size_t size() const noexcept {
    const std::size_t tail = tail_.load(std::memory_order_acquire);  // read first: tail <= head
    const std::size_t head = head_.load(std::memory_order_acquire);
    const std::size_t n = head - tail;
    return n > capacity_ ? capacity_ : n;
  }
  bool empty() const noexcept { return size() == 0; }
  std::size_t capacity() const noexcept { return capacity_; }

 private:
  struct slot_layout {
    std::atomic<std::size_t> turn;
    alignas(T) unsigned char storage[sizeof(T)];
  };
  // Small slots share a cache line, so a consumer fetches several items with one miss
  // (bench/mailbox_bench.cpp, 1P1C: 6.8 ms per 262,144 items against 11.0 ms with one
  // slot per line); a slot of a line or more
  // gets whole lines, so it never shares one with a neighbour.
  static constexpr std::size_t slot_alignment =
      sizeof(slot_layout) >= cache_line ? cache_line : std::bit_ceil(sizeof(slot_layout));
  struct alignas(slot_alignment) slot {
    std::atomic<std::size_t> turn{0};
    alignas(T) unsigned char storage[sizeof(T)];
    T* item() noexcept { return std::launder(reinterpret_cast<T*>(storage)); }
  };

  std::size_t index(std::size_t pos) const noexcept { return pos & (capacity_ - 1); }
  std::size_t round(std::size_t pos) const noexcept { return pos >> shift_; }

  const std::size_t capacity_;
  const unsigned shift_;
  const std::unique_ptr<slot[]> slots_;

  // Producers write head_, consumers tail_: a cache line apart so they do not false-share.
  alignas(cache_line) std::atomic<std::size_t> head_{0};
  alignas(cache_line) std::atomic<std::size_t> tail_{0};
  // Push epoch that sleeping consumers wait on (32-bit: a plain futex word).
  alignas(cache_line) std::atomic<std::uint32_t> pushes_{0};
  std::atomic<std::uint32_t> sleepers_{0};
  std::atomic<bool> closed_{false};

  static_assert(sizeof(std::atomic<std::uint32_t>) == 4, "futex word must be 32 bits");
};

}  // namespace pool

#pragma once
// A backend is anything that can take a job and say how busy it is: a local worker thread
// now, a remote actor connection later. Strategies see only this interface.

#include <cstddef>
#include <optional>

#include "pool/job.hpp"

namespace pool {

class backend {
 public:
  virtual ~backend() = default;

  /// Takes the job if there is room and returns true; returns false when full and leaves
  /// `j` untouched, so the caller can answer it or try elsewhere.
  virtual bool try_submit(job& j) = 0;
  /// Jobs accepted and not yet finished (queued + running).
  virtual std::size_t in_flight() const = 0;
  /// How long `j` (by its priority and its client's share) taken now would wait before it
  /// starts, as far as the backend can tell; nothing when it cannot (admission then leaves it
  /// to try_submit).
  virtual std::optional<clock::duration> predicted_wait(const job&, clock::time_point) const {
    return std::nullopt;
  }
  /// The queue wait this backend aims to keep below (pool/admission.hpp).
  virtual clock::duration target() const { return clock::duration::zero(); }
};

}  // namespace pool

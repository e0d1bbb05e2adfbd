#pragma once
// Job kinds by name: the router looks a name up here, so adding a kind touches no server
// code. Every kind takes one non-negative integer argument `n` (bounded by MAX_N).

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "pool/cancel.hpp"
#include "pool/shared_job.hpp"

namespace workers {

/// A job kind's computation. It may throw, which fails only that job; a long one should
/// call token.check() now and then and throw pool::job_cancelled when told to stop.
using job_fn = std::function<double(std::uint64_t n, const pool::cancel_token& token)>;

/// A kind as the registry keeps it: its computation and, for a kind that splits into chunks
/// any thread may compute, how (idle workers then help with a big job: pool/shared_job.hpp).
struct job_kind {
  job_fn fn;
  const pool::chunked_kind* chunked = nullptr;
  double operator()(std::uint64_t n, const pool::cancel_token& token) const { return fn(n, token); }
};

class job_registry {
 public:
  /// Adds (or replaces) a kind; `chunked` (static, or null) says how it splits.
  void add(std::string name, job_fn fn, const pool::chunked_kind* chunked = nullptr);
  /// The kind with that name, or nullptr.
  const job_kind* find(std::string_view name) const;
  /// The kind with that name, or nullptr; `stored` is set to the registry's own copy of the
  /// name, which lives as long as the registry (jobs sent to remote actors carry it).
  const job_kind* find(std::string_view name, std::string_view& stored) const;
  /// Every name, sorted.
  std::map<std::string, job_kind, std::less<>> const& kinds() const noexcept { return kinds_; }
  /// Makes `name` (a kind added before) the one GET / and GET /<n> run.
  void set_default(std::string_view name);
  /// The kind GET / and GET /<n> run (empty: none, those routes answer 404).
  std::string_view default_kind() const noexcept { return default_; }

 private:
  std::map<std::string, job_kind, std::less<>> kinds_;
  std::string default_;  // a copy, not a view: a copied registry must not point into this one
};

/// The built-in kinds named (KINDS): square_sum, and sleep_ms (sleeps n milliseconds, in
/// steps of one that its token may stop, and returns n: a job whose cost is time, not CPU,
/// for tests and load-balancer experiments). The default kind is square_sum when named, else
/// the first. Throws std::invalid_argument for another name.
job_registry registry_of(const std::vector<std::string>& kinds);
/// The registry of the default KINDS: square_sum.
job_registry default_registry();
/// sleep_ms's code.
double sleep_ms(std::uint64_t n, const pool::cancel_token& token);

}  // namespace workers

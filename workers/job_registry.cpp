#include "workers/job_registry.hpp"

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <thread>

#include "workers/square_sum.hpp"

namespace workers {

void job_registry::add(std::string name, job_fn fn, const pool::chunked_kind* chunked) {
  kinds_[std::move(name)] = job_kind{std::move(fn), chunked};
}

const job_kind* job_registry::find(std::string_view name) const {
  const auto it = kinds_.find(name);
  return it == kinds_.end() ? nullptr : &it->second;
}

const job_kind* job_registry::find(std::string_view name, std::string_view& stored) const {
  const auto it = kinds_.find(name);
  if (it == kinds_.end()) return nullptr;
  stored = it->first;
  return &it->second;
}

void job_registry::set_default(std::string_view name) {
  const auto it = kinds_.find(name);
  if (it == kinds_.end())
    throw std::invalid_argument("no job kind '" + std::string(name) + "' to make the default");
  default_ = name;
}

double sleep_ms(std::uint64_t n, const pool::cancel_token& token) {
  // Steps of at most a millisecond, so that a cancel or the deadline stops it within one.
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(n);
  for (auto now = std::chrono::steady_clock::now(); now < until;
       now = std::chrono::steady_clock::now()) {
    if (const auto why = token.check(); why != pool::stop_reason::none)
      throw pool::job_cancelled{why};
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
        until - now, std::chrono::milliseconds(1)));
  }
  return static_cast<double>(n);
}

job_registry registry_of(const std::vector<std::string>& kinds) {
  job_registry r;
  for (const auto& k : kinds) {
    if (k == "square_sum") {
      // Time the kernel's square-root methods now (about 1 ms), not inside the first job,
      // where the wait behind it could look like overload to admission.
      (void)active_method(active_isa());
      r.add(
          k, [](std::uint64_t n, const pool::cancel_token& token) { return square_sum(n, token); },
          &square_sum_chunked());
    }
    else if (k == "sleep_ms")
      r.add(k, sleep_ms);
    else
      throw std::invalid_argument("no built-in job kind '" + k + "'");
  }
  if (r.find("square_sum"))
    r.set_default("square_sum");
  else if (!kinds.empty())
    r.set_default(kinds.front());
  return r;
}

job_registry default_registry() {
  return registry_of({"square_sum"});
}

}  // namespace workers

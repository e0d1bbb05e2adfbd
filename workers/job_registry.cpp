#include "workers/job_registry.hpp"

#include "workers/square_sum.hpp"

namespace workers {

void job_registry::add(std::string name, job_fn fn) {
  kinds_[std::move(name)] = std::move(fn);
}

const job_fn* job_registry::find(std::string_view name) const {
  const auto it = kinds_.find(name);
  return it == kinds_.end() ? nullptr : &it->second;
}

const job_fn* job_registry::find(std::string_view name, std::string_view& stored) const {
  const auto it = kinds_.find(name);
  if (it == kinds_.end()) return nullptr;
  stored = it->first;
  return &it->second;
}

job_registry default_registry() {
  job_registry r;
  r.add("square_sum",
        [](std::uint64_t n, const pool::cancel_token& token) { return square_sum(n, token); });
  return r;
}

}  // namespace workers

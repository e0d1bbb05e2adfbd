#include "workers/job_registry.hpp"

#include <stdexcept>

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

void job_registry::set_default(std::string_view name) {
  const auto it = kinds_.find(name);
  if (it == kinds_.end())
    throw std::invalid_argument("no job kind '" + std::string(name) + "' to make the default");
  default_ = name;
}

job_registry default_registry() {
  job_registry r;
  r.add("square_sum",
        [](std::uint64_t n, const pool::cancel_token& token) { return square_sum(n, token); });
  r.set_default("square_sum");
  return r;
}

}  // namespace workers

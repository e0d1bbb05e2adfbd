#include "pool/remote_kinds.hpp"

namespace pool {

bool remote_kinds::valid_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > 64) return false;
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool remote_kinds::can_offer(const std::vector<std::string>& kinds) const {
  std::lock_guard lock(mutex_);
  std::size_t fresh = 0;
  for (const auto& k : kinds) {
    if (!valid_name(k)) return false;
    if (count_.find(k) == count_.end()) ++fresh;
  }
  return count_.size() + fresh <= max_names;
}

void remote_kinds::offered(const std::vector<std::string>& kinds) {
  std::lock_guard lock(mutex_);
  for (const auto& k : kinds) ++count_[k];
}

void remote_kinds::withdrawn(const std::vector<std::string>& kinds) {
  std::lock_guard lock(mutex_);
  for (const auto& k : kinds)
    if (const auto it = count_.find(k); it != count_.end() && it->second > 0) --it->second;
}

remote_kinds::found remote_kinds::lookup(std::string_view name) const {
  std::lock_guard lock(mutex_);
  const auto it = count_.find(name);
  if (it == count_.end()) return {};
  return {it->second > 0 ? state::offered : state::gone, it->first};
}

std::vector<std::pair<std::string, std::size_t>> remote_kinds::counts() const {
  std::lock_guard lock(mutex_);
  return {count_.begin(), count_.end()};
}

}  // namespace pool

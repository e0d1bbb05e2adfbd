#include "server/client_shares.hpp"

#include <algorithm>

namespace server {

bool client_shares::client::over_share() const noexcept {
  const auto mine = in_flight_.load(std::memory_order_relaxed);
  const auto active = owner_.active();
  // mine > total / active, without the division; a lone client has no one to be fair to.
  return active > 1 && mine * active > owner_.in_flight();
}

void client_shares::client::begin() noexcept {
  owner_.in_flight_.fetch_add(1, std::memory_order_relaxed);
  if (in_flight_.fetch_add(1, std::memory_order_relaxed) == 0)
    owner_.active_.fetch_add(1, std::memory_order_relaxed);
}

void client_shares::client::end() noexcept {
  if (in_flight_.fetch_sub(1, std::memory_order_relaxed) == 1)
    owner_.active_.fetch_sub(1, std::memory_order_relaxed);
  owner_.in_flight_.fetch_sub(1, std::memory_order_relaxed);
}

std::shared_ptr<client_shares::client> client_shares::find(std::string_view key) {
  std::lock_guard lock(mutex_);
  // Forget clients nobody refers to any more whenever the map has doubled since: the map
  // stays about as large as the clients connected, at an amortised constant cost.
  if (clients_.size() >= sweep_at_) {
    std::erase_if(clients_, [](const auto& c) { return c.second.expired(); });
    sweep_at_ = std::max<std::size_t>(64, 2 * clients_.size());
  }
  auto& slot = clients_[std::string(key)];
  if (auto live = slot.lock()) return live;
  auto fresh = std::make_shared<client>(*this);
  slot = fresh;
  return fresh;
}

}  // namespace server

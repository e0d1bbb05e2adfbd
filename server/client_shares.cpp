#include "server/client_shares.hpp"

#include <algorithm>
#include <chrono>
#include <vector>

namespace server {

namespace {

// Over about four sweeps (0.4 s): a client sending 20 requests a second sends two in a
// sweep, give or take two, and must not look heavy because of that. A first measurement is
// taken whole, so that a new client is judged from its first sweep.
double smoothed(double old, double now) {
  return old == 0 ? now : 0.75 * old + 0.25 * now;
}

}  // namespace

std::shared_ptr<client_shares::client> client_shares::find(std::string_view key) {
  std::lock_guard lock(mutex_);
  auto& slot = clients_[std::string(key)];
  if (auto live = slot.lock()) return live;
  auto fresh = std::make_shared<client>();
  slot = fresh;
  return fresh;
}

void client_shares::sweep(pool::clock::time_point now, std::uint64_t finished) {
  std::lock_guard lock(mutex_);
  const double dt = std::chrono::duration<double>(now - last_sweep_).count();
  if (dt <= 0) return;
  last_sweep_ = now;
  const auto done = finished > finished_ ? finished - finished_ : 0;
  finished_ = finished;
  throughput_ = smoothed(throughput_, static_cast<double>(done) / dt);
  // Clients nobody refers to any more are forgotten here: the map stays as large as the
  // clients connected.
  std::erase_if(clients_, [](const auto& c) { return c.second.expired(); });
  std::vector<std::shared_ptr<client>> live;
  for (const auto& [key, weak] : clients_) {
    auto c = weak.lock();
    if (!c) continue;
    c->rate_ = smoothed(c->rate_, static_cast<double>(c->asked_.exchange(0)) / dt);
    if (c->rate_ >= 1) {
      live.push_back(std::move(c));
    } else {
      c->rate_ = std::max(c->rate_, 0.0);
      c->over_.store(false, std::memory_order_relaxed);
    }
  }
  active_.store(live.size(), std::memory_order_relaxed);
  // Water-filling, lightest first: each gets min(its rate, an equal split of what is left).
  std::sort(live.begin(), live.end(), [](const auto& a, const auto& b) { return a->rate_ < b->rate_; });
  double left = throughput_;
  for (std::size_t i = 0; i < live.size(); ++i) {
    const double share = left / static_cast<double>(live.size() - i);
    // Over only by half again: a client near its share is not one sending ten times more,
    // and a rate measured over a few sweeps is only that precise.
    const bool over = live.size() > 1 && live[i]->rate_ > over_share_factor * share;
    live[i]->over_.store(over, std::memory_order_relaxed);
    left -= std::min(live[i]->rate_, share);
  }
}

}  // namespace server

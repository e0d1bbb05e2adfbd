#include "server/live_window.hpp"

namespace server {

void live_window::sample(const point& p) {
  std::lock_guard lock(mutex_);
  points_.push_back(p);
  while (points_.size() > 2 && points_[1].at <= p.at - span) points_.pop_front();
}

live_window::delta live_window::since(const point& now) const {
  delta d;
  d.requests = now.requests;
  d.rejected = now.rejected;
  std::lock_guard lock(mutex_);
  if (points_.empty()) return d;
  const auto& base = points_.front();
  d.seconds = std::chrono::duration<double>(now.at - base.at).count();
  d.requests -= base.requests;
  d.rejected = now.rejected > base.rejected ? now.rejected - base.rejected : 0;
  return d;
}

}  // namespace server

#include "observability/live_window.hpp"

namespace observability {

live_window::delta live_window::since(const point& now) const {
  delta d;
  d.answered = now.answered;
  d.rejected = now.rejected;
  d.refused = now.refused;
  const auto oldest = points_.oldest();
  if (!oldest) return d;
  const auto& base = oldest->second;
  d.seconds = std::chrono::duration<double>(now.at - base.at).count();
  d.answered -= base.answered;
  d.refused -= base.refused;
  d.rejected = now.rejected > base.rejected ? now.rejected - base.rejected : 0;
  return d;
}

}  // namespace observability

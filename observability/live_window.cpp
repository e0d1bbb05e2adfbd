#include "observability/live_window.hpp"

namespace observability {

live_window::delta live_window::since(const point& now) const {
  delta d;
  d.requests = now.requests;
  d.rejected = now.rejected;
  const auto oldest = points_.oldest();
  if (!oldest) return d;
  const auto& base = oldest->second;
  d.seconds = std::chrono::duration<double>(now.at - base.at).count();
  d.requests -= base.requests;
  d.rejected = now.rejected > base.rejected ? now.rejected - base.rejected : 0;
  return d;
}

}  // namespace observability

#include "observability/agent_weight.hpp"

#include <algorithm>
#include <cmath>

namespace observability {

load_sample load_of(const pool_view& v) {
  load_sample s;
  const auto& total = v.counters.total;
  std::uint64_t shed_from_mailbox = 0;  // accepted first: in `produced` already
  for (const auto n : v.sheds[static_cast<std::size_t>(pool::shed_reason::sojourn)])
    shed_from_mailbox += n;
  const std::uint64_t turned_away =
      v.shed_total() - shed_from_mailbox + v.rejected(pool::reject_reason::queue_full) +
      v.rejected(pool::reject_reason::no_backend) + v.rejected(pool::reject_reason::shutting_down);
  s.offered = total.produced + turned_away;
  s.refused = turned_away + shed_from_mailbox;
  for (const auto& w : v.counters.local) s.busy_ns += w.run_time.sum_ns;
  s.workers = v.counters.local.size();
  return s;
}

int agent_weight::update(pool::clock::time_point now, const load_sample& s) {
  const auto before = samples_.oldest();
  samples_.add(now, s);
  if (!before || before->first >= now) return percent();
  const auto& [then, old] = *before;
  const double seconds = std::chrono::duration<double>(now - then).count();
  const double offered = static_cast<double>(s.offered - old.offered);
  const double refused = static_cast<double>(s.refused - old.refused);

  double factor = 1;
  if (refused > 0 && offered > 0) {
    factor = 1 - std::min(refused / offered, 1.0);
  } else {
    // Without local workers (a dispatcher to actors) there is no utilisation to read: with
    // nothing refused, it has room.
    const double busy = s.workers == 0 ? 0
                                       : static_cast<double>(s.busy_ns - old.busy_ns) / 1e9 /
                                             (seconds * static_cast<double>(s.workers));
    if (busy < room_below) factor = busy > room_below / 2 ? room_below / busy : 2.0;
  }
  weight_ = std::clamp(weight_ * std::sqrt(factor), double{least}, double{most});
  const int p = std::clamp(static_cast<int>(std::lround(weight_)), least, most);
  percent_.store(p, std::memory_order_relaxed);
  return p;
}

}  // namespace observability

#pragma once

#include <chrono>

namespace pool {

/// The one clock for job timings and deadlines.
using clock = std::chrono::steady_clock;

}  // namespace pool

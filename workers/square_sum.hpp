#pragma once

#include <cstdint>

namespace workers {

/// Sum of sqrt(i) for 0 <= i < n, in double precision; relative error <= 1e-12.
double square_sum(std::uint64_t n) noexcept;

}  // namespace workers

#pragma once

#include <cstdint>

#include "pool/cancel.hpp"

namespace workers {

/// Sum of sqrt(i) for 0 <= i < n, in double precision; relative error <= 1e-12.
double square_sum(std::uint64_t n) noexcept;

/// The same, checking `token` between chunks of `check_interval` terms (well under a
/// millisecond of work); throws pool::job_cancelled when it says stop.
double square_sum(std::uint64_t n, const pool::cancel_token& token);

/// Terms computed between two looks at the cancel token.
inline constexpr std::uint64_t check_interval = 64 * 4096;

}  // namespace workers

#include "workers/square_sum.hpp"

#include <cmath>
#include <cstddef>

namespace workers {

namespace {

// Lanes of independent partial sums: enough to keep the vector units and the sqrt
// pipeline busy, and each lane sums only block/lanes terms, which bounds rounding error.
constexpr std::size_t lanes = 8;
// Terms per block. A block's partial sums are folded into a compensated total, so the
// error of plain summation never grows past one block (512 terms per lane).
constexpr std::uint64_t block = 4096;

// Sum of sqrt(i) for i in [first, first + count); count a multiple of `lanes`.
double block_sum(std::uint64_t first, std::uint64_t count) noexcept {
  double acc[lanes] = {};
  double x[lanes];
  // Counting in doubles is exact below 2^53 and avoids a slow integer-to-double convert.
  for (std::size_t k = 0; k < lanes; ++k) x[k] = static_cast<double>(first + k);
  for (std::uint64_t i = 0; i < count; i += lanes) {
    for (std::size_t k = 0; k < lanes; ++k) {
      acc[k] += std::sqrt(x[k]);
      x[k] += static_cast<double>(lanes);
    }
  }
  double s = 0;
  for (double a : acc) s += a;
  return s;
}

// `stop()` is asked every check_interval terms; it returns true to abandon the sum.
template <typename Stop>
double sum_until(std::uint64_t n, Stop&& stop) {
  static_assert(check_interval % block == 0 && (check_interval & (check_interval - 1)) == 0);
  // Neumaier's compensated summation of the block sums.
  double sum = 0;
  double compensation = 0;
  auto add = [&](double v) {
    const double t = sum + v;
    compensation += std::fabs(sum) >= std::fabs(v) ? (sum - t) + v : (v - t) + sum;
    sum = t;
  };
  std::uint64_t i = 0;
  for (; i + block <= n; i += block) {
    if ((i & (check_interval - 1)) == 0 && i != 0) stop();
    add(block_sum(i, block));
  }
  const std::uint64_t rest = (n - i) / lanes * lanes;
  if (rest) add(block_sum(i, rest));
  for (i += rest; i < n; ++i) add(std::sqrt(static_cast<double>(i)));
  return sum + compensation;
}

}  // namespace

double square_sum(std::uint64_t n) noexcept {
  return sum_until(n, [] {});
}

double square_sum(std::uint64_t n, const pool::cancel_token& token) {
  return sum_until(n, [&] {
    if (const auto why = token.check(); why != pool::stop_reason::none)
      throw pool::job_cancelled{why};
  });
}

}  // namespace workers

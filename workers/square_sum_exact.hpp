#pragma once
// The exact value of square_sum(n), for tests and benchmarks to measure the kernel's error
// against: the Euler-Maclaurin expansion in long double,
//   sum_{i<n} sqrt(i) = 2/3 n^1.5 - 1/2 n^0.5 + zeta(-1/2) + 1/24 n^-0.5 + O(n^-2.5),
// whose remainder is far below double precision from n = 10^6 up.

#include <cmath>
#include <cstdint>

namespace workers {

/// sum_{i<n} sqrt(i) by the expansion above; use it for n >= 10^6.
inline long double square_sum_expansion(std::uint64_t n) {
  const long double zeta_minus_half = -0.2078862249773545660173067253970493022262L;
  const long double x = static_cast<long double>(n);
  return 2.0L / 3.0L * x * sqrtl(x) - 0.5L * sqrtl(x) + zeta_minus_half + 1.0L / (24.0L * sqrtl(x));
}

/// |got - exact| / exact, in double.
inline double relative_error(double got, long double exact) {
  if (exact == 0) return std::fabs(got);
  return static_cast<double>(fabsl((static_cast<long double>(got) - exact) / exact));
}

}  // namespace workers

#include "workers/square_sum.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "workers/job_registry.hpp"
#include "workers/square_sum_exact.hpp"

namespace {

// Kahan-summed long double reference: error far below the 1e-12 being checked.
long double reference(std::uint64_t n) {
  long double sum = 0, c = 0;
  for (std::uint64_t i = 0; i < n; ++i) {
    const long double y = sqrtl(static_cast<long double>(i)) - c;
    const long double t = sum + y;
    c = (t - sum) - y;
    sum = t;
  }
  return sum;
}

// Every (instruction set, method) pair this CPU runs, named "avx512/fma".
struct kernel_path {
  workers::kernel_isa isa;
  workers::sqrt_method method;
  std::string name;
};
std::vector<kernel_path> kernel_paths() {
  std::vector<kernel_path> out;
  for (const auto isa : workers::supported_isas())
    for (const auto m : workers::methods_of(isa))
      out.push_back({isa, m, std::string(workers::isa_name(isa)) + "/" +
                                 std::string(workers::method_name(m))});
  return out;
}

// How many of `x` a path's square root gets wrong (against the hardware's, which IEEE 754
// rounds correctly), and the largest error in ulps.
struct ulp_count {
  std::uint64_t wrong = 0;
  double worst_ulp = 0;
};
ulp_count check_roots(const kernel_path& p, const std::vector<double>& x) {
  std::vector<double> got(x.size());
  workers::sqrt_each_on(p.isa, p.method, x, got);
  ulp_count c;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double want = std::sqrt(x[i]);
    if (got[i] == want) continue;
    ++c.wrong;
    const double ulp = std::nextafter(want, INFINITY) - want;
    c.worst_ulp = std::max(c.worst_ulp, std::fabs(got[i] - want) / ulp);
  }
  return c;
}

// Integers x < 2^53 whose square roots lie nearest a rounding midpoint: where a root that
// is merely close rounds the wrong way. In the binade sqrt(x) in [2^e, 2^(e+1)) the
// midpoints are m = s 2^(e-53) with s odd in [2^53, 2^54), and m^2 = s^2 2^-K, K = 106 - 2e.
// When s^2 = -t (mod 2^K) for a small t, x = (s^2 + t) / 2^K is an integer within |t| 2^-K
// of m^2: sqrt(x) is within about |t| 2^-55 ulp of m. The s come from the 2-adic square
// roots of -t (t = 7 mod 8), lifted one bit at a time (Hensel).
std::vector<double> near_midpoints(int tries_per_binade) {
  using u128 = unsigned __int128;
  std::vector<double> out;
  for (int e = 13; e <= 26; ++e) {
    const int K = 106 - 2 * e;
    const u128 mask = (u128{1} << K) - 1;
    for (long long q = 0; q < tries_per_binade; ++q) {
      for (const long long t : {7 + 8 * q, -1 - 8 * q}) {
        const u128 a = (u128{0} - static_cast<u128>(static_cast<__int128>(t))) & mask;
        u128 s = 1;  // s^2 = a (mod 8), since a = 1 (mod 8)
        for (int k = 3; k < K; ++k)
          if (((s * s - a) >> k) & 1) s += u128{1} << (k - 1);
        const u128 half = u128{1} << (K - 1);
        for (const u128 r : {s, (u128{0} - s) & mask, (s + half) & mask, (half - s) & mask}) {
          if (r < (u128{1} << 53) || r >= (u128{1} << 54)) continue;
          const __int128 num = static_cast<__int128>(r * r) + t;
          if (num <= 0 || (static_cast<u128>(num) & mask) != 0) continue;
          const u128 x = static_cast<u128>(num) >> K;
          if (x >= (u128{1} << 53) || x < (u128{1} << (2 * e)) || x >= (u128{1} << (2 * e + 2)))
            continue;
          out.push_back(static_cast<double>(static_cast<std::uint64_t>(x)));
        }
      }
    }
  }
  return out;
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr std::size_t random_roots = std::size_t{1} << 22;  // the sanitizers are 10x slower
#else
constexpr std::size_t random_roots = std::size_t{1} << 24;
#endif

}  // namespace

using workers::relative_error;

TEST_CASE("square_sum: every square root of every path is the correctly rounded one") {
  // Every path's root against the hardware's: every i below 2^24; a random sample up to 2^53
  // (the largest MAX_N); and the integers whose roots lie nearest a rounding midpoint.
  const auto hard = near_midpoints(20'000);
  REQUIRE(hard.size() > 50'000);
  CHECK(std::find(hard.begin(), hard.end(), 4503599627370497.0) != hard.end());  // 2^52 + 1
  for (const auto& p : kernel_paths()) {
    CAPTURE(p.name);
    std::vector<double> x(std::size_t{1} << 20);
    ulp_count all;
    for (std::uint64_t base = 1; base < (std::uint64_t{1} << 24); base += x.size()) {
      for (std::size_t k = 0; k < x.size(); ++k) x[k] = static_cast<double>(base + k);
      const auto c = check_roots(p, x);
      all.wrong += c.wrong;
      all.worst_ulp = std::max(all.worst_ulp, c.worst_ulp);
    }
    std::mt19937_64 rng(17);
    std::uniform_int_distribution<std::uint64_t> below_2_53(1, std::uint64_t{1} << 53);
    for (std::size_t done = 0; done < random_roots; done += x.size()) {
      for (auto& v : x) v = static_cast<double>(below_2_53(rng));
      const auto c = check_roots(p, x);
      all.wrong += c.wrong;
      all.worst_ulp = std::max(all.worst_ulp, c.worst_ulp);
    }
    const auto h = check_roots(p, hard);
    MESSAGE(p.name << ": " << all.wrong << " of 2^24 + " << random_roots << " roots wrong, "
                   << h.wrong << " of " << hard.size() << " near midpoints wrong (worst "
                   << std::max(all.worst_ulp, h.worst_ulp) << " ulp)");
    CHECK(all.wrong == 0);
    CHECK(h.wrong == 0);
  }
  // i = 0 is the kernel's own case (the estimate of 1/sqrt(0) is infinite).
  for (const auto& p : kernel_paths()) CHECK(workers::square_sum_on(p.isa, p.method, 2) == 1.0);
}

TEST_CASE("square_sum: sums within 1e-15 across chunk, block and vector boundaries") {
  constexpr std::uint64_t C = workers::chunk_terms;
  const std::uint64_t sizes[] = {0,     1,     2,     7,      8,          9,       31,
                                 32,    33,    63,    64,     65,         4095,    4096,
                                 4097,  8191,  C - 1, C,      C + 1,      C + 33,  2 * C + 33,
                                 5 * C, 1'000'003};
  double worst = 0;
  for (const std::uint64_t n : sizes) {
    CAPTURE(n);
    const auto exact = reference(n);
    const double got = workers::square_sum(n);
    worst = std::max(worst, relative_error(got, exact));
    CHECK(relative_error(got, exact) <= 1e-15);
    for (const auto& p : kernel_paths()) {
      CAPTURE(p.name);
      CHECK(workers::square_sum_on(p.isa, p.method, n) == got);
    }
  }
  for (const std::uint64_t n : {10'000'000ull, 100'000'000ull}) {
    CAPTURE(n);
    const double got = workers::square_sum(n);
    worst = std::max(worst, relative_error(got, workers::square_sum_expansion(n)));
    CHECK(relative_error(got, workers::square_sum_expansion(n)) <= 1e-15);
  }
  MESSAGE("worst relative error " << worst);
}

TEST_CASE("square_sum: known values") {
  CHECK(workers::square_sum(0) == 0.0);
  CHECK(workers::square_sum(1) == 0.0);
  CHECK(workers::square_sum(2) == 1.0);
  CHECK(workers::square_sum(3) == doctest::Approx(1 + std::sqrt(2.0)).epsilon(1e-15));
  CHECK(workers::square_sum(5) ==
        doctest::Approx(1 + std::sqrt(2.0) + std::sqrt(3.0) + 2).epsilon(1e-15));
  CHECK(workers::square_sum(10001) == doctest::Approx(666716.4591971).epsilon(1e-12));
}

TEST_CASE("square_sum: relative error <= 1e-12 against a long-double reference") {
  // Small n, every block/lane boundary, and large n.
  for (std::uint64_t n = 0; n <= 40; ++n)
    CHECK(relative_error(workers::square_sum(n), reference(n)) <= 1e-12);
  for (std::uint64_t n :
       {4095ull, 4096ull, 4097ull, 8191ull, 12345ull, 1'000'000ull, 10'000'000ull}) {
    CAPTURE(n);
    CHECK(relative_error(workers::square_sum(n), reference(n)) <= 1e-12);
  }
}

TEST_CASE("square_sum: large n against the Euler-Maclaurin expansion") {
  for (std::uint64_t n : {100'000'000ull}) {
    CHECK(relative_error(workers::square_sum(n), workers::square_sum_expansion(n)) <= 1e-12);
  }
}

TEST_CASE("square_sum: every instruction set this CPU has gives the same bits") {
  const auto isas = workers::supported_isas();
  REQUIRE(!isas.empty());
  CHECK(isas.front() == workers::kernel_isa::scalar);
  CHECK(workers::active_isa() == isas.back());
  for (const auto isa : isas) {
    const std::string name(workers::isa_name(isa));
    CAPTURE(name);
    // Below one block, at block and lane boundaries, and past a cancellation chunk.
    const std::uint64_t sizes[] = {0,    1,    31,   32,    33,
                                   4095, 4096, 4097, 70001, workers::check_interval + 4127};
    for (const std::uint64_t n : sizes) {
      CAPTURE(n);
      CHECK(workers::square_sum_on(isa, n) == workers::square_sum(n));
    }
    CHECK(relative_error(workers::square_sum_on(isa, 1'000'000), reference(1'000'000)) <= 1e-12);
    for (const auto m : workers::methods_of(isa)) {
      CAPTURE(workers::method_name(m));
      for (const std::uint64_t n : sizes) CHECK(workers::square_sum_on(isa, m, n) == workers::square_sum(n));
    }
  }
}

TEST_CASE("job registry: square_sum is there - kinds can be added and looked up by name") {
  auto r = workers::default_registry();
  const auto* fn = r.find("square_sum");
  REQUIRE(fn != nullptr);
  CHECK((*fn)(1'000'000, pool::cancel_token{}) == workers::square_sum(1'000'000));
  CHECK(r.find("nope") == nullptr);
  r.add("twice",
        [](std::uint64_t n, const pool::cancel_token&) { return 2.0 * static_cast<double>(n); });
  REQUIRE(r.find("twice") != nullptr);
  CHECK((*r.find("twice"))(21, pool::cancel_token{}) == 42.0);
  CHECK(r.kinds().size() == 2);
}

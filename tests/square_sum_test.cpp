#include "workers/square_sum.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <string>

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

}  // namespace

using workers::relative_error;

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

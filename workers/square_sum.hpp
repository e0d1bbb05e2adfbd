#pragma once

#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "pool/cancel.hpp"
#include "pool/shared_job.hpp"

namespace workers {

/// Instruction sets the kernel is built for. One binary carries all of them and picks the
/// widest this CPU supports when it starts (kernel_isa::scalar is the portable fallback).
enum class kernel_isa { scalar, avx2, avx512 };

/// "scalar", "avx2" or "avx512".
std::string_view isa_name(kernel_isa isa) noexcept;
/// The instruction sets this CPU can run, narrowest first (always starts with scalar).
std::span<const kernel_isa> supported_isas() noexcept;
/// The one square_sum() uses: the widest supported.
kernel_isa active_isa() noexcept;

/// How a kernel takes its square roots: the hardware instruction (vsqrtpd), or an estimate
/// of 1/sqrt refined on the FMA units. Both give the correctly rounded root, so the same bits.
enum class sqrt_method { hardware, fma };
/// "hardware" or "fma".
std::string_view method_name(sqrt_method method) noexcept;
/// The methods an instruction set has: hardware, and fma for avx2 and avx512.
std::span<const sqrt_method> methods_of(kernel_isa isa) noexcept;
/// The one the kernel of `isa` uses: the faster on this CPU, timed once at first use.
sqrt_method active_method(kernel_isa isa) noexcept;
/// What square_sum() runs, as "avx512/fma": for the start-up log line.
std::string kernel_name();

/// Sum of sqrt(i) for 0 <= i < n, in double precision: each term the correctly rounded
/// sqrt(i), added with compensation (relative error about 1e-16).
double square_sum(std::uint64_t n) noexcept;

/// The same, checking `token` between chunks of `check_interval` terms (well under a
/// millisecond of work); throws pool::job_cancelled when it says stop.
double square_sum(std::uint64_t n, const pool::cancel_token& token);

/// square_sum(n) on a chosen instruction set (and method), for tests and benchmarks; `isa`
/// must be in supported_isas(), `method` in methods_of(isa). Every path gives the same result
/// to the last bit (the correctly rounded roots, the same lanes, the same order of additions).
double square_sum_on(kernel_isa isa, std::uint64_t n) noexcept;
double square_sum_on(kernel_isa isa, sqrt_method method, std::uint64_t n) noexcept;

/// The square roots of `x` into `out` (the shorter's length), computed by exactly the code
/// the kernel of `isa` runs with `method` (for tests: each must be the correctly rounded
/// one); x > 0 (the kernel handles i = 0 apart).
void sqrt_each_on(kernel_isa isa, sqrt_method method, std::span<const double> x,
                  std::span<double> out) noexcept;

/// Terms computed between two looks at the cancel token: a chunk. A job is a sequence of
/// chunks, each summed on its own and then added up in order, so any worker may compute any
/// chunk and the result is the same to the last bit (pool/shared_job.hpp).
inline constexpr std::uint64_t check_interval = 64 * 4096;
inline constexpr std::uint64_t chunk_terms = check_interval;

/// Chunks of square_sum(n): ceil(n / chunk_terms).
constexpr std::uint64_t chunk_count(std::uint64_t n) noexcept {
  return n / chunk_terms + (n % chunk_terms != 0);
}
/// The partial sum of chunk c of square_sum(n), c < chunk_count(n): sqrt(i) for i in
/// [c * chunk_terms, min(n, (c + 1) * chunk_terms)), on the widest instruction set.
double square_sum_chunk(std::uint64_t n, std::uint64_t c) noexcept;

/// How square_sum splits: chunk_count, square_sum_chunk, and compensated_sum in order.
const pool::chunked_kind& square_sum_chunked() noexcept;

/// Adds partial sums in order with Neumaier's compensation: how square_sum() combines its
/// chunks, and how a job shared between workers must combine them to get the same bits.
class compensated_sum {
 public:
  void add(double v) noexcept {
    const double t = sum_ + v;
    compensation_ += std::fabs(sum_) >= std::fabs(v) ? (sum_ - t) + v : (v - t) + sum_;
    sum_ = t;
  }
  double value() const noexcept { return sum_ + compensation_; }

 private:
  double sum_ = 0;
  double compensation_ = 0;
};

}  // namespace workers

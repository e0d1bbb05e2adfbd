#include "workers/square_sum.hpp"

#include <array>
#include <cmath>
#include <cstddef>

namespace workers {

namespace {

// Lanes of independent partial sums: four 512-bit vectors, enough to keep the sqrt unit
// busy on every width, and each lane sums only block/lanes terms, which bounds rounding
// error. The order of additions does not depend on the instruction set, so every path
// gives the same bits.
constexpr std::size_t lanes = 32;
// Terms per block. A block's partial sums are folded into a compensated total, so the
// error of plain summation never grows past one block (128 terms per lane).
constexpr std::uint64_t block = 4096;

// Sum of sqrt(i) for i in [first, first + count); count a multiple of `lanes`. Written as
// plain loops that GCC vectorises; each instruction set gets its own copy below.
[[gnu::always_inline]] inline double block_body(std::uint64_t first, std::uint64_t count) noexcept {
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
  // A fixed pairwise fold, the same on every path.
  for (std::size_t width = lanes / 2; width > 0; width /= 2)
    for (std::size_t k = 0; k < width; ++k) acc[k] += acc[k + width];
  return acc[0];
}

using block_fn = double (*)(std::uint64_t, std::uint64_t) noexcept;

double block_scalar(std::uint64_t first, std::uint64_t count) noexcept {
  return block_body(first, count);
}

#if defined(__x86_64__)
[[gnu::target("arch=x86-64-v3")]] double block_avx2(std::uint64_t first,
                                                    std::uint64_t count) noexcept {
  return block_body(first, count);
}
[[gnu::target("arch=x86-64-v4")]] double block_avx512(std::uint64_t first,
                                                      std::uint64_t count) noexcept {
  return block_body(first, count);
}
#endif

block_fn block_for(kernel_isa isa) noexcept {
  switch (isa) {
#if defined(__x86_64__)
    case kernel_isa::avx2:
      return block_avx2;
    case kernel_isa::avx512:
      return block_avx512;
#endif
    default:
      return block_scalar;
  }
}

struct isa_table {
  std::array<kernel_isa, 3> list{};
  std::size_t count = 0;
  block_fn widest = block_scalar;
};

const isa_table& isas() noexcept {
  static const isa_table table = [] {
    isa_table t;
    t.list[t.count++] = kernel_isa::scalar;
#if defined(__x86_64__)
    __builtin_cpu_init();
    // x86-64-v3 and v4 as GCC builds them (the feature sets its target attribute enables).
    const bool v3 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                    __builtin_cpu_supports("bmi2");
    const bool v4 = v3 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
                    __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
                    __builtin_cpu_supports("avx512cd");
    if (v3) t.list[t.count++] = kernel_isa::avx2;
    if (v4) t.list[t.count++] = kernel_isa::avx512;
#endif
    t.widest = block_for(t.list[t.count - 1]);
    return t;
  }();
  return table;
}

// Chunk c of square_sum(n): its blocks added with compensation, folded into one double.
double chunk_on(block_fn block_sum, std::uint64_t n, std::uint64_t c) noexcept {
  static_assert(chunk_terms % block == 0);
  const std::uint64_t first = c * chunk_terms;
  const std::uint64_t end = n - first < chunk_terms ? n : first + chunk_terms;
  compensated_sum sum;
  std::uint64_t i = first;
  for (; i + block <= end; i += block) sum.add(block_sum(i, block));
  const std::uint64_t rest = (end - i) / lanes * lanes;
  if (rest) sum.add(block_sum(i, rest));
  for (i += rest; i < end; ++i) sum.add(std::sqrt(static_cast<double>(i)));
  return sum.value();
}

// `stop()` is asked before every chunk but the first; it may throw to abandon the sum.
template <typename Stop>
double sum_until(block_fn block_sum, std::uint64_t n, Stop&& stop) {
  compensated_sum sum;
  const std::uint64_t chunks = chunk_count(n);
  for (std::uint64_t c = 0; c < chunks; ++c) {
    if (c != 0) stop();
    sum.add(chunk_on(block_sum, n, c));
  }
  return sum.value();
}

}  // namespace

std::string_view isa_name(kernel_isa isa) noexcept {
  switch (isa) {
    case kernel_isa::avx2:
      return "avx2";
    case kernel_isa::avx512:
      return "avx512";
    default:
      return "scalar";
  }
}

std::span<const kernel_isa> supported_isas() noexcept {
  const auto& t = isas();
  return {t.list.data(), t.count};
}

kernel_isa active_isa() noexcept {
  return supported_isas().back();
}

double square_sum(std::uint64_t n) noexcept {
  return sum_until(isas().widest, n, [] {});
}

double square_sum(std::uint64_t n, const pool::cancel_token& token) {
  return sum_until(isas().widest, n, [&] {
    if (const auto why = token.check(); why != pool::stop_reason::none)
      throw pool::job_cancelled{why};
  });
}

double square_sum_chunk(std::uint64_t n, std::uint64_t c) noexcept {
  return chunk_on(isas().widest, n, c);
}

namespace {
double combine_chunks(std::span<const double> partials) noexcept {
  compensated_sum sum;
  for (const double p : partials) sum.add(p);
  return sum.value();
}
}  // namespace

const pool::chunked_kind& square_sum_chunked() noexcept {
  static constexpr pool::chunked_kind kind{chunk_count, square_sum_chunk, combine_chunks};
  return kind;
}

double square_sum_on(kernel_isa isa, std::uint64_t n) noexcept {
  return sum_until(block_for(isa), n, [] {});
}

}  // namespace workers

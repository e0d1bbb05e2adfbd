#include "workers/square_sum.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <string>

#if defined(__x86_64__)
#include <immintrin.h>
// GCC 12's _mm512_rsqrt14_pd passes _mm512_undefined_pd(), which it then warns about.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace workers {

namespace {

// Lanes of independent partial sums: 32, as four 512-bit or eight 256-bit vectors, enough
// to keep the FMA units busy on every width; each lane sums only block/lanes terms, which
// bounds rounding error. Lane k sums i = first + k, first + k + 32, ... and the lanes are
// folded in a fixed order, the same on every path: since every path's square root is the
// correctly rounded one, every path gives the same bits.
constexpr std::size_t lanes = 32;
// Terms per block. A block's partial sums are folded into a compensated total, so the
// error of plain summation never grows past one block (128 terms per lane).
constexpr std::uint64_t block = 4096;

// A fixed pairwise fold of the lanes, the same on every path.
[[gnu::always_inline]] inline double fold(double (&acc)[lanes]) noexcept {
  for (std::size_t width = lanes / 2; width > 0; width /= 2)
    for (std::size_t k = 0; k < width; ++k) acc[k] += acc[k + width];
  return acc[0];
}

// The portable path: the hardware square root, in a plain loop that GCC vectorises (SSE2 on
// baseline x86-64). Without FMA the refinement below cannot form its residual x - s*s
// exactly, so this is both the fast and the correctly rounded choice there.
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
  return fold(acc);
}

using block_fn = double (*)(std::uint64_t, std::uint64_t) noexcept;

double block_scalar(std::uint64_t first, std::uint64_t count) noexcept {
  return block_body(first, count);
}

#if defined(__x86_64__)
// Square roots on the FMA units, which are several times faster than the divider/sqrt
// unit. From an estimate y of 1/sqrt(x): g = x*y approximates sqrt(x) and h = y/2 its
// reciprocal's half; a Goldschmidt step (r = 1/2 - g*h; g += g*r; h += h*r) squares the
// relative error of both; a Markstein correction (d = x - g*g, exact with FMA once g is
// close; g += h*d) turns a g within an ulp or so into the correctly rounded sqrt(x). Tested
// term by term against the hardware square root (tests/square_sum_test.cpp): every i below
// 2^24, a random sample below 2^53, and the integers whose roots lie nearest a rounding
// midpoint. x = 0 gives NaN (the estimate is infinite): callers handle i = 0.

// AVX-512: a 14-bit estimate (vrsqrt14pd), two Goldschmidt steps (28, then 56 bits), one
// correction.
[[gnu::target("arch=x86-64-v4"), gnu::always_inline]] inline __m512d sqrt_fma(__m512d x) noexcept {
  const __m512d half = _mm512_set1_pd(0.5);
  const __m512d y = _mm512_rsqrt14_pd(x);
  __m512d g = _mm512_mul_pd(x, y);
  __m512d h = _mm512_mul_pd(half, y);
  __m512d r = _mm512_fnmadd_pd(g, h, half);
  g = _mm512_fmadd_pd(g, r, g);
  h = _mm512_fmadd_pd(h, r, h);
  r = _mm512_fnmadd_pd(g, h, half);
  g = _mm512_fmadd_pd(g, r, g);
  h = _mm512_fmadd_pd(h, r, h);
  const __m512d d = _mm512_fnmadd_pd(g, g, x);
  return _mm512_fmadd_pd(h, d, g);
}

// AVX2 has no double-precision estimate: a 12-bit one in single precision (vrsqrtps on x
// rounded to float), two Goldschmidt steps in double (24, then 48 bits), two corrections.
[[gnu::target("arch=x86-64-v3"), gnu::always_inline]] inline __m256d sqrt_fma(__m256d x) noexcept {
  const __m256d half = _mm256_set1_pd(0.5);
  const __m256d y = _mm256_cvtps_pd(_mm_rsqrt_ps(_mm256_cvtpd_ps(x)));
  __m256d g = _mm256_mul_pd(x, y);
  __m256d h = _mm256_mul_pd(half, y);
  __m256d r = _mm256_fnmadd_pd(g, h, half);
  g = _mm256_fmadd_pd(g, r, g);
  h = _mm256_fmadd_pd(h, r, h);
  r = _mm256_fnmadd_pd(g, h, half);
  g = _mm256_fmadd_pd(g, r, g);
  h = _mm256_fmadd_pd(h, r, h);
  __m256d d = _mm256_fnmadd_pd(g, g, x);
  g = _mm256_fmadd_pd(h, d, g);
  d = _mm256_fnmadd_pd(g, g, x);
  return _mm256_fmadd_pd(h, d, g);
}

// The same 32 lanes as block_body, as four 512-bit vectors.
[[gnu::target("arch=x86-64-v4")]] double block_avx512(std::uint64_t first,
                                                      std::uint64_t count) noexcept {
  constexpr std::size_t width = 8, vectors = lanes / width;
  const __m512d step = _mm512_set1_pd(static_cast<double>(lanes));
  __m512d x[vectors], acc[vectors];
  for (std::size_t v = 0; v < vectors; ++v) {
    x[v] = _mm512_add_pd(_mm512_set1_pd(static_cast<double>(first + v * width)),
                         _mm512_set_pd(7, 6, 5, 4, 3, 2, 1, 0));
    acc[v] = _mm512_setzero_pd();
  }
  std::uint64_t i = 0;
  if (first == 0 && count != 0) {  // sqrt(0) is 0: lane 0 of the first step is left at 0
    acc[0] = _mm512_maskz_mov_pd(0xFE, sqrt_fma(x[0]));
    for (std::size_t v = 1; v < vectors; ++v) acc[v] = sqrt_fma(x[v]);
    for (auto& xv : x) xv = _mm512_add_pd(xv, step);
    i = lanes;
  }
  for (; i < count; i += lanes) {
    for (std::size_t v = 0; v < vectors; ++v) {
      acc[v] = _mm512_add_pd(acc[v], sqrt_fma(x[v]));
      x[v] = _mm512_add_pd(x[v], step);
    }
  }
  double out[lanes];
  for (std::size_t v = 0; v < vectors; ++v) _mm512_storeu_pd(out + v * width, acc[v]);
  return fold(out);
}

// The same 32 lanes, as eight 256-bit vectors.
[[gnu::target("arch=x86-64-v3")]] double block_avx2(std::uint64_t first,
                                                    std::uint64_t count) noexcept {
  constexpr std::size_t width = 4, vectors = lanes / width;
  const __m256d step = _mm256_set1_pd(static_cast<double>(lanes));
  __m256d x[vectors], acc[vectors];
  for (std::size_t v = 0; v < vectors; ++v) {
    x[v] = _mm256_add_pd(_mm256_set1_pd(static_cast<double>(first + v * width)),
                         _mm256_set_pd(3, 2, 1, 0));
    acc[v] = _mm256_setzero_pd();
  }
  std::uint64_t i = 0;
  if (first == 0 && count != 0) {  // sqrt(0) is 0: lane 0 of the first step is left at 0
    acc[0] = _mm256_blend_pd(sqrt_fma(x[0]), _mm256_setzero_pd(), 0x1);
    for (std::size_t v = 1; v < vectors; ++v) acc[v] = sqrt_fma(x[v]);
    for (auto& xv : x) xv = _mm256_add_pd(xv, step);
    i = lanes;
  }
  for (; i < count; i += lanes) {
    for (std::size_t v = 0; v < vectors; ++v) {
      acc[v] = _mm256_add_pd(acc[v], sqrt_fma(x[v]));
      x[v] = _mm256_add_pd(x[v], step);
    }
  }
  double out[lanes];
  for (std::size_t v = 0; v < vectors; ++v) _mm256_storeu_pd(out + v * width, acc[v]);
  return fold(out);
}

// The same lanes with the hardware square root (vsqrtpd), GCC-vectorised: on some CPUs (AMD
// Zen 4 among them) its unit keeps up with the FMA path at one width or both.
[[gnu::target("arch=x86-64-v3")]] double block_avx2_hw(std::uint64_t first,
                                                       std::uint64_t count) noexcept {
  return block_body(first, count);
}
[[gnu::target("arch=x86-64-v4")]] double block_avx512_hw(std::uint64_t first,
                                                         std::uint64_t count) noexcept {
  return block_body(first, count);
}

// sqrt_each_on's loops: whole vectors, then the tail in a padded one.
[[gnu::target("arch=x86-64-v4")]] void each_avx512(const double* x, double* out,
                                                   std::size_t n) noexcept {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) _mm512_storeu_pd(out + i, sqrt_fma(_mm512_loadu_pd(x + i)));
  if (i < n) {
    double in[8] = {1, 1, 1, 1, 1, 1, 1, 1}, res[8];
    for (std::size_t k = 0; i + k < n; ++k) in[k] = x[i + k];
    _mm512_storeu_pd(res, sqrt_fma(_mm512_loadu_pd(in)));
    for (std::size_t k = 0; i + k < n; ++k) out[i + k] = res[k];
  }
}
[[gnu::target("arch=x86-64-v3")]] void each_avx2(const double* x, double* out,
                                                 std::size_t n) noexcept {
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) _mm256_storeu_pd(out + i, sqrt_fma(_mm256_loadu_pd(x + i)));
  if (i < n) {
    double in[4] = {1, 1, 1, 1}, res[4];
    for (std::size_t k = 0; i + k < n; ++k) in[k] = x[i + k];
    _mm256_storeu_pd(res, sqrt_fma(_mm256_loadu_pd(in)));
    for (std::size_t k = 0; i + k < n; ++k) out[i + k] = res[k];
  }
}
#endif

block_fn block_for(kernel_isa isa, sqrt_method method) noexcept {
  switch (isa) {
#if defined(__x86_64__)
    case kernel_isa::avx2:
      return method == sqrt_method::fma ? block_avx2 : block_avx2_hw;
    case kernel_isa::avx512:
      return method == sqrt_method::fma ? block_avx512 : block_avx512_hw;
#endif
    default:
      return block_scalar;
  }
}

// The faster of the two methods on this CPU at this instruction set: the least time of a few
// alternating runs over 64Ki terms each (about 0.05 ms), once, at first use. Both give the
// same bits, so a noisy choice costs speed, never a different result.
sqrt_method faster_method(kernel_isa isa) noexcept {
  if (isa == kernel_isa::scalar) return sqrt_method::hardware;
  using steady = std::chrono::steady_clock;
  const auto time = [&](sqrt_method m) {
    const auto fn = block_for(isa, m);
    const auto t0 = steady::now();
    volatile double sink = 0;
    for (std::uint64_t b = 0; b < 16; ++b) sink = sink + fn((std::uint64_t{1} << 30) + b * block, block);
    return steady::now() - t0;
  };
  auto best_fma = steady::duration::max(), best_hw = steady::duration::max();
  for (int run = 0; run < 5; ++run) {
    best_fma = std::min(best_fma, time(sqrt_method::fma));
    best_hw = std::min(best_hw, time(sqrt_method::hardware));
  }
  return best_fma <= best_hw ? sqrt_method::fma : sqrt_method::hardware;
}

struct isa_table {
  std::array<kernel_isa, 3> list{};
  std::array<sqrt_method, 3> method{};  // by kernel_isa value
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
    for (std::size_t k = 0; k < t.count; ++k)
      t.method[static_cast<std::size_t>(t.list[k])] = faster_method(t.list[k]);
    const auto widest = t.list[t.count - 1];
    t.widest = block_for(widest, t.method[static_cast<std::size_t>(widest)]);
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

std::string_view method_name(sqrt_method method) noexcept {
  return method == sqrt_method::fma ? "fma" : "hardware";
}

std::span<const sqrt_method> methods_of(kernel_isa isa) noexcept {
  static constexpr sqrt_method both[] = {sqrt_method::hardware, sqrt_method::fma};
  return {both, isa == kernel_isa::scalar ? std::size_t{1} : std::size_t{2}};
}

sqrt_method active_method(kernel_isa isa) noexcept {
  return isas().method[static_cast<std::size_t>(isa)];
}

std::string kernel_name() {
  const auto isa = active_isa();
  return std::string(isa_name(isa)) + "/" + std::string(method_name(active_method(isa)));
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

void sqrt_each_on(kernel_isa isa, sqrt_method method, std::span<const double> x,
                  std::span<double> out) noexcept {
  const std::size_t n = std::min(x.size(), out.size());
#if defined(__x86_64__)
  if (method == sqrt_method::fma && isa == kernel_isa::avx512)
    return each_avx512(x.data(), out.data(), n);
  if (method == sqrt_method::fma && isa == kernel_isa::avx2)
    return each_avx2(x.data(), out.data(), n);
#endif
  // The hardware square root: what block_body's loop computes, on any width.
  for (std::size_t i = 0; i < n; ++i) out[i] = std::sqrt(x[i]);
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
  return sum_until(block_for(isa, active_method(isa)), n, [] {});
}

double square_sum_on(kernel_isa isa, sqrt_method method, std::uint64_t n) noexcept {
  return sum_until(block_for(isa, method), n, [] {});
}

}  // namespace workers

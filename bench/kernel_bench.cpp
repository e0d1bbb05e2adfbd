// The square_sum kernel against plain hand-vectorized reference loops, compiled for each
// instruction set, in the same binary and the same run; and the cancellable kernel against
// the plain one (the cost of chunking). Prints Google Benchmark's table, then the ratios.
//   poolserver_kernel_bench [--benchmark_filter=...] [--benchmark_repetitions=N]

#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
// GCC 12's _mm512_sqrt_pd passes _mm512_undefined_pd(), which it then warns about.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#include "bench/ratio_reporter.hpp"
#include "pool/cancel.hpp"
#include "workers/square_sum.hpp"
#include "workers/square_sum_exact.hpp"

namespace {

using workers::kernel_isa;

// --- Reference loops: the ceiling for each instruction set. Four independent vector
// accumulators, the counter kept in doubles, plain summation: nothing else to pay for.

double reference_scalar(std::uint64_t n) {
  double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  double x = 0;
  std::uint64_t i = 0;
  for (; i + 4 <= n; i += 4, x += 4) {
    a0 += std::sqrt(x);
    a1 += std::sqrt(x + 1);
    a2 += std::sqrt(x + 2);
    a3 += std::sqrt(x + 3);
  }
  for (; i < n; ++i) a0 += std::sqrt(static_cast<double>(i));
  return (a0 + a1) + (a2 + a3);
}

#if defined(__x86_64__)
// The FMA method's square root, as the kernel takes it (workers/square_sum.cpp).

[[gnu::target("avx512f")]] inline __m512d rsqrt_newton(__m512d x) {
  const __m512d half = _mm512_set1_pd(0.5);
  const __m512d y = _mm512_rsqrt14_pd(x);
  __m512d g = _mm512_mul_pd(x, y), h = _mm512_mul_pd(half, y);
  for (int step = 0; step < 2; ++step) {
    const __m512d r = _mm512_fnmadd_pd(g, h, half);
    g = _mm512_fmadd_pd(g, r, g);
    h = _mm512_fmadd_pd(h, r, h);
  }
  return _mm512_fmadd_pd(h, _mm512_fnmadd_pd(g, g, x), g);
}

[[gnu::target("avx2,fma")]] inline __m256d rsqrt_newton(__m256d x) {
  const __m256d half = _mm256_set1_pd(0.5);
  const __m256d y = _mm256_cvtps_pd(_mm_rsqrt_ps(_mm256_cvtpd_ps(x)));
  __m256d g = _mm256_mul_pd(x, y), h = _mm256_mul_pd(half, y);
  for (int step = 0; step < 2; ++step) {
    const __m256d r = _mm256_fnmadd_pd(g, h, half);
    g = _mm256_fmadd_pd(g, r, g);
    h = _mm256_fmadd_pd(h, r, h);
  }
  for (int step = 0; step < 2; ++step) g = _mm256_fmadd_pd(h, _mm256_fnmadd_pd(g, g, x), g);
  return g;
}

// Four vector accumulators, the counter kept in doubles, plain summation: nothing else to
// pay for. Fma false: the hardware square root (reference_<isa>, the old ceiling); true: the
// estimate + Newton method (reference_rsqrt_<isa>, the ceiling of the FMA method), whose
// first vector of roots (sqrt(0) among them, where the estimate is infinite) comes from the
// hardware.
template <bool Fma>
[[gnu::target("avx2,fma")]] double reference_avx2_loop(std::uint64_t n) {
  const __m256d step = _mm256_set1_pd(16);
  __m256d x[4], a[4];
  for (int v = 0; v < 4; ++v) {
    x[v] = _mm256_add_pd(_mm256_set_pd(3, 2, 1, 0), _mm256_set1_pd(4.0 * v));
    a[v] = _mm256_setzero_pd();
  }
  std::uint64_t i = 0;
  if (Fma && n >= 16) {  // the first vector holds sqrt(0): from the hardware
    for (int v = 0; v < 4; ++v) {
      a[v] = _mm256_sqrt_pd(x[v]);
      x[v] = _mm256_add_pd(x[v], step);
    }
    i = 16;
  }
  for (; i + 16 <= n; i += 16) {
    for (int v = 0; v < 4; ++v) {
      __m256d root;
      if constexpr (Fma)
        root = rsqrt_newton(x[v]);
      else
        root = _mm256_sqrt_pd(x[v]);
      a[v] = _mm256_add_pd(a[v], root);
      x[v] = _mm256_add_pd(x[v], step);
    }
  }
  alignas(32) double lanes[4];
  _mm256_store_pd(lanes, _mm256_add_pd(_mm256_add_pd(a[0], a[1]), _mm256_add_pd(a[2], a[3])));
  double s = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
  for (; i < n; ++i) s += std::sqrt(static_cast<double>(i));
  return s;
}

template <bool Fma>
[[gnu::target("avx512f")]] double reference_avx512_loop(std::uint64_t n) {
  const __m512d step = _mm512_set1_pd(32);
  __m512d x[4], a[4];
  for (int v = 0; v < 4; ++v) {
    x[v] = _mm512_add_pd(_mm512_set_pd(7, 6, 5, 4, 3, 2, 1, 0), _mm512_set1_pd(8.0 * v));
    a[v] = _mm512_setzero_pd();
  }
  std::uint64_t i = 0;
  if (Fma && n >= 32) {  // the first vector holds sqrt(0): from the hardware
    for (int v = 0; v < 4; ++v) {
      a[v] = _mm512_sqrt_pd(x[v]);
      x[v] = _mm512_add_pd(x[v], step);
    }
    i = 32;
  }
  for (; i + 32 <= n; i += 32) {
    for (int v = 0; v < 4; ++v) {
      __m512d root;
      if constexpr (Fma)
        root = rsqrt_newton(x[v]);
      else
        root = _mm512_sqrt_pd(x[v]);
      a[v] = _mm512_add_pd(a[v], root);
      x[v] = _mm512_add_pd(x[v], step);
    }
  }
  alignas(64) double lanes[8];
  _mm512_store_pd(lanes, _mm512_add_pd(_mm512_add_pd(a[0], a[1]), _mm512_add_pd(a[2], a[3])));
  double s = 0;
  for (const double v : lanes) s += v;
  for (; i < n; ++i) s += std::sqrt(static_cast<double>(i));
  return s;
}

double reference_avx2(std::uint64_t n) {
  return reference_avx2_loop<false>(n);
}
double reference_rsqrt_avx2(std::uint64_t n) {
  return reference_avx2_loop<true>(n);
}
double reference_avx512(std::uint64_t n) {
  return reference_avx512_loop<false>(n);
}
double reference_rsqrt_avx512(std::uint64_t n) {
  return reference_avx512_loop<true>(n);
}
#endif

double (*rsqrt_reference_for(kernel_isa isa))(std::uint64_t) {
  switch (isa) {
#if defined(__x86_64__)
    case kernel_isa::avx2:
      return reference_rsqrt_avx2;
    case kernel_isa::avx512:
      return reference_rsqrt_avx512;
#endif
    default:
      return nullptr;  // no estimate instruction for doubles at the portable width
  }
}

double (*reference_for(kernel_isa isa))(std::uint64_t) {
  switch (isa) {
#if defined(__x86_64__)
    case kernel_isa::avx2:
      return reference_avx2;
    case kernel_isa::avx512:
      return reference_avx512;
#endif
    default:
      return reference_scalar;
  }
}

void set_counters(benchmark::State& state, std::uint64_t n) {
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
  state.counters["ns_per_term"] =
      benchmark::Counter(static_cast<double>(state.iterations() * n) * 1e-9,
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

template <typename F>
void run(benchmark::State& state, F&& f) {
  const auto n = static_cast<std::uint64_t>(state.range(0));
  for (auto _ : state) benchmark::DoNotOptimize(f(n));
  set_counters(state, n);
}

const std::vector<std::int64_t> sizes = {1'000'000, 100'000'000};

std::string name(const std::string& what, std::int64_t n) {
  return what + "/" + std::to_string(n);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<bench::comparison> comparisons;
  const auto active_isa = workers::active_isa();
  const std::string active(workers::isa_name(active_isa));
  const auto active_method = workers::active_method(active_isa);
  // The FMA method's goals against the hardware square root of the same width (issue 17).
  const auto fma_goal = [](kernel_isa isa) -> bench::comparison {
    if (isa == kernel_isa::avx512) return {"", "", "<= 0.40", 0.40};
    return {"", "", "<= 0.50", 0.50};
  };
  for (const auto n : sizes) {
    // What the server runs: the dispatched kernel, with and without the cancel token.
    bench::with_min_max(benchmark::RegisterBenchmark(
                            "square_sum",
                            [](benchmark::State& s) {
                              run(s, [](std::uint64_t m) { return workers::square_sum(m); });
                              const auto n = static_cast<std::uint64_t>(s.range(0));
                              s.counters["rel_error"] = workers::relative_error(
                                  workers::square_sum(n), workers::square_sum_expansion(n));
                            }))
        ->Arg(n)
        ->Unit(benchmark::kMicrosecond);
    bench::with_min_max(benchmark::RegisterBenchmark(
                            "square_sum_cancellable",
                            [](benchmark::State& s) {
                              const pool::cancel_token token;  // never fires: the cost of looking
                              run(s,
                                  [&](std::uint64_t m) { return workers::square_sum(m, token); });
                            }))
        ->Arg(n)
        ->Unit(benchmark::kMicrosecond);
    // The kernel against the ceiling of the method it runs.
    comparisons.push_back({name("square_sum", n),
                           name((active_method == workers::sqrt_method::fma ? "reference_rsqrt_"
                                                                            : "reference_") +
                                    active,
                                n),
                           "<= 1.10", 1.10});
    comparisons.push_back(
        {name("square_sum_cancellable", n), name("square_sum", n), "<= 1.02", 1.02});
    // Every instruction set this CPU has, each method, each against its own references.
    for (const auto isa : workers::supported_isas()) {
      const std::string isa_str(workers::isa_name(isa));
      bench::with_min_max(
          benchmark::RegisterBenchmark(("reference_" + isa_str).c_str(),
                                       [isa](benchmark::State& s) { run(s, reference_for(isa)); }))
          ->Arg(n)
          ->Unit(benchmark::kMicrosecond);
      if (const auto rsqrt = rsqrt_reference_for(isa))
        bench::with_min_max(benchmark::RegisterBenchmark(("reference_rsqrt_" + isa_str).c_str(),
                                                         [rsqrt](benchmark::State& s) {
                                                           run(s, rsqrt);
                                                         }))
            ->Arg(n)
            ->Unit(benchmark::kMicrosecond);
      for (const auto method : workers::methods_of(isa)) {
        const std::string path =
            "square_sum_" + isa_str + "_" + std::string(workers::method_name(method));
        bench::with_min_max(benchmark::RegisterBenchmark(path.c_str(),
                                                         [isa, method](benchmark::State& s) {
                                                           run(s, [isa, method](std::uint64_t m) {
                                                             return workers::square_sum_on(
                                                                 isa, method, m);
                                                           });
                                                         }))
            ->Arg(n)
            ->Unit(benchmark::kMicrosecond);
        if (method == workers::sqrt_method::fma) {
          auto goal = fma_goal(isa);
          goal.subject = name(path, n);
          goal.baseline = name("reference_" + isa_str, n);
          comparisons.push_back(goal);
          comparisons.push_back(
              {name(path, n), name("reference_rsqrt_" + isa_str, n), "<= 1.10", 1.10});
        } else {
          comparisons.push_back({name(path, n), name("reference_" + isa_str, n), "", 0});
        }
      }
    }
  }
  // The pool's compute bound for GET /1000000: jobs per second that the kernel alone does on
  // 1 or 2 threads (bench/suite.py compares the server against it).
  benchmark::RegisterBenchmark("square_sum_jobs/1000000",
                               [](benchmark::State& s) {
                                 for (auto _ : s)
                                   benchmark::DoNotOptimize(workers::square_sum(1'000'000));
                                 s.SetItemsProcessed(s.iterations());
                               })
      ->Threads(1)
      ->Threads(2)
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
  bench::ratio_reporter reporter("square_sum kernel (" + workers::kernel_name() +
                                     ") against reference loops: time ratios",
                                 "time",
      comparisons);
  return bench::run_with(reporter, argc, argv);
}

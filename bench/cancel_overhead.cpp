// What cancellation costs the kernel: square_sum(n) against square_sum(n, token), which
// looks at its cancel token every workers::check_interval terms. Both are timed in the same
// run, interleaved, several times; prints the medians and their ratio (Markdown).
//   poolserver_cancel_bench [REPETITIONS]

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "pool/cancel.hpp"
#include "workers/square_sum.hpp"

namespace {

volatile double sink;  // keeps the sums from being optimised away

template <typename F>
double seconds(F&& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const int reps = argc > 1 ? std::max(3, std::atoi(argv[1])) : 9;
  std::printf(
      "| n | calls per sample | plain: median ns/term | with token: median ns/term | ratio (token "
      "/ plain) | one chunk |\n");
  std::printf("| --- | --- | --- | --- | --- | --- |\n");
  for (const std::uint64_t n : {1'000'000ull, 100'000'000ull}) {
    const int calls = n < 10'000'000 ? 100 : 1;
    const pool::cancel_token token;  // never fires: the cost of looking, not of stopping
    std::vector<double> plain, with_token;
    for (int r = 0; r < reps; ++r) {
      // Alternate which goes first, so drift on a noisy machine falls on both.
      auto run_plain = [&] {
        for (int c = 0; c < calls; ++c) sink = workers::square_sum(n);
      };
      auto run_token = [&] {
        for (int c = 0; c < calls; ++c) sink = workers::square_sum(n, token);
      };
      if (r % 2) {
        plain.push_back(seconds(run_plain));
        with_token.push_back(seconds(run_token));
      } else {
        with_token.push_back(seconds(run_token));
        plain.push_back(seconds(run_plain));
      }
    }
    const double per_term = 1e9 / (static_cast<double>(n) * calls);
    const double p = median(plain) * per_term, t = median(with_token) * per_term;
    std::printf("| %llu | %d | %.3f | %.3f | %.3f | %.0f µs |\n",
                static_cast<unsigned long long>(n), calls, p, t, t / p,
                t * static_cast<double>(workers::check_interval) / 1000.0);
  }
  return 0;
}

#pragma once
// A Google Benchmark reporter that prints the usual console output and then, as Markdown,
// each comparison asked for: subject against baseline, medians over the repetitions with
// min-max, and the ratio of the medians. Both sides come from the same run (use
// --benchmark_repetitions=N, and --benchmark_enable_random_interleaving=true on a noisy box).

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace bench {

/// Adds "min" and "max" to the statistics a benchmark reports over its repetitions.
inline benchmark::internal::Benchmark* with_min_max(benchmark::internal::Benchmark* b) {
  return b
      ->ComputeStatistics(
          "min", [](const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); })
      ->ComputeStatistics("max", [](const std::vector<double>& v) {
        return *std::max_element(v.begin(), v.end());
      });
}

struct comparison {
  std::string subject;   // benchmark name, as printed
  std::string baseline;  // benchmark name, as printed
  std::string goal;      // e.g. "<= 1.10"; empty for none
  double bound = 0;      // ratio subject/baseline must be at most this (0: no goal)
};

class ratio_reporter : public benchmark::ConsoleReporter {
 public:
  /// `unit` scales the per-iteration time for the table ("ns", "us", ...); `title` heads it.
  ratio_reporter(std::string title, std::string value_header, std::vector<comparison> comparisons)
      : title_(std::move(title)),
        value_header_(std::move(value_header)),
        comparisons_(std::move(comparisons)) {}

  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const auto& r : runs) {
      const value v{r.GetAdjustedRealTime(), benchmark::GetTimeUnitString(r.time_unit)};
      auto& agg = stats_[r.run_name.str()];
      if (r.run_type == Run::RT_Aggregate) {
        agg[r.aggregate_name] = v;
      } else if (!agg.count("median")) {
        // A single repetition has no aggregates: it is its own median, min and max.
        agg["median"] = agg["min"] = agg["max"] = v;
      }
    }
  }

  void Finalize() override {
    ConsoleReporter::Finalize();
    std::printf("\n#### %s\n\n", title_.c_str());
    std::printf(
        "| subject | %s: median (min-max) | baseline | %s: median (min-max) | ratio | goal |\n",
        value_header_.c_str(), value_header_.c_str());
    std::printf("| --- | --- | --- | --- | --- | --- |\n");
    for (const auto& c : comparisons_) {
      const auto s = stats_.find(c.subject), b = stats_.find(c.baseline);
      if (s == stats_.end() || b == stats_.end() || !s->second.count("median") ||
          !b->second.count("median"))
        continue;  // not run (filtered out, or this CPU lacks the instruction set)
      const double ratio = s->second["median"].value / b->second["median"].value;
      std::string verdict;
      if (c.bound > 0) verdict = c.goal + (ratio <= c.bound ? " met" : " MISSED");
      std::printf("| %s | %s | %s | %s | %.3f | %s |\n", c.subject.c_str(), cell(s->second).c_str(),
                  c.baseline.c_str(), cell(b->second).c_str(), ratio, verdict.c_str());
    }
    std::fflush(stdout);
  }

 private:
  struct value {
    double value = 0;
    std::string unit;
  };
  static std::string cell(std::map<std::string, value>& agg) {
    char buf[128];
    std::snprintf(buf, sizeof buf, "%.4g %s (%.4g-%.4g)", agg["median"].value,
                  agg["median"].unit.c_str(), agg["min"].value, agg["max"].value);
    return buf;
  }

  std::string title_, value_header_;
  std::vector<comparison> comparisons_;
  std::map<std::string, std::map<std::string, value>> stats_;
};

/// Runs the registered benchmarks with `reporter`; defaults to 5 interleaved repetitions
/// reporting aggregates only, which the command line can override.
inline int run_with(ratio_reporter& reporter, int argc, char** argv) {
  std::vector<char*> args(argv, argv + argc);
  std::string reps = "--benchmark_repetitions=5", agg = "--benchmark_report_aggregates_only=true",
              inter = "--benchmark_enable_random_interleaving=true";
  args.insert(args.begin() + 1, {reps.data(), agg.data(), inter.data()});
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}

}  // namespace bench

#pragma once
// A writer for the Prometheus text format 0.0.4: metric families, samples and histograms.

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "pool/metrics.hpp"

namespace observability {

/// One label of a sample: name="value".
using label = std::pair<std::string_view, std::string_view>;

/// Appends Prometheus text-format lines to a string.
class prometheus_writer {
 public:
  explicit prometheus_writer(std::string& out) : out_(out) {}

  /// `# HELP` and `# TYPE` lines that start a metric family.
  void family(std::string_view name, std::string_view type, std::string_view help);
  /// One sample line: name{labels} value.
  void sample(std::string_view name, std::initializer_list<label> labels, double value);
  void sample(std::string_view name, std::initializer_list<label> labels, std::uint64_t value);
  /// The _bucket, _sum and _count lines of a histogram family.
  void histogram(std::string_view name, std::initializer_list<label> labels,
                 const pool::histogram::snapshot& h);

 private:
  void start(std::string_view name, std::initializer_list<label> labels,
             std::string_view extra_name = {}, std::string_view extra_value = {});
  std::string& out_;
};

}  // namespace observability

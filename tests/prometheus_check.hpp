#pragma once
// Test helpers that read the Prometheus text format back.

#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>

namespace test {

/// The value of the sample line whose name-and-labels part is exactly `series`.
inline std::optional<double> metric(const std::string& text, std::string_view series) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ')
      return std::strtod(line.c_str() + series.size() + 1, nullptr);
  }
  return std::nullopt;
}

/// Problems with the exposition format: every sample belongs to a family declared before
/// it with HELP and TYPE, values parse, counters end in _total, histogram buckets are
/// cumulative. Empty when the text is well formed.
inline std::string format_problems(const std::string& text) {
  std::istringstream in(text);
  std::string line, problems;
  std::map<std::string, std::string> types;
  std::set<std::string> helps;
  std::map<std::string, double> last_bucket;  // series without le -> last cumulative count
  while (std::getline(in, line)) {
    if (line.rfind("# HELP ", 0) == 0) {
      helps.insert(line.substr(7, line.find(' ', 7) - 7));
      continue;
    }
    if (line.rfind("# TYPE ", 0) == 0) {
      const auto rest = line.substr(7);
      const auto sp = rest.find(' ');
      types[rest.substr(0, sp)] = rest.substr(sp + 1);
      continue;
    }
    if (line.empty() || line[0] == '#') {
      problems += "unexpected line: " + line + "\n";
      continue;
    }
    const auto name_end = line.find_first_of("{ ");
    const std::string name = line.substr(0, name_end);
    std::string family = name;
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      const std::string s = suffix;
      if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0 &&
          types.count(name.substr(0, name.size() - s.size())) &&
          types[name.substr(0, name.size() - s.size())] == "histogram")
        family = name.substr(0, name.size() - s.size());
    }
    if (!types.count(family) || !helps.count(family)) problems += "no HELP/TYPE for " + name + "\n";
    const auto value_at = line.rfind(' ');
    char* end = nullptr;
    const std::string value = line.substr(value_at + 1);
    const double v = std::strtod(value.c_str(), &end);
    if (value != "+Inf" && (end == value.c_str() || *end != '\0'))
      problems += "bad value: " + line + "\n";
    if (types[family] == "counter" && name.size() > 6 &&
        name.compare(name.size() - 6, 6, "_total") != 0)
      problems += "counter without _total: " + name + "\n";
    if (name != family && name.compare(name.size() - 7, 7, "_bucket") == 0) {
      const auto le = line.find("le=\"");
      const std::string key = family + line.substr(name.size(), le - name.size());
      if (last_bucket.count(key) && v < last_bucket[key])
        problems += "buckets not cumulative: " + line + "\n";
      last_bucket[key] = v;
    }
  }
  return problems;
}

}  // namespace test

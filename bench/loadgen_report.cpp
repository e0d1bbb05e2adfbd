// The load generator's pure parts: the mix and arrivals parsers, percentiles and the JSON
// report. No sockets, so they are tested alone.

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "bench/loadgen.hpp"

namespace loadgen {
namespace {

// Nearest rank on sorted samples, the same rule as percentile().
double ranked(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const auto last = static_cast<double>(sorted.size() - 1);
  const auto i = static_cast<std::size_t>(std::clamp(p, 0.0, 100.0) / 100.0 * last + 0.5);
  return sorted[std::min(i, sorted.size() - 1)];
}

// Milliseconds to the microsecond: more digits are noise.
double micros(double ms) {
  return std::round(ms * 1000.0) / 1000.0;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

std::pair<double, std::string> parse_entry(std::string_view entry) {
  const auto bad = [&](const std::string& why) {
    return std::invalid_argument("mix entry \"" + std::string(entry) + "\": " + why +
                                 " (expected weight:/target or /target, e.g. 90:/1000)");
  };
  entry = trim(entry);
  if (entry.empty()) throw bad("empty");
  double weight = 1;
  std::string_view target = entry;
  if (entry.front() != '/') {
    const auto colon = entry.find(':');
    if (colon == std::string_view::npos) throw bad("the target must start with /");
    const auto w = trim(entry.substr(0, colon));
    const auto [end, ec] = std::from_chars(w.data(), w.data() + w.size(), weight);
    if (ec != std::errc{} || end != w.data() + w.size() || w.empty())
      throw bad("the weight is not a number");
    if (!(weight > 0) || !std::isfinite(weight)) throw bad("the weight must be positive");
    target = trim(entry.substr(colon + 1));
  }
  if (target.empty() || target.front() != '/') throw bad("the target must start with /");
  if (target.find_first_of(" \t\r\n") != std::string_view::npos)
    throw bad("the target has a space or a line break");
  return {weight, std::string(target)};
}

nlohmann::ordered_json stream_json(const stream_result& s) {
  nlohmann::ordered_json statuses = nlohmann::ordered_json::object();
  for (const auto& [status, count] : s.by_status) {
    auto sorted = s.latency_ms.count(status) ? s.latency_ms.at(status) : std::vector<double>{};
    std::sort(sorted.begin(), sorted.end());
    statuses[std::to_string(status)] = {{"count", count},
                                        {"latency_ms",
                                         {{"p50", micros(ranked(sorted, 50))},
                                          {"p90", micros(ranked(sorted, 90))},
                                          {"p99", micros(ranked(sorted, 99))},
                                          {"p99.9", micros(ranked(sorted, 99.9))},
                                          {"max", micros(sorted.empty() ? 0 : sorted.back())}}}};
  }
  return {{"name", s.name},
          {"rate", s.rate},
          {"offered", s.offered},
          {"offered_rate", micros(s.offered_rate)},
          {"answered", s.answered},
          {"statuses", statuses},
          {"lost", s.lost},
          {"timed_out", s.timed_out},
          {"not_sent", s.not_sent},
          {"connect_failures", s.connect_failures},
          {"max_send_lag_ms", micros(s.max_send_lag_ms)},
          {"goodput", micros(s.goodput)},
          {"schedule_seconds", micros(s.schedule_seconds)},
          {"max_connections_used", s.max_connections_used},
          {"connections_opened", s.connections_opened}};
}

}  // namespace

std::vector<std::pair<double, std::string>> parse_mix(std::string_view text, char separator) {
  std::vector<std::pair<double, std::string>> mix;
  if (trim(text).empty()) throw std::invalid_argument("empty mix: give at least one /target");
  for (std::size_t from = 0;;) {
    const auto to = text.find(separator, from);
    mix.push_back(parse_entry(text.substr(from, to - from)));
    if (to == std::string_view::npos) break;
    from = to + 1;
  }
  return mix;
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return ranked(v, p);
}

arrivals parse_arrivals(std::string_view text) {
  if (text == "constant") return arrivals::constant;
  if (text == "poisson") return arrivals::poisson;
  throw std::invalid_argument("arrivals \"" + std::string(text) +
                              "\": expected constant or poisson");
}

std::string to_json(const result& r) {
  nlohmann::ordered_json streams = nlohmann::ordered_json::array();
  for (const auto& s : r.streams) streams.push_back(stream_json(s));
  const nlohmann::ordered_json j = {{"mode", r.closed > 0 ? "closed" : "open"},
                                    {"arrivals", r.closed > 0                 ? "none"
                                                 : r.how == arrivals::poisson ? "poisson"
                                                                              : "constant"},
                                    {"closed_connections", r.closed},
                                    {"seconds", micros(r.seconds)},
                                    {"streams", streams}};
  return j.dump(2);
}

}  // namespace loadgen

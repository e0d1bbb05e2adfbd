#include "pool/metrics.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace pool {

std::uint64_t histogram::snapshot::count() const noexcept {
  std::uint64_t n = 0;
  for (auto b : buckets) n += b;
  return n;
}

histogram::snapshot& histogram::snapshot::operator+=(const snapshot& other) noexcept {
  for (std::size_t i = 0; i < buckets.size(); ++i) buckets[i] += other.buckets[i];
  sum_ns += other.sum_ns;
  return *this;
}

histogram::snapshot& histogram::snapshot::operator-=(const snapshot& earlier) noexcept {
  for (std::size_t i = 0; i < buckets.size(); ++i)
    buckets[i] = buckets[i] > earlier.buckets[i] ? buckets[i] - earlier.buckets[i] : 0;
  sum_ns = sum_ns > earlier.sum_ns ? sum_ns - earlier.sum_ns : 0;
  return *this;
}

double quantile(const histogram::snapshot& h, double q) noexcept {
  const auto total = h.count();
  if (total == 0) return std::nan("");
  const double rank = q * static_cast<double>(total);
  std::uint64_t below = 0;  // observations in the buckets before this one
  for (std::size_t i = 0; i < h.buckets.size(); ++i) {
    const auto in = h.buckets[i];
    if (in > 0 && static_cast<double>(below + in) >= rank) {
      if (i == latency_buckets.size()) return latency_buckets.back();  // the +Inf bucket
      const double lo = i == 0 ? 0.0 : latency_buckets[i - 1];
      const double hi = latency_buckets[i];
      const double into = (rank - static_cast<double>(below)) / static_cast<double>(in);
      return lo + (hi - lo) * std::clamp(into, 0.0, 1.0);
    }
    below += in;
  }
  return latency_buckets.back();
}

void histogram::observe(std::chrono::nanoseconds d) noexcept {
  const double seconds = std::chrono::duration<double>(d).count();
  const auto it = std::lower_bound(latency_buckets.begin(), latency_buckets.end(), seconds);
  auto& bucket = buckets_[static_cast<std::size_t>(it - latency_buckets.begin())];
  const auto ns = static_cast<std::uint64_t>(std::max<std::int64_t>(d.count(), 0));
  if (shared_) {
    shared_add(bucket);
    shared_add(sum_ns_, ns);
  } else {
    owner_add(bucket);
    owner_add(sum_ns_, ns);
  }
}

histogram::snapshot histogram::read() const noexcept {
  snapshot s;
  for (std::size_t i = 0; i < bucket_count; ++i)
    s.buckets[i] = buckets_[i].load(std::memory_order_relaxed);
  s.sum_ns = sum_ns_.load(std::memory_order_relaxed);
  return s;
}

namespace {

void append_number(std::string& out, double v, std::chars_format format = std::chars_format{}) {
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  if (std::isnan(v)) {
    out += "NaN";
    return;
  }
  char buf[32];
  // Shortest round-trip form; `fixed` for bucket bounds, so le="0.0005", not "5e-04".
  const auto r = format == std::chars_format{} ? std::to_chars(buf, buf + sizeof buf, v)
                                               : std::to_chars(buf, buf + sizeof buf, v, format);
  out.append(buf, r.ptr);
}

void append_number(std::string& out, std::uint64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// Label values escape backslash, double quote and newline; HELP text backslash and newline.
void append_escaped(std::string& out, std::string_view s, bool quote) {
  for (char c : s) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else if (quote && c == '"')
      out += "\\\"";
    else
      out += c;
  }
}

}  // namespace

void prometheus_writer::family(std::string_view name, std::string_view type,
                               std::string_view help) {
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  append_escaped(out_, help, false);
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += type;
  out_ += '\n';
}

void prometheus_writer::start(std::string_view name, std::initializer_list<label> labels,
                              std::string_view extra_name, std::string_view extra_value) {
  out_ += name;
  if (labels.size() == 0 && extra_name.empty()) {
    out_ += ' ';
    return;
  }
  out_ += '{';
  bool first = true;
  auto add = [&](std::string_view k, std::string_view v) {
    if (!first) out_ += ',';
    first = false;
    out_ += k;
    out_ += "=\"";
    append_escaped(out_, v, true);
    out_ += '"';
  };
  for (const auto& [k, v] : labels) add(k, v);
  if (!extra_name.empty()) add(extra_name, extra_value);
  out_ += "} ";
}

void prometheus_writer::sample(std::string_view name, std::initializer_list<label> labels,
                               double value) {
  start(name, labels);
  append_number(out_, value);
  out_ += '\n';
}

void prometheus_writer::sample(std::string_view name, std::initializer_list<label> labels,
                               std::uint64_t value) {
  start(name, labels);
  append_number(out_, value);
  out_ += '\n';
}

void prometheus_writer::histogram(std::string_view name, std::initializer_list<label> labels,
                                  const histogram::snapshot& h) {
  const std::string bucket_name = std::string(name) + "_bucket";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < h.buckets.size(); ++i) {
    cumulative += h.buckets[i];
    std::string le;
    if (i < latency_buckets.size())
      append_number(le, latency_buckets[i], std::chars_format::fixed);
    else
      le = "+Inf";
    start(bucket_name, labels, "le", le);
    append_number(out_, cumulative);
    out_ += '\n';
  }
  sample(std::string(name) + "_sum", labels, static_cast<double>(h.sum_ns) / 1e9);
  sample(std::string(name) + "_count", labels, cumulative);
}

}  // namespace pool

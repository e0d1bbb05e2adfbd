#include "observability/prometheus_writer.hpp"

#include <charconv>
#include <cmath>

namespace observability {

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
                                  const pool::histogram::snapshot& h) {
  const std::string bucket_name = std::string(name) + "_bucket";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < h.buckets.size(); ++i) {
    cumulative += h.buckets[i];
    std::string le;
    if (i < pool::latency_buckets.size())
      append_number(le, pool::latency_buckets[i], std::chars_format::fixed);
    else
      le = "+Inf";
    start(bucket_name, labels, "le", le);
    append_number(out_, cumulative);
    out_ += '\n';
  }
  sample(std::string(name) + "_sum", labels, static_cast<double>(h.sum_ns) / 1e9);
  sample(std::string(name) + "_count", labels, cumulative);
}

}  // namespace observability

#include "observability/json_number.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace observability {

void append_uint(std::string& out, std::uint64_t v) {
  char digits[24];
  out.append(digits, std::to_chars(digits, digits + sizeof digits, v).ptr);
}

void append_json_double(std::string& out, double v) {
  if (!std::isfinite(v)) {  // JSON has no infinities or NaN; nlohmann-json writes null too
    out += "null";
    return;
  }
  char digits[32];
  const auto end = std::to_chars(digits, digits + sizeof digits, v).ptr;  // shortest round-trip
  out.append(digits, end);
  // An integral value keeps a fraction, so that it still reads back as a floating-point number.
  if (std::find_if(digits, end, [](char c) { return c == '.' || c == 'e'; }) == end) out += ".0";
}

}  // namespace observability

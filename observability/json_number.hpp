#pragma once
// Numbers written as JSON text directly (no JSON object built): the hot path of a job's
// answer, both in the HTTP reply and in an actor's reply over the wire.

#include <cstdint>
#include <string>

namespace observability {

/// Appends `v` in decimal (a JSON number, a status code, a Content-Length).
void append_uint(std::string& out, std::uint64_t v);
/// Appends `v` as a JSON number with the shortest digits that read back as exactly `v`;
/// integral values get ".0", non-finite ones are null.
void append_json_double(std::string& out, double v);

}  // namespace observability

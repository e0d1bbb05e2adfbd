// libFuzzer target: the whole input is a byte stream from an actor (or from a server, as the
// actor sees it), split into two reads at a point the first byte picks.
//
// Invariants: the framer returns exactly the NUL-separated pieces of the stream, never one
// longer than its limit, and stops for good at the first that is; every message parses as a
// reply, a request or `malformed` without crashing; a reply or request that parses, written
// again by this side, parses back to the same thing (values bit-exact).

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "actor/framing.hpp"
#include "actor/protocol.hpp"
#include "fuzz/fuzz_check.hpp"

namespace {

constexpr std::size_t limit = 256;  // small, so that inputs reach it

void check_reply(std::string_view text) {
  auto parsed = actor::parse_reply(text);
  const auto* r = std::get_if<actor::job_reply>(&parsed);
  if (!r || (r->ok && !std::isfinite(r->value))) return;  // JSON cannot write inf back
  std::string again;
  if (r->ok)
    actor::append_value(again, r->id, r->value, r->pid);
  else
    actor::append_error(again, r->id, r->error);
  FUZZ_CHECK(!again.empty() && again.back() == '\0', again);
  again.pop_back();
  FUZZ_CHECK(again.find('\0') == std::string::npos, again);
  auto back = actor::parse_reply(again);
  const auto* b = std::get_if<actor::job_reply>(&back);
  FUZZ_CHECK(b != nullptr, again);
  FUZZ_CHECK(b->id == r->id && b->ok == r->ok, again);
  if (r->ok) {
    FUZZ_CHECK(std::memcmp(&b->value, &r->value, sizeof r->value) == 0 || b->value == r->value,
               again);  // +0.0 and -0.0 compare equal; both read back as written
    FUZZ_CHECK(b->pid == r->pid, again);
  } else {
    FUZZ_CHECK(b->error == r->error, again);  // parsed JSON strings are valid UTF-8
  }
}

void check_request(std::string_view text) {
  auto parsed = actor::parse_request(text);
  const auto* r = std::get_if<actor::job_request>(&parsed);
  if (!r || !r->invalid_args.empty()) return;
  std::string again;
  actor::append_request(again, r->id, r->method, r->n);
  again.pop_back();
  auto back = actor::parse_request(again);
  const auto* b = std::get_if<actor::job_request>(&back);
  FUZZ_CHECK(b != nullptr, again);
  FUZZ_CHECK(b->id == r->id && b->n == r->n && b->invalid_args.empty(), again);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t cut = std::min<std::size_t>(data[0], size - 1);
  const std::string_view stream(reinterpret_cast<const char*>(data) + 1, size - 1);

  actor::frame_reader frames(limit);
  std::vector<std::string> got;
  bool fits = frames.feed(stream.substr(0, cut), [&](std::string_view m) { got.emplace_back(m); });
  if (fits)
    fits = frames.feed(stream.substr(cut), [&](std::string_view m) { got.emplace_back(m); });

  // What the framer must have returned: the NUL-terminated pieces, up to the first too long.
  std::vector<std::string> expected;
  bool expected_fits = true;
  std::size_t start = 0;
  for (std::size_t i = 0; i < stream.size(); ++i) {
    if (stream[i] != '\0') continue;
    if (i - start > limit) {
      expected_fits = false;
      break;
    }
    expected.emplace_back(stream.substr(start, i - start));
    start = i + 1;
  }
  if (expected_fits && stream.size() - start > limit) expected_fits = false;
  FUZZ_CHECK(fits == expected_fits, std::string(stream));
  FUZZ_CHECK(got == expected, std::string(stream));
  if (fits) FUZZ_CHECK(frames.pending() == stream.size() - start, std::string(stream));

  for (const auto& m : got) {
    check_reply(m);
    check_request(m);
  }
  return 0;
}

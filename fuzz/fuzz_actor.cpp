// libFuzzer target: the whole input is a byte stream from an actor (or from a server, as the
// actor sees it), split into two reads at a point the first byte picks.
//
// Invariants: the framer returns exactly the NUL-separated pieces of the stream, never one
// longer than its limit, and stops for good at the first that is; every message parses as a
// reply, a request or `malformed` without crashing; a reply or request that parses, written
// again by this side, parses back to the same thing (values bit-exact, NaN as NaN), and so do
// greetings, jobs with deadlines and cancels.
//
// Then the same stream is what an actor sends to one link (actor_links/actor_ledger.hpp) holding
// jobs 1 to 8 (3 and 6 past their deadline), fed whole and again in reads of 1 to 16 bytes:
// each job is finished exactly once (answered, or taken back when the link ends), one past
// its deadline only as cancelled; the link's counts keep produced = completed + failed +
// cancelled + in_flight after every read; it holds no more than the limit of a message; and
// how the stream is cut into reads changes nothing.

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <spdlog/spdlog.h>

#include "actor/framing.hpp"
#include "actor/protocol.hpp"
#include "actor_links/actor_ledger.hpp"
#include "fuzz/fuzz_check.hpp"

namespace {

constexpr std::size_t limit = 256;  // small, so that inputs reach it

void check_reply(std::string_view text) {
  auto parsed = actor::parse_reply(text);
  const auto* r = std::get_if<actor::job_reply>(&parsed);
  if (!r) return;
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
  if (r->ok && std::isnan(r->value)) {
    FUZZ_CHECK(std::isnan(b->value), again);  // written as null, read back as NaN
    FUZZ_CHECK(b->pid == r->pid, again);
  } else if (r->ok) {
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

// The lifecycle messages: whatever parses as a greeting, a job with a deadline, a cancel,
// a welcome or a refusal is written again by this side and reads back the same.
void check_lifecycle(std::string_view text) {
  auto from_actor = actor::parse_from_actor(text);
  if (const auto* h = std::get_if<actor::hello>(&from_actor)) {
    FUZZ_CHECK(!h->kinds.empty() && h->kinds.size() <= actor::max_kinds, std::string(text));
    std::string again;
    actor::append_hello(again, *h);
    again.pop_back();
    FUZZ_CHECK(again.find('\0') == std::string::npos, again);
    auto back = actor::parse_from_actor(again);
    const auto* b = std::get_if<actor::hello>(&back);
    FUZZ_CHECK(b != nullptr, again);
    // Names that are not valid UTF-8 are written with replacement characters: only the
    // count is sure to survive, and the numbers.
    FUZZ_CHECK(b->kinds.size() == h->kinds.size() && b->capacity == h->capacity &&
                   b->workers == h->workers && b->pid == h->pid,
               again);
  }
  auto from_server = actor::parse_from_server(text);
  if (const auto* r = std::get_if<actor::job_request>(&from_server);
      r && r->invalid_args.empty()) {
    std::string again;
    actor::append_request(again, r->id, r->method, r->n, r->deadline_ms);
    again.pop_back();
    auto back = actor::parse_from_server(again);
    const auto* b = std::get_if<actor::job_request>(&back);
    FUZZ_CHECK(b != nullptr && b->deadline_ms == r->deadline_ms && b->id == r->id, again);
  } else if (const auto* c = std::get_if<actor::cancel>(&from_server)) {
    std::string again;
    actor::append_cancel(again, c->id, c->reason);
    again.pop_back();
    auto back = actor::parse_from_server(again);
    const auto* b = std::get_if<actor::cancel>(&back);
    FUZZ_CHECK(b != nullptr && b->id == c->id, again);
  }
}

constexpr int jobs = 8;

// What one link made of the stream.
struct link_run {
  std::array<int, jobs + 1> finished{};  // by id: answers delivered, plus taken back
  std::array<std::optional<pool::job_status>, jobs + 1> status{};  // of answered ones
  bool broken = false;
  pool::worker_stats stats;
};

void run_link(std::string_view stream, std::size_t read_size, link_run& out) {
  std::uint64_t next_id = 1;
  actor_links::actor_ledger ledger(
      {jobs, limit}, [&] { return next_id++; }, "fuzz");
  const auto now = pool::clock::now();
  const auto expired = std::make_shared<pool::cancel_token>(pool::clock::time_point::min());
  for (int k = 1; k <= jobs; ++k) {
    pool::job j;
    j.method = "square_sum";
    j.arg = static_cast<std::uint64_t>(k);
    if (k % 3 == 0) j.token = expired;
    j.done = [&out, k](pool::job_result&& r) {
      ++out.finished[k];
      out.status[k] = r.status;
    };
    bool start_flush = false;
    FUZZ_CHECK(ledger.try_submit(j, now, start_flush), std::to_string(k));
  }
  for (std::size_t at = 0; at < stream.size() && !out.broken; at += read_size) {
    out.broken = ledger.feed(stream.substr(at, read_size), now).has_value();
    const auto s = ledger.stats();
    FUZZ_CHECK(s.produced == s.completed + s.failed + s.cancelled + s.in_flight,
               std::string(stream));
    FUZZ_CHECK(ledger.partial() <= limit, std::string(stream));
  }
  for (auto& back : ledger.close(false)) {
    const auto k = back.job.arg;
    ++out.finished[k];
    FUZZ_CHECK(back.counted_as ==
                   (k % 3 == 0 ? pool::stop_reason::deadline : pool::stop_reason::actor_lost),
               std::string(stream));
  }
  out.stats = ledger.stats();
}

void check_link(std::string_view stream, std::size_t read_size) {
  link_run whole, in_reads;
  run_link(stream, stream.size() + 1, whole);
  run_link(stream, read_size, in_reads);
  for (int k = 1; k <= jobs; ++k) {
    FUZZ_CHECK(whole.finished[k] == 1, std::string(stream));
    FUZZ_CHECK(in_reads.finished[k] == 1, std::string(stream));
    if (k % 3 == 0 && whole.status[k])
      FUZZ_CHECK(*whole.status[k] == pool::job_status::cancelled, std::string(stream));
  }
  const auto& s = whole.stats;
  FUZZ_CHECK(s.produced == jobs && s.in_flight == 0, std::string(stream));
  FUZZ_CHECK(s.produced == s.completed + s.failed + s.cancelled, std::string(stream));
  FUZZ_CHECK(whole.broken == in_reads.broken, std::string(stream));
  FUZZ_CHECK(whole.status == in_reads.status, std::string(stream));
  FUZZ_CHECK(s.completed == in_reads.stats.completed && s.failed == in_reads.stats.failed &&
                 s.cancelled == in_reads.stats.cancelled,
             std::string(stream));
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
    check_lifecycle(m);
  }

  static const bool quiet = [] {
    spdlog::set_level(spdlog::level::off);  // the link logs an actor's first pid
    return true;
  }();
  (void)quiet;
  check_link(stream, 1 + data[0] % 16);
  return 0;
}

#pragma once
// What a listener does after accept() fails: at once again when the failure was the pending
// connection's own, after a pause when it was the process's or the system's (out of
// descriptors or memory: the connection stays queued, so accepting again at once fails again
// at once, forever). Its warnings are rate-limited, so that no run of failures floods the log.

#include <chrono>
#include <cstdint>
#include <string>

#include <boost/system/error_code.hpp>

#include "pool/job_clock.hpp"

namespace sockets {

/// One log line per `period` at most: allow() says whether this one may be written.
struct log_pace {
  std::chrono::seconds period{1};
  pool::clock::time_point last{};
  bool ever = false;
  bool allow(pool::clock::time_point now) noexcept {
    if (ever && now - last < period) return false;
    last = now;
    ever = true;
    return true;
  }
};

class accept_pacing {
 public:
  /// The wait before accepting again after a failure that is not the connection's own.
  static constexpr std::chrono::milliseconds pause{50};
  /// At most one warning per this long; the rest are counted into the next one.
  static constexpr std::chrono::seconds log_period{1};

  /// `what` names the listener in its log lines ("accept", "actor accept").
  explicit accept_pacing(std::string what) : what_(std::move(what)) {}

  /// After a failed accept: how long to wait before the next (zero: accept again at once).
  /// Logs the error unless a line was written less than log_period ago.
  std::chrono::milliseconds failed(const boost::system::error_code& ec,
                                   pool::clock::time_point now = pool::clock::now());
  /// After an accept succeeded: says that accepting works again, once, rate-limited too.
  void succeeded(pool::clock::time_point now = pool::clock::now()) {
    if (failures_ != 0) recovered(now);  // the common case is this one test
  }

  /// Whether `ec` is the pending connection's own failure (reset or aborted before it was
  /// accepted, or a network error Linux reports on accept), which does not repeat.
  static bool connection_error(const boost::system::error_code& ec) noexcept;

 private:
  void recovered(pool::clock::time_point now);

  std::string what_;
  // One line per log_period at most, for failures and for recoveries each.
  log_pace warned_{log_period};
  log_pace recovered_{log_period};
  std::uint64_t failures_ = 0;  // since the last "accepting again" line
  std::uint64_t unlogged_ = 0;  // failures no line has reported yet
};

}  // namespace sockets

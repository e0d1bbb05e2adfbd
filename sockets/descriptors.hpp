#pragma once
// Open-file limits: the connections a server accepts must fit the descriptors the process
// may open, or clients past the limit wait unanswered in the listen backlog (accept fails
// with EMFILE) instead of getting the 503 that MAX_CONNECTIONS promises.

#include <cstddef>
#include <cstdint>

namespace sockets {

/// RLIMIT_NOFILE before and after raise_descriptor_limit().
struct descriptor_limit {
  std::uint64_t soft_before = 0;  ///< the soft limit the process started with
  std::uint64_t soft = 0;         ///< the soft limit now
  std::uint64_t hard = 0;         ///< the hard limit (what an unprivileged process may reach)
};

/// Raises the soft RLIMIT_NOFILE to the hard limit (systemd's default soft limit is 1024).
descriptor_limit raise_descriptor_limit() noexcept;

/// Descriptors this process has open now (counted in /proc/self/fd).
std::size_t descriptors_open() noexcept;

/// How many connections fit: `limit` minus `reserved` (descriptors used otherwise), minus
/// the room kept for connections that are refused with a 503 (each needs a descriptor while
/// it is answered). Zero when nothing fits.
std::size_t connections_that_fit(std::uint64_t limit, std::size_t reserved) noexcept;

/// Sockets open beyond MAX_CONNECTIONS while they are answered 503: a share of the budget.
std::size_t refusal_room(std::size_t max_connections) noexcept;

}  // namespace sockets

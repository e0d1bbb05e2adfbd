#include "sockets/accept_pacing.hpp"

#include <cerrno>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace sockets {

bool accept_pacing::connection_error(const boost::system::error_code& ec) noexcept {
  if (ec.category() != boost::system::system_category()) return false;
  switch (ec.value()) {
    case ECONNABORTED:
    case ECONNRESET:
    case EPERM:  // a firewall rule refused this peer
    case EPROTO:
    // Linux passes errors already pending on the new connection to accept() (accept(2)).
    case ENETDOWN:
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case ENONET:
    case EHOSTUNREACH:
    case EOPNOTSUPP:
    case ENETUNREACH:
      return true;
    default:
      // EMFILE, ENFILE, ENOBUFS, ENOMEM and whatever else: the next accept would fail alike.
      return false;
  }
}

std::chrono::milliseconds accept_pacing::failed(const boost::system::error_code& ec,
                                                pool::clock::time_point now) {
  ++failures_;
  const auto wait = connection_error(ec) ? std::chrono::milliseconds(0) : pause;
  if (!warned_.allow(now)) {
    ++unlogged_;
    return wait;
  }
  const auto more =
      unlogged_ == 0 ? std::string() : fmt::format(" (and {} more since the last line)", unlogged_);
  if (wait.count() == 0)
    spdlog::warn("{}: {}{}", what_, ec.message(), more);
  else
    spdlog::warn("{}: {}{}; accepting again in {} ms", what_, ec.message(), more, wait.count());
  unlogged_ = 0;
  return wait;
}

void accept_pacing::recovered(pool::clock::time_point now) {
  if (!recovered_.allow(now)) return;  // told later, with the count
  spdlog::info("{}: accepting again after {} failed accept(s)", what_, failures_);
  failures_ = 0;
  unlogged_ = 0;
}

}  // namespace sockets

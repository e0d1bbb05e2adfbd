#include "sockets/descriptors.hpp"

#include <dirent.h>
#include <sys/resource.h>

#include <algorithm>

namespace sockets {

descriptor_limit raise_descriptor_limit() noexcept {
  descriptor_limit out;
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return out;
  out.soft_before = out.soft = lim.rlim_cur;
  out.hard = lim.rlim_max;
  if (lim.rlim_cur < lim.rlim_max) {
    rlimit raised = lim;
    raised.rlim_cur = lim.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) out.soft = lim.rlim_max;
  }
  return out;
}

std::size_t descriptors_open() noexcept {
  DIR* dir = ::opendir("/proc/self/fd");
  if (!dir) return 16;  // no /proc: a guess on the safe side
  std::size_t n = 0;
  while (const dirent* e = ::readdir(dir))
    if (e->d_name[0] != '.') ++n;
  ::closedir(dir);
  return n > 0 ? n - 1 : 0;  // the directory's own descriptor
}

std::size_t refusal_room(std::size_t max_connections) noexcept {
  return std::clamp<std::size_t>(max_connections / 32, 4, 256);
}

std::size_t connections_that_fit(std::uint64_t limit, std::size_t reserved) noexcept {
  if (limit <= reserved) return 0;
  const std::uint64_t usable = limit - reserved;
  // usable = n + refusal_room(n): the largest such n.
  std::uint64_t n = usable > 4 ? usable - std::clamp<std::uint64_t>(usable / 33, 4, 256) : 0;
  while (n > 0 && n + refusal_room(static_cast<std::size_t>(n)) > usable) --n;
  return static_cast<std::size_t>(std::min<std::uint64_t>(n, SIZE_MAX));
}

}  // namespace sockets

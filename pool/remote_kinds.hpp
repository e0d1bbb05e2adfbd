#pragma once
// The job kinds that remote backends offer now: how many live ones offer each, and every name
// ever offered (interned, so that a job may carry it as its `method` for the server's life).
// A kind appears when the first backend offering it joins and is gone with the last; a name
// that was offered once is remembered as gone, so that a request for it is told to come back
// (503) rather than that it does not exist (404).

#include <cstddef>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pool {

class remote_kinds {
 public:
  /// The most distinct names remembered: past it, a backend offering a new one is refused.
  static constexpr std::size_t max_names = 1024;
  /// A name a backend may offer: 1 to 64 of A-Z a-z 0-9 _ . - (it is a URL path segment).
  static bool valid_name(std::string_view name) noexcept;

  /// Whether a backend offering `kinds` may join: every name valid, the new ones fit.
  bool can_offer(const std::vector<std::string>& kinds) const;
  /// A backend offering `kinds` joined (or withdrew them: it left).
  void offered(const std::vector<std::string>& kinds);
  void withdrawn(const std::vector<std::string>& kinds);

  enum class state { unknown, offered, gone };
  struct found {
    state now = state::unknown;
    std::string_view name;  ///< the stored name (offered, gone): lives as long as this
  };
  found lookup(std::string_view name) const;
  /// Every name remembered, with how many backends offer it now.
  std::vector<std::pair<std::string, std::size_t>> counts() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::size_t, std::less<>> count_;  // node-based: names never move
};

}  // namespace pool

#pragma once
// The actor wire protocol's framing: each message is one JSON object followed by a single
// NUL byte. A read may hold several messages or part of one; this turns reads into whole
// messages. A NUL never occurs inside valid JSON text (JSON escapes it as \u0000), so the
// first NUL always ends a message.

#include <cstddef>
#include <string>
#include <string_view>

namespace actor {

/// The largest message (without its NUL) either side accepts. A job request or reply is
/// well under 200 bytes; anything near this limit is a broken or hostile peer.
inline constexpr std::size_t max_message = 64 * 1024;

class frame_reader {
 public:
  explicit frame_reader(std::size_t limit = max_message) : limit_(limit) {}

  /// Appends `bytes` and calls `on_message(std::string_view)` for each message they
  /// complete, in order (the view is valid during the call). Returns false, and stops, as
  /// soon as a message is longer than the limit; the stream cannot be resynchronised then.
  template <class OnMessage>
  bool feed(std::string_view bytes, OnMessage&& on_message) {
    while (!bytes.empty()) {
      const auto nul = bytes.find('\0');
      if (nul == std::string_view::npos) {
        if (partial_.size() + bytes.size() > limit_) return false;
        partial_.append(bytes);
        return true;
      }
      if (partial_.size() + nul > limit_) return false;
      if (partial_.empty()) {
        on_message(bytes.substr(0, nul));  // the common case: no copy
      } else {
        partial_.append(bytes.substr(0, nul));
        on_message(std::string_view(partial_));
        partial_.clear();
      }
      bytes.remove_prefix(nul + 1);
    }
    return true;
  }

  /// Bytes of an unfinished message held now.
  std::size_t pending() const noexcept { return partial_.size(); }

 private:
  std::size_t limit_;
  std::string partial_;  // the start of a message whose NUL has not arrived
};

}  // namespace actor

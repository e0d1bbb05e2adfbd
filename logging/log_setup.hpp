#pragma once
// Where log lines go and how they look: stderr, as text or as one JSON object per line.

#include <memory>
#include <string_view>

#include <spdlog/formatter.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/sink.h>

#include "config/config.hpp"

namespace logging {

/// Writes each message as one JSON object on one line:
/// {"time":"2026-11-24T21:04:05.123Z","level":"info","logger":"poolserver","thread":42,"msg":"..."}
/// With `fields`, the message is already a list of JSON members ("status":200,...), written
/// in place of "msg" (the access log's structured lines).
class json_formatter final : public spdlog::formatter {
 public:
  explicit json_formatter(bool fields = false) : fields_(fields) {}
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override;
  std::unique_ptr<spdlog::formatter> clone() const override;

 private:
  bool fields_;
};

/// A logger named `name` writing to `sink` (null: stderr) in `style`; with `fields`, its
/// JSON messages are member lists (see json_formatter). Not registered: the caller keeps it.
std::shared_ptr<spdlog::logger> make_logger(std::string_view name, config::log_style style,
                                            bool fields = false, spdlog::sink_ptr sink = nullptr);

/// Makes the default logger (spdlog::info and friends) a stderr logger named `program` in
/// LOG_FORMAT at LOG_LEVEL.
void install_default_logger(std::string_view program, const config::settings& s);

/// Appends `text` as a JSON string, quoted and escaped (invalid UTF-8 is replaced).
void append_json_string(spdlog::memory_buf_t& dest, std::string_view text);

}  // namespace logging

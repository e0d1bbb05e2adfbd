#pragma once
// Captures what spdlog's default logger writes while it lives (one "<level> <message>" line
// each), at `level` and above; the logger and level before are restored after.

#include <algorithm>
#include <memory>
#include <sstream>
#include <string>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

namespace test {

struct captured_log {
  std::ostringstream text;
  std::shared_ptr<spdlog::logger> saved = spdlog::default_logger();

  explicit captured_log(spdlog::level::level_enum level = spdlog::level::info) {
    auto logger = std::make_shared<spdlog::logger>(
        "capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(text));
    logger->set_pattern("%l %v");
    logger->set_level(level);
    spdlog::set_default_logger(logger);
  }
  ~captured_log() { spdlog::set_default_logger(saved); }
  captured_log(const captured_log&) = delete;
  captured_log& operator=(const captured_log&) = delete;

  std::size_t lines() const {
    const auto s = text.str();
    return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n'));
  }
  /// Lines that contain `needle`.
  std::size_t lines_with(const std::string& needle) const {
    std::istringstream in(text.str());
    std::size_t n = 0;
    for (std::string line; std::getline(in, line);) n += line.find(needle) != std::string::npos;
    return n;
  }
};

}  // namespace test

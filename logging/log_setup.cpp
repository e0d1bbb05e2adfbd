#include "logging/log_setup.hpp"

#include <algorithm>
#include <chrono>
#include <iterator>
#include <string>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace logging {

void append_json_string(spdlog::memory_buf_t& dest, std::string_view text) {
  // Most text (paths, addresses, our own messages) is printable ASCII with nothing to
  // escape: copied as it is.
  const bool plain = std::all_of(text.begin(), text.end(), [](char c) {
    return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
  });
  if (plain) {
    dest.push_back('"');
    dest.append(text.data(), text.data() + text.size());
    dest.push_back('"');
    return;
  }
  // Otherwise nlohmann's dump escapes; replace keeps a line valid whatever a client sent.
  const auto quoted = nlohmann::json(std::string(text))
                          .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  dest.append(quoted.data(), quoted.data() + quoted.size());
}

void json_formatter::format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) {
  using namespace std::chrono;
  const auto since_epoch = msg.time.time_since_epoch();
  const auto ms = duration_cast<milliseconds>(since_epoch).count() % 1000;
  const auto level = spdlog::level::to_string_view(msg.level);
  fmt::format_to(std::back_inserter(dest), R"({{"time":"{:%Y-%m-%dT%H:%M:%S}.{:03}Z","level":")",
                 fmt::gmtime(system_clock::to_time_t(msg.time)), ms);
  // spdlog's names, except "warn" and "error" as LOG_LEVEL spells them.
  const std::string_view name = msg.level == spdlog::level::warn  ? std::string_view("warn")
                                : msg.level == spdlog::level::err ? std::string_view("error")
                                                                  : std::string_view(level.data(), level.size());
  dest.append(name.data(), name.data() + name.size());
  fmt::format_to(std::back_inserter(dest), R"(","logger":)");
  append_json_string(dest, std::string_view(msg.logger_name.data(), msg.logger_name.size()));
  fmt::format_to(std::back_inserter(dest), R"(,"thread":{},)", msg.thread_id);
  const std::string_view payload(msg.payload.data(), msg.payload.size());
  if (fields_) {
    dest.append(payload.data(), payload.data() + payload.size());
  } else {
    fmt::format_to(std::back_inserter(dest), R"("msg":)");
    append_json_string(dest, payload);
  }
  dest.push_back('}');
  dest.push_back('\n');
}

std::unique_ptr<spdlog::formatter> json_formatter::clone() const {
  return std::make_unique<json_formatter>(fields_);
}

std::shared_ptr<spdlog::logger> make_logger(std::string_view name, config::log_style style,
                                            bool fields, spdlog::sink_ptr sink) {
  if (!sink) sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>(std::string(name), std::move(sink));
  if (style == config::log_style::json)
    logger->set_formatter(std::make_unique<json_formatter>(fields));
  else
    logger->set_formatter(std::make_unique<spdlog::pattern_formatter>(
        "[%Y-%m-%d %H:%M:%S.%e] [%n] [%l] %v"));
  return logger;
}

void install_default_logger(std::string_view program, const config::settings& s) {
  auto logger = make_logger(program, s.log_format);
  logger->set_level(s.log_level);
  spdlog::set_default_logger(std::move(logger));
}

}  // namespace logging

#include "server/access_log.hpp"

#include <iterator>

#include <fmt/format.h>

#include "logging/log_setup.hpp"

namespace server {

namespace {

double to_ms(std::chrono::nanoseconds d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

}  // namespace

access_log::access_log(config::log_style style, spdlog::sink_ptr sink)
    : logger_(logging::make_logger("access", style, /*fields=*/true, std::move(sink))),
      json_(style == config::log_style::json) {
  logger_->set_level(spdlog::level::info);
}

void access_log::write(const access_entry& e) const {
  spdlog::memory_buf_t line;
  auto out = std::back_inserter(line);
  auto backend = e.backend_kind.empty() ? std::string("-")
                                        : fmt::format("{}{}:{}", e.backend_kind,
                                                      e.helpers.empty() ? "" : "s", e.backend_id);
  for (const auto h : e.helpers) fmt::format_to(std::back_inserter(backend), "+{}", h);
  if (json_) {
    const auto field = [&](std::string_view name, std::string_view text) {
      fmt::format_to(out, R"("{}":)", name);
      logging::append_json_string(line, text);
      line.push_back(',');
    };
    field("peer", e.peer);
    field("method", e.method);
    field("path", e.target);
    fmt::format_to(out, R"("status":{},"duration_ms":{:.3f},)", e.status, to_ms(e.duration));
    if (e.queue_wait) fmt::format_to(out, R"("queue_wait_ms":{:.3f},)", to_ms(*e.queue_wait));
    fmt::format_to(out, R"("backend":)");
    if (e.backend_kind.empty())
      fmt::format_to(out, "null");
    else
      logging::append_json_string(line, backend);
  } else {
    // The target is the client's text: keep it to one printable line.
    std::string target(e.target);
    for (auto& c : target)
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
    fmt::format_to(out, "{} {} {} {} {:.3f}ms", e.peer, e.method, target, e.status,
                   to_ms(e.duration));
    if (e.queue_wait) fmt::format_to(out, " queue_wait={:.3f}ms", to_ms(*e.queue_wait));
    fmt::format_to(out, " backend={}", backend);
  }
  logger_->info(std::string_view(line.data(), line.size()));
}

}  // namespace server

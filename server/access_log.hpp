#pragma once
// ACCESS_LOG=1: one line per response, as text or as a JSON object (LOG_FORMAT).

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

#include <spdlog/logger.h>
#include <spdlog/sinks/sink.h>

#include "config/config.hpp"

namespace server {

/// What one access-log line says about a response.
struct access_entry {
  std::string_view peer;    ///< client address:port
  std::string_view method;  ///< as sent ("GET")
  std::string_view target;  ///< path and query, as sent
  unsigned status = 0;
  std::chrono::nanoseconds duration{};  ///< request read → response handed to the socket
  /// For a job: accepted into a mailbox → taken out by a worker (or sent to an actor).
  std::optional<std::chrono::nanoseconds> queue_wait;
  std::string_view backend_kind;  ///< "worker" or "actor"; empty when no job ran
  std::uint64_t backend_id = 0;   ///< the worker's index or the actor's process id
  /// A worker's job that idle workers helped with: their indexes ("workers:1+0+2").
  std::span<const std::size_t> helpers;
};

class access_log {
 public:
  /// Writes to `sink` (null: stderr) in `style`, whatever LOG_LEVEL says.
  explicit access_log(config::log_style style, spdlog::sink_ptr sink = nullptr);
  /// Text: `127.0.0.1:5000 GET /1000 200 0.412ms queue_wait=0.031ms backend=worker:1`; a job
  /// that several workers ran says `backend=workers:1+0` (the one that took it first).
  /// JSON: {"time":..,"level":"info","logger":"access","thread":..,"peer":..,"method":..,
  /// "path":..,"status":200,"duration_ms":0.412,"queue_wait_ms":0.031,"backend":"worker:1"}.
  void write(const access_entry& e) const;

 private:
  std::shared_ptr<spdlog::logger> logger_;
  bool json_;
};

}  // namespace server

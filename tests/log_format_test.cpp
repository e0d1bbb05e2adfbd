#include "logging/log_setup.hpp"
#include "server/access_log.hpp"

#include <doctest/doctest.h>

#include <memory>
#include <chrono>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/sinks/ostream_sink.h>

namespace {

// Formats one message the way a logger in `style` writes it.
std::string format_line(std::unique_ptr<spdlog::formatter> f, std::string_view logger,
                        spdlog::level::level_enum level, std::string_view text) {
  spdlog::details::log_msg msg(logger, level, text);
  spdlog::memory_buf_t buf;
  f->format(msg, buf);
  return std::string(buf.data(), buf.size());
}

}  // namespace

TEST_CASE("log: JSON lines are one valid object each, whatever the message holds") {
  const std::string tricky = "quote \" backslash \\ newline \n tab \t nul " + std::string(1, '\0') +
                             " bad utf-8 \xff\xfe end {} %s";
  const auto line = format_line(std::make_unique<logging::json_formatter>(), "poolserver",
                                spdlog::level::warn, tricky);
  REQUIRE(line.back() == '\n');
  CHECK(line.find('\n') == line.size() - 1);  // exactly one line
  const auto j = nlohmann::json::parse(line);
  CHECK(j.at("level") == "warn");
  CHECK(j.at("logger") == "poolserver");
  CHECK(j.at("thread").is_number_unsigned());
  const auto msg = j.at("msg").get<std::string>();
  CHECK(msg.starts_with("quote \" backslash \\ newline \n tab \t nul "));
  CHECK(msg.ends_with(" end {} %s"));
  // An ISO 8601 UTC time with milliseconds: 2026-11-24T21:04:05.123Z.
  const auto time = j.at("time").get<std::string>();
  CHECK(time.size() == 24);
  CHECK(time[10] == 'T');
  CHECK(time.back() == 'Z');
  CHECK(format_line(std::make_unique<logging::json_formatter>(), "x", spdlog::level::err, "e")
            .find(R"("level":"error")") != std::string::npos);
}

TEST_CASE("log: the clone formats the same way") {
  logging::json_formatter f(/*fields=*/true);
  const auto line = format_line(f.clone(), "access", spdlog::level::info, R"("status":200)");
  const auto j = nlohmann::json::parse(line);
  CHECK(j.at("status") == 200);
  CHECK_FALSE(j.contains("msg"));
}

TEST_CASE("log: make_logger writes text or JSON lines") {
  std::ostringstream text_out, json_out;
  auto text = logging::make_logger("poolserver", config::log_style::text, false,
                                   std::make_shared<spdlog::sinks::ostream_sink_mt>(text_out));
  auto json = logging::make_logger("poolserver", config::log_style::json, false,
                                   std::make_shared<spdlog::sinks::ostream_sink_mt>(json_out));
  text->info("hello {}", 1);
  json->info("hello {}", 1);
  CHECK(text_out.str().ends_with("] [poolserver] [info] hello 1\n"));
  CHECK(text_out.str().front() == '[');
  CHECK(nlohmann::json::parse(json_out.str()).at("msg") == "hello 1");
}

TEST_CASE("log: access lines carry method, path, status, duration, queue wait and backend") {
  using namespace std::chrono_literals;
  std::ostringstream text_out, json_out;
  const server::access_log text(config::log_style::text,
                                std::make_shared<spdlog::sinks::ostream_sink_mt>(text_out));
  const server::access_log json(config::log_style::json,
                                std::make_shared<spdlog::sinks::ostream_sink_mt>(json_out));
  const server::access_entry job{"127.0.0.1:5000", "GET", "/1000?x=\"{}\"", 200, 412us, 31us,
                                 "worker", 1, {}};
  const server::access_entry remote{"[::1]:6000", "POST", "/rpc", 200, 2ms, std::nullopt,
                                    "actor", 4242, {}};
  const server::access_entry probe{"127.0.0.1:5001", "GET", "/healthz", 200, 4us, std::nullopt,
                                   {}, 0, {}};
  const std::size_t helpers[] = {0, 2};
  const server::access_entry shared{"127.0.0.1:5002", "GET", "/1000000000", 200, 90ms, 5us,
                                    "worker", 1, helpers};
  for (const auto* e : {&job, &remote, &probe, &shared}) {
    text.write(*e);
    json.write(*e);
  }
  std::istringstream text_lines(text_out.str());
  std::string line;
  std::vector<std::string> lines;
  while (std::getline(text_lines, line)) lines.push_back(line);
  REQUIRE(lines.size() == 4);
  CHECK(lines[3].ends_with("GET /1000000000 200 90.000ms queue_wait=0.005ms backend=workers:1+0+2"));
  CHECK(lines[0].ends_with(
      "[access] [info] 127.0.0.1:5000 GET /1000?x=\"{}\" 200 0.412ms queue_wait=0.031ms "
      "backend=worker:1"));
  CHECK(lines[1].ends_with("[::1]:6000 POST /rpc 200 2.000ms backend=actor:4242"));
  CHECK(lines[2].ends_with("127.0.0.1:5001 GET /healthz 200 0.004ms backend=-"));

  std::istringstream json_lines(json_out.str());
  std::vector<nlohmann::json> objects;
  while (std::getline(json_lines, line)) objects.push_back(nlohmann::json::parse(line));
  REQUIRE(objects.size() == 4);
  CHECK(objects[3].at("backend") == "workers:1+0+2");
  CHECK(objects[0].at("logger") == "access");
  CHECK(objects[0].at("peer") == "127.0.0.1:5000");
  CHECK(objects[0].at("method") == "GET");
  CHECK(objects[0].at("path") == "/1000?x=\"{}\"");
  CHECK(objects[0].at("status") == 200);
  CHECK(objects[0].at("duration_ms").get<double>() == doctest::Approx(0.412));
  CHECK(objects[0].at("queue_wait_ms").get<double>() == doctest::Approx(0.031));
  CHECK(objects[0].at("backend") == "worker:1");
  CHECK(objects[1].at("backend") == "actor:4242");
  CHECK_FALSE(objects[1].contains("queue_wait_ms"));
  CHECK(objects[2].at("backend").is_null());
}

TEST_CASE("log: JSON strings are written as nlohmann-json writes them, plain or escaped") {
  for (const std::string text : {"", "plain /path?n=1&x=y 127.0.0.1:80", "quote \"", "back\\slash",
                                 "tab\t", "del \x7f", "caf\xc3\xa9", "bad \xff", "\x01"}) {
    CAPTURE(text);
    spdlog::memory_buf_t buf;
    logging::append_json_string(buf, text);
    CHECK(std::string(buf.data(), buf.size()) ==
          nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }
}

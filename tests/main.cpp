#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdlib>

#include <spdlog/spdlog.h>

// TEST_LOG=debug (any spdlog level name) shows the server's log while tests run.
int main(int argc, char** argv) {
  if (const char* level = std::getenv("TEST_LOG"))
    spdlog::set_level(spdlog::level::from_str(level));
  else
    spdlog::set_level(spdlog::level::warn);
  return doctest::Context(argc, argv).run();
}

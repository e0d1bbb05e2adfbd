#pragma once
// Waiting helpers shared by the concurrency tests.

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace test {

/// Polls until `pred` holds; fails the test after 20 s instead of hanging it.
template <typename Pred>
void wait_until(Pred pred) {
  using namespace std::chrono_literals;
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!pred()) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(100us);
  }
}

/// A gate that jobs wait on, so a test can hold a worker busy; opened once.
struct gate {
  std::atomic<bool> open{false};
  void wait() {
    while (!open.load()) open.wait(false);
  }
  void release() {
    open.store(true);
    open.notify_all();
  }
};

}  // namespace test

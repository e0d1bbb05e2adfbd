// The poolserver executable as a user runs it: environment in, exit status out.

#include <utility>

#include <doctest/doctest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "http_client.hpp"

extern char** environ;

namespace {

using namespace std::chrono_literals;

// A child process with its stdout and stderr in one pipe.
class child {
 public:
  explicit child(const std::vector<std::string>& env_overrides) {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDERR_FILENO);
    posix_spawn_file_actions_addclose(&actions, fds[0]);

    std::vector<std::string> env;
    for (char** e = environ; *e; ++e) {
      const std::string var = *e;
      bool overridden = false;
      for (const auto& o : env_overrides)
        overridden |= var.substr(0, var.find('=')) == o.substr(0, o.find('='));
      if (!overridden) env.push_back(var);
    }
    env.insert(env.end(), env_overrides.begin(), env_overrides.end());
    std::vector<char*> envp;
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    char* argv[] = {const_cast<char*>(POOLSERVER_BINARY), nullptr};
    REQUIRE(posix_spawn(&pid_, POOLSERVER_BINARY, &actions, nullptr, argv, envp.data()) == 0);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    out_ = fds[0];
  }
  ~child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    ::close(out_);
  }

  /// Reads output until `needle` appears (or the child closes it, or 20 s pass).
  bool read_until(std::string_view needle) {
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (output_.find(needle) == std::string::npos) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char buf[4096];
      const auto n = ::read(out_, buf, sizeof buf);
      if (n <= 0) return false;
      output_.append(buf, static_cast<std::size_t>(n));
    }
    return true;
  }

  /// Waits for the exit status (fails after 30 s).
  int wait_exit() {
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    int status = 0;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      REQUIRE(std::chrono::steady_clock::now() < deadline);
      std::this_thread::sleep_for(5ms);
    }
    pid_ = -1;
    read_until("\x01");  // drain whatever is left
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  void signal(int sig) { ::kill(pid_, sig); }
  const std::string& output() const { return output_; }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  std::string output_;
};

}  // namespace

TEST_CASE("process: an invalid setting stops start-up with exit 2 and one line naming it") {
  struct bad {
    const char* env;
    const char* mentions;
  };
  for (const bad b : {bad{"THREADS=abc", "THREADS: invalid value 'abc'"},
                      bad{"STRATEGY=fastest", "roundrobin, random, leastbusy, p2c"},
                      bad{"QUEUE_CAPACITY=100", "power of two"}}) {
    CAPTURE(b.env);
    child c({b.env});
    CHECK(c.wait_exit() == 2);
    CHECK(c.output().find(b.mentions) != std::string::npos);
    CHECK(std::count(c.output().begin(), c.output().end(), '\n') == 1);
  }
}

TEST_CASE("process: SIGTERM answers the request in flight, then exits 0") {
  child c({"PORT=0", "HOST=127.0.0.1", "THREADS=2", "STRATEGY=leastbusy"});
  REQUIRE(c.read_until("listening on http://127.0.0.1:"));
  REQUIRE(c.read_until("\n"));
  const auto at = c.output().find("listening on http://127.0.0.1:") +
                  std::strlen("listening on http://127.0.0.1:");
  const auto port = static_cast<unsigned short>(std::stoi(c.output().substr(at)));
  CHECK(c.output().find("STRATEGY=leastbusy") != std::string::npos);  // effective config logged

  test::http_client client(port);
  CHECK(client.get("/1000").result_int() == 200);
  // A job long enough to be running when the signal lands.
  client.send(boost::beast::http::verb::get, "/300000000");
  std::this_thread::sleep_for(50ms);
  c.signal(SIGTERM);
  const auto r = client.read();
  CHECK(r.result_int() == 200);
  CHECK(nlohmann::json::parse(r.body())["value"] == 300'000'000);
  CHECK_FALSE(r.keep_alive());
  client.socket().close();
  CHECK(c.wait_exit() == 0);
  CHECK(c.output().find("draining") != std::string::npos);
}

#pragma once
// The poolserver executable run as a child process: environment in, output and exit status
// out, and its peak memory read from /proc.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

extern char** environ;

namespace test {

using namespace std::chrono_literals;

// A child process with its stdout and stderr in one pipe.
class child {
 public:
  /// Runs `binary` (poolserver by default) with `args` and the environment plus overrides.
  explicit child(const std::vector<std::string>& env_overrides,
                 const std::string& binary = POOLSERVER_BINARY,
                 const std::vector<std::string>& args = {}) {
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
    std::vector<std::string> words{binary};
    words.insert(words.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& w : words) argv.push_back(w.data());
    argv.push_back(nullptr);
    REQUIRE(posix_spawn(&pid_, binary.c_str(), &actions, nullptr, argv.data(), envp.data()) == 0);
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

  /// Reads whatever output arrives for `d` (the child keeps writing meanwhile).
  void read_for(std::chrono::milliseconds d) {
    const auto deadline = std::chrono::steady_clock::now() + d;
    for (auto now = std::chrono::steady_clock::now(); now < deadline;
         now = std::chrono::steady_clock::now()) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count()) + 1) <= 0) continue;
      char buf[65536];
      const auto n = ::read(out_, buf, sizeof buf);
      if (n <= 0) return;
      output_.append(buf, static_cast<std::size_t>(n));
    }
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
  pid_t pid() const { return pid_; }

  /// Peak resident memory so far (VmHWM), in KiB; 0 if unreadable.
  long peak_rss_kib() const {
    std::ifstream status("/proc/" + std::to_string(pid_) + "/status");
    std::string line;
    while (std::getline(status, line))
      if (line.rfind("VmHWM:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
    return 0;
  }
  /// Resident memory now (VmRSS), in KiB; 0 if unreadable.
  long rss_kib() const {
    std::ifstream status("/proc/" + std::to_string(pid_) + "/status");
    std::string line;
    while (std::getline(status, line))
      if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
    return 0;
  }
  const std::string& output() const { return output_; }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  std::string output_;
};

/// Starts the server binary on 127.0.0.1 and an ephemeral port; `port` is read from its
/// start-up log line.
struct server_process {
  child proc;
  unsigned short port = 0;

  /// `binary` and `args`: run the server through another program, e.g. prlimit.
  explicit server_process(std::vector<std::string> env,
                          const std::string& binary = POOLSERVER_BINARY,
                          const std::vector<std::string>& args = {})
      : proc(with_defaults(std::move(env)), binary, args) {
    const std::string marker = "listening on http://127.0.0.1:";
    REQUIRE(proc.read_until(marker));
    REQUIRE(proc.read_until("\n"));
    const auto at = proc.output().find(marker) + marker.size();
    port = static_cast<unsigned short>(std::stoi(proc.output().substr(at)));
    const std::string actors = "actors connect to 127.0.0.1:";
    if (const auto a = proc.output().find(actors); a != std::string::npos)
      actor_port = static_cast<unsigned short>(std::stoi(proc.output().substr(a + actors.size())));
  }
  unsigned short actor_port = 0;  ///< when started with ACTOR_PORT

  /// The caller's settings plus loopback, any port and info logging where not given.
  static std::vector<std::string> with_defaults(std::vector<std::string> env) {
    for (std::string d : {"PORT=0", "HOST=127.0.0.1", "LOG_LEVEL=info"}) {
      const auto name = d.substr(0, d.find('=') + 1);
      bool given = false;
      for (const auto& e : env) given |= e.rfind(name, 0) == 0;
      if (!given) env.push_back(d);
    }
    return env;
  }
};

}  // namespace test

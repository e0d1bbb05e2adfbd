#include "config/cli.hpp"

#include <doctest/doctest.h>

#include <stdlib.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

using env_map = std::map<std::string, std::string, std::less<>>;

config::env_lookup lookup(const env_map& env) {
  return [&env](std::string_view name) -> std::optional<std::string> {
    const auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
}

struct cli_run {
  config::cli_outcome outcome;
  std::string out;
  std::string err;
};

cli_run run(std::vector<std::string> args, const env_map& env = {}) {
  args.insert(args.begin(), "poolserver");
  std::ostringstream out, err;
  auto outcome = config::parse_command_line(args, lookup(env), 8, out, err);
  return {std::move(outcome), out.str(), err.str()};
}

// Token files for ACTOR_TOKEN_FILE in a temporary directory of this process, removed at exit.
class cli_token_files {
 public:
  cli_token_files() {
    std::string tmpl = std::filesystem::temp_directory_path() / "poolserver-cli-XXXXXX";
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    dir_ = tmpl;
  }
  ~cli_token_files() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  /// A file `name` that holds `text`.
  std::string file(const std::string& name, const std::string& text) const {
    std::ofstream(dir_ / name, std::ios::binary) << text;
    return dir_ / name;
  }

 private:
  std::filesystem::path dir_;
};

const cli_token_files& token_files() {
  static const cli_token_files files;
  return files;
}

// The error a bad value of `s` gives, named as `name` (the variable or the flag): a secret's
// value is not repeated; `reason` is why a file could not be used.
std::string bad_value_error(const config::setting& s, const std::string& name,
                            const std::string& value, const std::string& reason = {}) {
  const auto shown = s.kind == config::value_kind::secret
                         ? "(not shown: " + std::to_string(value.size()) + " bytes)"
                         : "'" + value + "'" + (reason.empty() ? "" : " (" + reason + ")");
  return "poolserver: " + name + ": invalid value " + shown + "; allowed: " + s.allowed + "\n";
}

}  // namespace

TEST_CASE("cli: no arguments reads the environment, as before") {
  const auto r = run({}, {{"PORT", "4000"}, {"STRATEGY", "p2c"}});
  REQUIRE(r.outcome.run);
  CHECK(r.outcome.run->port == 4000);
  CHECK(r.outcome.run->strategy == pool::strategy_kind::p2c);
  CHECK(r.out.empty());
  CHECK(r.err.empty());
}

TEST_CASE("cli: a flag overrides its variable, in both spellings, others still come from env") {
  const auto r = run({"--port", "5000", "--strategy=leastbusy", "--log-format", "json"},
                     {{"PORT", "4000"}, {"STRATEGY", "p2c"}, {"THREADS", "3"}});
  REQUIRE(r.outcome.run);
  CHECK(r.outcome.run->port == 5000);
  CHECK(r.outcome.run->strategy == pool::strategy_kind::leastbusy);
  CHECK(r.outcome.run->threads == 3);
  CHECK(r.outcome.run->log_format == config::log_style::json);
}

TEST_CASE("cli: every setting has a flag that works") {
  // One valid, non-default value per setting, given as its flag.
  const env_map values{{"PORT", "0"},
                       {"HOST", "127.0.0.1"},
                       {"THREADS", "5"},
                       {"STRATEGY", "random"},
                       {"IO_THREADS", "2"},
                       {"QUEUE_CAPACITY", "64"},
                       {"MAX_N", "99"},
                       {"LOG_LEVEL", "debug"},
                       {"LOG_FORMAT", "json"},
                       {"ACCESS_LOG", "1"},
                       {"REQUEST_TIMEOUT_MS", "123"},
                       {"BACKPRESSURE", "wait"},
                       {"QUEUE_TIMEOUT_MS", "7"},
                       {"ADMISSION", "static"},
                       {"ADMISSION_TARGET_MS", "31"},
                       {"ADMISSION_INTERVAL_MS", "37"},
                       {"MAX_CONNECTIONS", "9"},
                       {"IDLE_TIMEOUT_MS", "11"},
                       {"HEADER_TIMEOUT_MS", "13"},
                       {"DRAIN_TIMEOUT_MS", "17"},
                       {"KINDS", "sleep_ms,square_sum"},
                       {"WORKER_NICE", "3"},
                       {"SHARE_JOBS", "0"},
                       {"AGENT_PORT", "7003"},
                       {"AGENT_DRAIN_MS", "31"},
                       {"ACTOR_PORT", "7001"},
                       {"ACTOR_HOST", "::1"},
                       {"ACTOR_TIMEOUT_MS", "19"},
                       {"ACTOR_MAX_IN_FLIGHT", "23"},
                       {"ACTOR_MAX_CONNECTIONS", "29"},
                       {"ACTOR_TLS_CERT", "s.pem"},
                       {"ACTOR_TLS_KEY", "s.key"},
                       {"ACTOR_TLS_CA", "ca.pem"},
                       {"ACTOR_TOKEN", "0123456789abcdef-token"},
                       {"ACTOR_TOKEN_FILE", token_files().file("flag", "token-in-a-file-0123\n")},
                       {"ACTOR_INSECURE", "1"}};
  // ACTOR_TOKEN and ACTOR_TOKEN_FILE exclude each other: each gets a run of its own.
  for (const std::string_view left_out : {"ACTOR_TOKEN_FILE", "ACTOR_TOKEN"}) {
    CAPTURE(left_out);
    std::vector<std::string> args;
    env_map env;
    for (const auto& s : config::setting_table()) {
      CAPTURE(s.env);
      REQUIRE(values.count(s.env) == 1);  // a new setting needs a line above
      if (s.env == left_out) continue;
      args.push_back(std::string(s.flag) + "=" + values.find(s.env)->second);
      env.emplace(s.env, values.find(s.env)->second);
    }
    CHECK(values.size() == config::setting_table().size());
    const auto by_flags = run(args);
    const auto by_env = run({}, env);
    REQUIRE(by_flags.outcome.run);
    REQUIRE(by_env.outcome.run);
    // Flags and variables land in the same settings: compare every effective value.
    CHECK(config::effective(*by_flags.outcome.run) == config::effective(*by_env.outcome.run));
    CHECK(by_flags.outcome.run->actor_token == by_env.outcome.run->actor_token);
    for (const auto& [name, value] : config::effective(*by_flags.outcome.run)) {
      CAPTURE(name);
      if (name == left_out || (name == "ACTOR_TOKEN" && left_out == "ACTOR_TOKEN"))
        CHECK(value.empty());
      else if (name == "ACTOR_TOKEN")
        CHECK(value == "***");  // the token itself is never shown
      else
        CHECK(value == values.find(name)->second);
    }
  }
}

TEST_CASE("cli: --help lists every setting with its flag, variable, default and allowed values") {
  const auto r = run({"--help"});
  CHECK_FALSE(r.outcome.run);
  CHECK(r.outcome.exit_code == 0);
  for (const auto& s : config::setting_table()) {
    CAPTURE(s.env);
    const auto at = r.out.find(std::string("  ") + std::string(s.flag) + " ");
    REQUIRE(at != std::string::npos);
    const auto next = r.out.find("\n  --", at + 1);
    std::string entry = r.out.substr(at, next == std::string::npos ? next : next - at);
    // Undo the wrapping before looking for the allowed-values text.
    std::string flat;
    for (std::size_t i = 0; i < entry.size(); ++i) {
      if (entry[i] == '\n') {
        while (i + 1 < entry.size() && entry[i + 1] == ' ') ++i;
        flat += ' ';
      } else {
        flat += entry[i];
      }
    }
    CHECK(flat.find("env " + std::string(s.env) + ", default " + std::string(s.fallback)) !=
          std::string::npos);
    CHECK(flat.find("allowed: " + std::string(s.allowed)) != std::string::npos);
    CHECK(flat.find(std::string(s.meaning)) != std::string::npos);
  }
  CHECK(r.out.find("--version") != std::string::npos);
  CHECK(r.out.find("--print-config") != std::string::npos);
}

TEST_CASE("cli: the table's allowed text is what a bad value's error says") {
  for (const auto& s : config::setting_table()) {
    CAPTURE(s.env);
    if (s.kind == config::value_kind::file) continue;  // any path is one: read when used
    // 'bogus' as a token file is a file that is not there.
    const std::string reason =
        s.kind == config::value_kind::secret_file ? "No such file or directory" : "";
    const auto r = run({std::string(s.flag) + "=bogus"});
    CHECK_FALSE(r.outcome.run);
    CHECK(r.outcome.exit_code == 2);
    CHECK(r.err == bad_value_error(s, s.flag, "bogus", reason));
    // From the environment, the message names the variable instead.
    const auto e = run({}, {{std::string(s.env), "bogus"}});
    CHECK(e.err == bad_value_error(s, std::string(s.env), "bogus", reason));
  }
}

TEST_CASE("cli: --version, unknown flags and a missing value") {
  const auto v = run({"--version"});
  CHECK(v.outcome.exit_code == 0);
  CHECK(v.out == std::string("poolserver ") + POOLSERVER_VERSION + "\n");
  const auto unknown = run({"--bogus"});
  CHECK(unknown.outcome.exit_code == 2);
  CHECK(unknown.err.find("--bogus") != std::string::npos);
  const auto missing = run({"--port"});
  CHECK(missing.outcome.exit_code == 2);
  CHECK(missing.err.find("--port") != std::string::npos);
  CHECK(run({"extra"}).outcome.exit_code == 2);
}

TEST_CASE("cli: --print-config shows the effective values, and they read back the same") {
  const auto r = run({"--print-config", "--threads=-2", "--actor-port", "7000"},
                     {{"QUEUE_CAPACITY", "256"}, {"THREADS", "1"}});
  CHECK_FALSE(r.outcome.run);
  CHECK(r.outcome.exit_code == 0);
  CHECK(r.out.find("\nTHREADS=6\n") != std::string::npos);  // 8 cores minus 2
  CHECK(r.out.find("\nQUEUE_CAPACITY=256\n") != std::string::npos);
  CHECK(r.out.find("\nACTOR_PORT=7000\n") != std::string::npos);
  // Every line after the comment is NAME=value, one per setting, in table order.
  env_map read_back;
  std::istringstream lines(r.out);
  std::string line;
  std::vector<std::string> names;
  while (std::getline(lines, line)) {
    if (line.starts_with("#")) continue;
    const auto eq = line.find('=');
    REQUIRE(eq != std::string::npos);
    names.push_back(line.substr(0, eq));
    read_back[line.substr(0, eq)] = line.substr(eq + 1);
  }
  REQUIRE(names.size() == config::setting_table().size());
  for (std::size_t i = 0; i < names.size(); ++i) CHECK(names[i] == config::setting_table()[i].env);
  const auto again = run({}, read_back);
  REQUIRE(again.outcome.run);
  CHECK(config::print_config(*again.outcome.run) == r.out);
  // Unset ACTOR_PORT prints empty, which reads back as unset.
  const auto off = run({"--print-config"});
  CHECK(off.out.find("\nACTOR_PORT=\n") != std::string::npos);
}

TEST_CASE("cli: the table lists each variable load() reads, once") {
  std::set<std::string, std::less<>> asked;
  config::load(
      [&](std::string_view name) -> std::optional<std::string> {
        asked.emplace(name);
        return std::nullopt;
      },
      4);
  std::set<std::string, std::less<>> listed;
  for (const auto& s : config::setting_table()) {
    CHECK(listed.emplace(s.env).second);
    CHECK(s.flag.starts_with("--"));
  }
  CHECK(asked == listed);
}

namespace {

// Values of a setting that its descriptor allows, and values just outside what it allows:
// read from the descriptor's bounds and names, so that a new setting is probed unasked.
struct bad_probe {
  std::string value;
  std::string reason;  ///< why a token file cannot be used, in its error
  bad_probe(std::string v, std::string r = {}) : value(std::move(v)), reason(std::move(r)) {}
  bad_probe(const char* v) : value(v) {}
};

std::pair<std::vector<std::string>, std::vector<bad_probe>> setting_probes(
    const config::setting& s) {
  std::vector<std::string> ok;
  std::vector<bad_probe> bad{"bogus"};
  switch (s.kind) {
    case config::value_kind::integer:
    case config::value_kind::milliseconds:
    case config::value_kind::power_of_two:
      ok = {std::to_string(s.lo), std::to_string(s.hi)};
      bad = {std::to_string(s.lo - 1), std::to_string(s.hi + 1), "+" + std::to_string(s.hi),
             std::to_string(s.lo) + " ", "1.5"};
      if (s.kind == config::value_kind::power_of_two) {
        bad.push_back(std::to_string(s.hi * 2));
        if (s.lo < 3 && s.hi > 3) bad.push_back("3");
      }
      break;
    case config::value_kind::address:
      ok = {"127.0.0.1", "::1", "0.0.0.0", "::"};
      bad = {"localhost", "1.2.3.4.5", "300.1.1.1", "::g"};
      break;
    case config::value_kind::file:
      ok = {"/etc/poolserver/actor.pem", "certs/server.pem"};
      bad = {};  // any path: the file is read, and found wrong, by what uses it
      break;
    case config::value_kind::secret:
      ok = {std::string(16, '!'), std::string(1024, 'z'), "0123456789abcdef-token"};
      bad = {std::string(15, 'a'), std::string(1025, 'a'), "0123456789 abcdef", "***"};
      break;
    case config::value_kind::secret_file: {
      const auto& files = token_files();
      ok = {files.file("ok1", "0123456789abcdef\n"), files.file("ok2", std::string(64, 'f'))};
      bad = {{files.file("short", "012345678\n"), "the token is 9 bytes"},
             {"/nonexistent/token", "No such file or directory"}};
      break;
    }
    case config::value_kind::choice:
      break;
  }
  for (const auto& name : s.choices) {
    ok.emplace_back(name);
    bad.emplace_back(std::string(name) + "x");
    std::string upper(name);
    for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (upper != name) bad.emplace_back(upper);
  }
  return {ok, bad};
}

}  // namespace

TEST_CASE("cli: the settings table drives parsing, errors, --help and --print-config") {
  const auto help = run({"--help"}).out;
  const auto defaults = config::effective(config::settings{});
  // THREADS=none needs ACTOR_PORT, ACTOR_HOST off loopback needs ACTOR_INSECURE=1 (or
  // authentication), one ACTOR_TLS_ file needs the other two: set them for every probe (each
  // setting's probes override its own).
  const env_map base{{"ACTOR_PORT", "0"},
                     {"ACTOR_INSECURE", "1"},
                     {"ACTOR_TLS_CERT", "s.pem"},
                     {"ACTOR_TLS_KEY", "s.key"},
                     {"ACTOR_TLS_CA", "ca.pem"}};
  std::size_t probed = 0;
  for (std::size_t i = 0; i < config::setting_table().size(); ++i) {
    const auto& s = config::setting_table()[i];
    CAPTURE(s.env);
    // The flag is the variable in lower case with dashes.
    std::string flag = "--";
    for (const char c : s.env)
      flag += c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    CHECK(s.flag == flag);
    // --help lists the flag with its variable and default.
    CHECK(help.find("\n  " + s.flag + " ") != std::string::npos);
    CHECK(help.find("env " + std::string(s.env) + ", default " + s.fallback + "\n") !=
          std::string::npos);
    // The default shown is the default value, unless it is a description of one.
    if (s.when_unset.empty() && !defaults[i].second.empty())
      CHECK(s.fallback == defaults[i].second);

    const auto [ok, bad] = setting_probes(s);
    CHECK_FALSE(ok.empty());
    for (const auto& value : ok) {
      CAPTURE(value);
      auto env = base;
      env[std::string(s.env)] = value;
      const auto r = run({"--print-config"}, env);
      REQUIRE(r.outcome.exit_code == 0);
      auto shown = r.out;
      env_map read_back;
      std::istringstream lines(r.out);
      for (std::string line; std::getline(lines, line);)
        if (!line.starts_with("#"))
          read_back[line.substr(0, line.find('='))] = line.substr(line.find('=') + 1);
      if (s.kind == config::value_kind::secret) {
        // A secret shows as ***, never as itself, and does not read back: without it the
        // rest does.
        CHECK(read_back[std::string(s.env)] == "***");
        CHECK(r.out.find(value) == std::string::npos);
        read_back.erase(std::string(s.env));
        const auto line = "\n" + std::string(s.env) + "=***\n";
        shown.replace(shown.find(line), line.size(), "\n" + std::string(s.env) + "=\n");
      } else if (s.env != "THREADS") {
        // A value given is shown as given, except THREADS, resolved against the cores.
        CHECK(read_back[std::string(s.env)] == value);
      }
      // What --print-config shows reads back to the same configuration.
      const auto again = run({"--print-config"}, read_back);
      CHECK(again.out == shown);
      ++probed;
    }
    for (const auto& [value, reason] : bad) {
      CAPTURE(value);
      auto env = base;
      env[std::string(s.env)] = value;
      CHECK(run({}, env).err == bad_value_error(s, std::string(s.env), value, reason));
      CHECK(run({s.flag + "=" + value}, base).err == bad_value_error(s, s.flag, value, reason));
    }
  }
  CHECK(probed >= 2 * config::setting_table().size());
}

TEST_CASE("cli: a rule across settings is an error of the setting that has it") {
  const auto r = run({"--threads", "none"});
  CHECK(r.outcome.exit_code == 2);
  CHECK(r.err ==
        "poolserver: --threads: invalid value 'none'; allowed: none only with ACTOR_PORT set (with "
        "no local workers, remote actors run every job)\n");
  const auto e = run({}, {{"THREADS", "none"}});
  CHECK(e.err.starts_with("poolserver: THREADS: invalid value 'none'; allowed: none only with"));
  CHECK(run({"--threads", "none", "--actor-port", "0"}).outcome.run->threads == 0);
}

TEST_CASE("cli: an actor port off loopback without authentication refuses to start") {
  const auto r = run({"--actor-port", "7000", "--actor-host", "0.0.0.0"});
  CHECK_FALSE(r.outcome.run);
  CHECK(r.outcome.exit_code == 2);
  CHECK(r.err ==
        "poolserver: --actor-host: invalid value '0.0.0.0'; allowed: a loopback address "
        "(127.0.0.0/8 or ::1) while actors are not authenticated, since whoever reaches the "
        "actor port could join the pool and be sent jobs: set ACTOR_TLS_CERT, ACTOR_TLS_KEY "
        "and ACTOR_TLS_CA (mutual TLS), or ACTOR_TOKEN (a shared token), or ACTOR_INSECURE=1 "
        "to accept any actor on a network you trust\n");
  // --print-config says the same: the configuration is checked before it is printed.
  CHECK(run({"--print-config"}, {{"ACTOR_PORT", "7000"}, {"ACTOR_HOST", "::"}}).outcome.exit_code ==
        2);
  const auto insecure =
      run({"--actor-port", "7000", "--actor-host", "0.0.0.0", "--actor-insecure", "1"});
  REQUIRE(insecure.outcome.run);
  CHECK(insecure.outcome.run->actor_insecure);
  const auto token = run({"--actor-port", "7000", "--actor-host", "0.0.0.0"},
                         {{"ACTOR_TOKEN", "0123456789abcdef"}});
  REQUIRE(token.outcome.run);
  CHECK(token.outcome.run->actor_token == "0123456789abcdef");
  const auto tls = run({"--actor-port=7000", "--actor-host=::", "--actor-tls-cert=s.pem",
                        "--actor-tls-key=s.key", "--actor-tls-ca=ca.pem"});
  REQUIRE(tls.outcome.run);
  CHECK(tls.outcome.run->actor_tls_ca == "ca.pem");
  // A partial TLS set names the file missing.
  const auto partial = run({"--actor-tls-cert=s.pem", "--actor-tls-ca=ca.pem"});
  CHECK(partial.outcome.exit_code == 2);
  CHECK(partial.err.starts_with("poolserver: ACTOR_TLS_KEY: unset; mutual TLS takes all three"));
}

TEST_CASE("cli: --print-config and --help never show the token") {
  const std::string token = "s3cret-0123456789abcdef";
  const auto r = run({"--print-config", "--actor-token", token});
  CHECK(r.outcome.exit_code == 0);
  CHECK(r.out.find("\nACTOR_TOKEN=***\n") != std::string::npos);
  CHECK(r.out.find(token) == std::string::npos);
  const auto h = run({"--help"}, {{"ACTOR_TOKEN", token}});
  CHECK(h.out.find(token) == std::string::npos);
  CHECK(h.out.find("--actor-token TOKEN") != std::string::npos);
  CHECK(h.out.find("--actor-token-file FILE") != std::string::npos);
  // A bad token is not repeated in its error either, from a flag or the environment.
  const std::string near_miss = "s3cret-0123456 ";
  const auto bad = run({"--actor-token", near_miss});
  CHECK(bad.err.find("s3cret") == std::string::npos);
  CHECK(bad.err.starts_with("poolserver: --actor-token: invalid value (not shown: 15 bytes)"));
  CHECK(run({}, {{"ACTOR_TOKEN", near_miss}}).err.find("s3cret") == std::string::npos);
}

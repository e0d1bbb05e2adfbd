#include "config/config.hpp"

#include <doctest/doctest.h>

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace {

config::settings load(std::map<std::string, std::string, std::less<>> env, unsigned cores = 8) {
  return config::load(
      [&](std::string_view name) -> std::optional<std::string> {
        const auto it = env.find(name);
        if (it == env.end()) return std::nullopt;
        return it->second;
      },
      cores);
}

std::string error_of(std::map<std::string, std::string, std::less<>> env) {
  try {
    load(std::move(env));
  } catch (const config::config_error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("config: defaults") {
  const auto s = load({}, 6);
  CHECK(s.port == 1337);
  CHECK(s.host == "0.0.0.0");
  CHECK(s.threads == 6);
  CHECK(s.strategy == pool::strategy_kind::roundrobin);
  CHECK(s.io_threads == 1);
  CHECK(s.queue_capacity == 1024);
  CHECK(s.max_n == 1'000'000'000);
  CHECK(s.log_level == spdlog::level::info);
}

TEST_CASE("config: THREADS unset, 0, empty, positive and negative") {
  CHECK(load({}, 8).threads == 8);
  CHECK(load({{"THREADS", "0"}}, 8).threads == 8);
  CHECK(load({{"THREADS", ""}}, 8).threads == 8);
  CHECK(load({{"THREADS", "3"}}, 8).threads == 3);
  CHECK(load({{"THREADS", "64"}}, 2).threads == 64);
  CHECK(load({{"THREADS", "-2"}}, 8).threads == 6);
  CHECK(load({{"THREADS", "-1"}}, 1).threads == 1);  // at least one
  CHECK(load({{"THREADS", "-20"}}, 8).threads == 1);
}

TEST_CASE("config: every strategy name") {
  for (const auto& [kind, name] : pool::strategy_names)
    CHECK(load({{"STRATEGY", std::string(name)}}).strategy == kind);
}

TEST_CASE("config: the other settings") {
  const auto s = load({{"PORT", "0"},
                       {"HOST", "::1"},
                       {"IO_THREADS", "4"},
                       {"QUEUE_CAPACITY", "1"},
                       {"MAX_N", "5000"},
                       {"LOG_LEVEL", "warn"}});
  CHECK(s.port == 0);
  CHECK(s.host == "::1");
  CHECK(s.io_threads == 4);
  CHECK(s.queue_capacity == 1);
  CHECK(s.max_n == 5000);
  CHECK(s.log_level == spdlog::level::warn);
  CHECK(load({{"HOST", "127.0.0.1"}, {"QUEUE_CAPACITY", "1048576"}}).queue_capacity == 1048576);
}

TEST_CASE("config: each invalid value names the variable, the value and what is allowed") {
  struct bad {
    const char* name;
    const char* value;
    const char* allowed;  // a piece of the allowed-values text
  };
  const bad cases[] = {
      {"THREADS", "abc", "integer"},
      {"THREADS", "1.5", "integer"},
      {"THREADS", "99999", "1024"},
      {"THREADS", "+3", "integer"},
      {"THREADS", " 3", "integer"},
      {"STRATEGY", "fastest", "roundrobin, random, leastbusy, p2c"},
      {"STRATEGY", "RoundRobin", "leastbusy"},
      {"PORT", "70000", "65535"},
      {"PORT", "-1", "65535"},
      {"PORT", "http", "65535"},
      {"HOST", "example.com", "IPv4 or IPv6"},
      {"HOST", "300.1.1.1", "IPv4 or IPv6"},
      {"IO_THREADS", "0", "from 1 to 256"},
      {"IO_THREADS", "1000", "from 1 to 256"},
      {"QUEUE_CAPACITY", "1000", "power of two"},
      {"QUEUE_CAPACITY", "0", "power of two"},
      {"QUEUE_CAPACITY", "2097152", "power of two"},
      {"MAX_N", "-1", "from 0 to"},
      {"MAX_N", "1e9", "from 0 to"},
      {"LOG_LEVEL", "verbose", "trace, debug, info"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    CAPTURE(c.value);
    const auto msg = error_of({{c.name, c.value}});
    CHECK(msg.rfind(std::string(c.name) + ":", 0) == 0);
    CHECK(msg.find(std::string("'") + c.value + "'") != std::string::npos);
    CHECK(msg.find(c.allowed) != std::string::npos);
    CHECK(msg.find('\n') == std::string::npos);  // one line
  }
}

TEST_CASE("config: timeouts, backpressure and connection limits") {
  const auto d = load({});
  CHECK(d.request_timeout == std::chrono::milliseconds(30'000));
  CHECK(d.backpressure == config::backpressure_policy::reject);
  CHECK(d.queue_timeout == std::chrono::milliseconds(1'000));
  CHECK(d.max_connections == 10'000);
  CHECK(d.idle_timeout == std::chrono::milliseconds(30'000));
  CHECK(d.header_timeout == std::chrono::milliseconds(10'000));
  CHECK(d.drain_timeout == std::chrono::milliseconds(10'000));
  CHECK(d.worker_nice == 10);
  CHECK(load({{"WORKER_NICE", "0"}}).worker_nice == 0);
  const auto s = load({{"REQUEST_TIMEOUT_MS", "250"},
                       {"BACKPRESSURE", "wait"},
                       {"QUEUE_TIMEOUT_MS", "0"},
                       {"MAX_CONNECTIONS", "3"},
                       {"IDLE_TIMEOUT_MS", "100"},
                       {"HEADER_TIMEOUT_MS", "200"},
                       {"DRAIN_TIMEOUT_MS", "0"}});
  CHECK(s.request_timeout == std::chrono::milliseconds(250));
  CHECK(s.backpressure == config::backpressure_policy::wait);
  CHECK(s.queue_timeout == std::chrono::milliseconds(0));
  CHECK(s.max_connections == 3);
  CHECK(s.idle_timeout == std::chrono::milliseconds(100));
  CHECK(s.header_timeout == std::chrono::milliseconds(200));
  CHECK(s.drain_timeout == std::chrono::milliseconds(0));
}

TEST_CASE("config: describe() lists every effective setting") {
  const auto line =
      config::describe(load({{"THREADS", "3"}, {"STRATEGY", "p2c"}, {"LOG_LEVEL", "warn"}}));
  for (const char* part :
       {"PORT=1337", "HOST=0.0.0.0", "THREADS=3", "STRATEGY=p2c", "IO_THREADS=1",
        "QUEUE_CAPACITY=1024", "MAX_N=1000000000", "LOG_LEVEL=warn", "REQUEST_TIMEOUT_MS=30000",
        "BACKPRESSURE=reject", "QUEUE_TIMEOUT_MS=1000", "MAX_CONNECTIONS=10000",
        "IDLE_TIMEOUT_MS=30000", "HEADER_TIMEOUT_MS=10000", "DRAIN_TIMEOUT_MS=10000"})
    CHECK(line.find(part) != std::string::npos);
}

TEST_CASE("config: the agent-check is off by default, AGENT_PORT and AGENT_DRAIN_MS") {
  const auto off = load({});
  CHECK_FALSE(off.agent_port.has_value());
  CHECK(off.agent_drain == std::chrono::milliseconds(1'000));
  CHECK(config::describe(off).find("AGENT_PORT=off") != std::string::npos);
  CHECK(config::describe(off).find("AGENT_DRAIN_MS") == std::string::npos);

  const auto on = load({{"AGENT_PORT", "1338"}, {"AGENT_DRAIN_MS", "0"}});
  CHECK(on.agent_port == 1338);
  CHECK(on.agent_drain == std::chrono::milliseconds(0));
  CHECK(config::describe(on).find("AGENT_PORT=1338 AGENT_DRAIN_MS=0") != std::string::npos);
  CHECK(load({{"AGENT_PORT", "0"}}).agent_port == 0);
  CHECK(load({{"AGENT_PORT", ""}}).agent_port == std::nullopt);  // empty counts as unset

  CHECK(error_of({{"AGENT_PORT", "65536"}}).rfind("AGENT_PORT: invalid value '65536'", 0) == 0);
  CHECK(error_of({{"AGENT_PORT", "-1"}}).find("0 = any free port") != std::string::npos);
  CHECK(error_of({{"AGENT_DRAIN_MS", "soon"}}).rfind("AGENT_DRAIN_MS: invalid value", 0) == 0);
}

TEST_CASE("config: actors off by default, ACTOR_* settings and THREADS=none") {
  const auto off = load({});
  CHECK_FALSE(off.actor_port.has_value());
  CHECK(off.actor_host == "127.0.0.1");
  CHECK(off.actor_timeout == std::chrono::milliseconds(10'000));
  CHECK(off.actor_max_in_flight == 64);
  CHECK(off.actor_max_connections == 256);
  CHECK(config::describe(off).find("ACTOR_PORT=off") != std::string::npos);

  const auto on = load({{"ACTOR_PORT", "7000"},
                        {"ACTOR_HOST", "::"},
                        {"ACTOR_INSECURE", "1"},
                        {"ACTOR_TIMEOUT_MS", "250"},
                        {"ACTOR_MAX_IN_FLIGHT", "8"},
                        {"ACTOR_MAX_CONNECTIONS", "3"},
                        {"THREADS", "none"}});
  CHECK(on.actor_port == 7000);
  CHECK(on.actor_host == "::");
  CHECK(on.actor_timeout == std::chrono::milliseconds(250));
  CHECK(on.actor_max_in_flight == 8);
  CHECK(on.actor_max_connections == 3);
  CHECK(on.threads == 0);
  CHECK(config::describe(on).find("THREADS=none") != std::string::npos);
  CHECK(load({{"ACTOR_PORT", "0"}}).actor_port == 0);

  CHECK(error_of({{"THREADS", "none"}}).find("ACTOR_PORT") != std::string::npos);
  CHECK(error_of({{"ACTOR_PORT", "70000"}}).rfind("ACTOR_PORT: invalid value '70000'", 0) == 0);
  CHECK(error_of({{"ACTOR_HOST", "example.com"}}).rfind("ACTOR_HOST: invalid value", 0) == 0);
  CHECK(error_of({{"ACTOR_TIMEOUT_MS", "5"}}).rfind("ACTOR_TIMEOUT_MS: invalid value", 0) == 0);
  CHECK(error_of({{"ACTOR_MAX_IN_FLIGHT", "0"}}).rfind("ACTOR_MAX_IN_FLIGHT: invalid", 0) == 0);
  CHECK(error_of({{"ACTOR_MAX_CONNECTIONS", "0"}}).rfind("ACTOR_MAX_CONNECTIONS: invalid", 0) == 0);
  CHECK(error_of({{"ACTOR_MAX_CONNECTIONS", "65537"}}).find("from 1 to 65536") !=
        std::string::npos);
  CHECK(error_of({{"THREADS", "nothing"}}).find("or none") != std::string::npos);
}

namespace {

// A temporary directory for token files, removed with its files.
class config_temp_dir {
 public:
  config_temp_dir() {
    std::string tmpl = std::filesystem::temp_directory_path() / "poolserver-config-XXXXXX";
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path_ = tmpl;
  }
  ~config_temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  /// Writes `text` to a file `name` in the directory; returns its path.
  std::string file(const std::string& name, const std::string& text) const {
    const auto p = path_ / name;
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

const std::string good_token = "0123456789abcdef0123456789abcdef";

}  // namespace

TEST_CASE("config: ACTOR_TLS_CERT, ACTOR_TLS_KEY and ACTOR_TLS_CA go together") {
  const auto off = load({});
  CHECK(off.actor_tls_cert.empty());
  CHECK(off.actor_tls_key.empty());
  CHECK(off.actor_tls_ca.empty());
  CHECK_FALSE(config::actor_tls(off));
  CHECK_FALSE(config::actors_authenticated(off));

  const auto on = load({{"ACTOR_TLS_CERT", "/etc/poolserver/server.pem"},
                        {"ACTOR_TLS_KEY", "/etc/poolserver/server.key"},
                        {"ACTOR_TLS_CA", "ca.pem"}});
  CHECK(on.actor_tls_cert == "/etc/poolserver/server.pem");
  CHECK(on.actor_tls_key == "/etc/poolserver/server.key");
  CHECK(on.actor_tls_ca == "ca.pem");
  CHECK(config::actor_tls(on));
  CHECK(config::actors_authenticated(on));

  // Each partial set names the first file missing, and says why all three are needed.
  const std::string why =
      ": unset; mutual TLS takes all three of ACTOR_TLS_CERT (this end's certificate), "
      "ACTOR_TLS_KEY (its private key) and ACTOR_TLS_CA (the CA the peer's certificate must "
      "chain to): set it too, or unset the others";
  CHECK(error_of({{"ACTOR_TLS_CERT", "c"}, {"ACTOR_TLS_KEY", "k"}}) == "ACTOR_TLS_CA" + why);
  CHECK(error_of({{"ACTOR_TLS_CERT", "c"}, {"ACTOR_TLS_CA", "a"}}) == "ACTOR_TLS_KEY" + why);
  CHECK(error_of({{"ACTOR_TLS_KEY", "k"}, {"ACTOR_TLS_CA", "a"}}) == "ACTOR_TLS_CERT" + why);
  CHECK(error_of({{"ACTOR_TLS_CERT", "c"}}) == "ACTOR_TLS_KEY" + why);
  CHECK(error_of({{"ACTOR_TLS_CA", "a"}}) == "ACTOR_TLS_CERT" + why);
  // An empty value is unset, here as everywhere.
  CHECK(error_of({{"ACTOR_TLS_CERT", "c"}, {"ACTOR_TLS_KEY", ""}, {"ACTOR_TLS_CA", "a"}}) ==
        "ACTOR_TLS_KEY" + why);
}

TEST_CASE("config: ACTOR_TOKEN is 16 to 1024 printable characters and never shown") {
  CHECK(load({}).actor_token.empty());
  const auto s = load({{"ACTOR_TOKEN", good_token}});
  CHECK(s.actor_token == good_token);
  CHECK(s.actor_token_file.empty());
  CHECK(config::actors_authenticated(s));
  CHECK(load({{"ACTOR_TOKEN", std::string(16, 'x')}}).actor_token == std::string(16, 'x'));
  CHECK(load({{"ACTOR_TOKEN", std::string(1024, '~')}}).actor_token.size() == 1024);

  const std::string allowed =
      "; allowed: 16 to 1024 printable ASCII characters, no spaces (openssl rand -hex 32 makes "
      "one); --print-config shows it as ***";
  const std::string short_token = "0123456789abcde";  // 15 bytes
  CHECK(error_of({{"ACTOR_TOKEN", short_token}}) ==
        "ACTOR_TOKEN: invalid value (not shown: 15 bytes)" + allowed);
  CHECK(error_of({{"ACTOR_TOKEN", std::string(1025, 'x')}}) ==
        "ACTOR_TOKEN: invalid value (not shown: 1025 bytes)" + allowed);
  for (const auto& bad :
       std::vector<std::string>{"0123456789 abcdef", "0123456789abcdef\n", "0123456789abcdé",
                                "\t0123456789abcdef", std::string("0123456789\0abcdef", 17)}) {
    CAPTURE(bad);
    const auto msg = error_of({{"ACTOR_TOKEN", bad}});
    CHECK(msg.starts_with("ACTOR_TOKEN: invalid value (not shown: "));
    CHECK(msg.find("0123456789") == std::string::npos);
  }

  // The token is neither in --print-config's values nor in the start-up line.
  for (const auto& [name, value] : config::effective(s))
    if (name == "ACTOR_TOKEN") CHECK(value == "***");
  const auto line = config::describe(load({{"ACTOR_PORT", "0"}, {"ACTOR_TOKEN", good_token}}));
  CHECK(line.find(good_token) == std::string::npos);
  CHECK(line.find("ACTOR_TOKEN=*** ") != std::string::npos);
  CHECK(line.find("ACTOR_TOKEN_FILE=unset ") != std::string::npos);
  CHECK(line.find("ACTOR_TLS_CERT=unset ") != std::string::npos);
  CHECK(line.find("ACTOR_INSECURE=0") != std::string::npos);
  // *** read back is refused rather than taken as the token.
  CHECK(error_of({{"ACTOR_TOKEN", "***"}}).starts_with("ACTOR_TOKEN: invalid value"));
}

TEST_CASE("config: ACTOR_TOKEN_FILE reads the token from a file") {
  const config_temp_dir dir;
  const auto allowed = std::string("; allowed: a readable file that holds the token (16 to 1024 ") +
                       "printable ASCII characters, no spaces; a trailing newline is ignored), " +
                       "with ACTOR_TOKEN unset";
  // echo's newline, or an editor's CR LF, is not part of the token.
  for (const std::string ending : {"", "\n", "\r\n", "\n\n"}) {
    CAPTURE(ending);
    const auto path = dir.file("token", good_token + ending);
    const auto s = load({{"ACTOR_TOKEN_FILE", path}});
    CHECK(s.actor_token == good_token);
    CHECK(s.actor_token_file == path);
    CHECK(config::actors_authenticated(s));
    // What shows is the file, never the token: --print-config reads back the same.
    for (const auto& [name, value] : config::effective(s)) {
      if (name == "ACTOR_TOKEN") CHECK(value.empty());
      if (name == "ACTOR_TOKEN_FILE") CHECK(value == path);
    }
    CHECK(config::describe(load({{"ACTOR_PORT", "0"}, {"ACTOR_TOKEN_FILE", path}}))
              .find(good_token) == std::string::npos);
  }
  const auto max = dir.file("max", std::string(1024, 'k') + "\r\n");
  CHECK(load({{"ACTOR_TOKEN_FILE", max}}).actor_token == std::string(1024, 'k'));

  const auto missing = (dir.path() / "missing").string();
  CHECK(error_of({{"ACTOR_TOKEN_FILE", missing}}) ==
        "ACTOR_TOKEN_FILE: invalid value '" + missing + "' (No such file or directory)" + allowed);
  const auto folder = dir.path().string();
  CHECK(error_of({{"ACTOR_TOKEN_FILE", folder}}) ==
        "ACTOR_TOKEN_FILE: invalid value '" + folder + "' (Is a directory)" + allowed);
  const auto short_file = dir.file("short", "0123456789abcde\n");
  CHECK(error_of({{"ACTOR_TOKEN_FILE", short_file}}) ==
        "ACTOR_TOKEN_FILE: invalid value '" + short_file + "' (the token is 15 bytes)" + allowed);
  const auto empty = dir.file("empty", "\n");
  CHECK(error_of({{"ACTOR_TOKEN_FILE", empty}}) ==
        "ACTOR_TOKEN_FILE: invalid value '" + empty + "' (the token is 0 bytes)" + allowed);
  const auto long_file = dir.file("long", std::string(2000, 'k'));
  CHECK(error_of({{"ACTOR_TOKEN_FILE", long_file}}).find("(the token is 1027 bytes)") !=
        std::string::npos);
  const auto spaced = dir.file("spaced", "0123456789 abcdef 0123456789\n");
  const auto spaced_error = error_of({{"ACTOR_TOKEN_FILE", spaced}});
  CHECK(spaced_error.find("(the token has a space or a character that is not ASCII)") !=
        std::string::npos);
  CHECK(spaced_error.find("abcdef") == std::string::npos);

  // One token, from one place.
  const auto path = dir.file("token", good_token);
  CHECK(error_of({{"ACTOR_TOKEN", good_token}, {"ACTOR_TOKEN_FILE", path}}) ==
        "ACTOR_TOKEN_FILE: invalid value '" + path +
            "' (ACTOR_TOKEN is set too: give the token one way)" + allowed);
}

TEST_CASE("config: an actor port off loopback needs TLS, a token or ACTOR_INSECURE=1") {
  const config_temp_dir dir;
  const std::map<std::string, std::string, std::less<>> tls{
      {"ACTOR_TLS_CERT", "s.pem"}, {"ACTOR_TLS_KEY", "s.key"}, {"ACTOR_TLS_CA", "ca.pem"}};
  for (const char* host :
       {"0.0.0.0", "::", "10.0.0.1", "192.168.1.20", "fe80::1", "::ffff:10.0.0.1", "128.0.0.1"}) {
    CAPTURE(host);
    const auto msg = error_of({{"ACTOR_PORT", "7000"}, {"ACTOR_HOST", host}});
    CHECK(msg.starts_with(std::string("ACTOR_HOST: invalid value '") + host +
                          "'; allowed: a loopback address (127.0.0.0/8 or ::1) while actors are "
                          "not authenticated, since whoever reaches the actor port could join"));
    // The three ways out.
    CHECK(msg.find("ACTOR_TLS_CERT, ACTOR_TLS_KEY and ACTOR_TLS_CA") != std::string::npos);
    CHECK(msg.find("ACTOR_TOKEN") != std::string::npos);
    CHECK(msg.find("ACTOR_INSECURE=1") != std::string::npos);
    CHECK(msg.find('\n') == std::string::npos);

    auto with_tls = tls;
    with_tls.insert({{"ACTOR_PORT", "7000"}, {"ACTOR_HOST", host}});
    CHECK(load(with_tls).actor_host == host);
    CHECK(load({{"ACTOR_PORT", "7000"}, {"ACTOR_HOST", host}, {"ACTOR_TOKEN", good_token}})
              .actor_host == host);
    CHECK(load({{"ACTOR_PORT", "7000"},
                {"ACTOR_HOST", host},
                {"ACTOR_TOKEN_FILE", dir.file("t", good_token)}})
              .actor_host == host);
    const auto insecure =
        load({{"ACTOR_PORT", "7000"}, {"ACTOR_HOST", host}, {"ACTOR_INSECURE", "1"}});
    CHECK(insecure.actor_insecure);
    CHECK_FALSE(config::actors_authenticated(insecure));
    // Without an actor port there is nothing to protect.
    CHECK(load({{"ACTOR_HOST", host}}).actor_host == host);
  }
  for (const char* host :
       {"127.0.0.1", "127.1.2.3", "127.255.255.254", "::1", "::ffff:127.0.0.1"}) {
    CAPTURE(host);
    CHECK(load({{"ACTOR_PORT", "7000"}, {"ACTOR_HOST", host}}).actor_host == host);
  }
  CHECK_FALSE(load({}).actor_insecure);
  CHECK(error_of({{"ACTOR_INSECURE", "yes"}}) ==
        "ACTOR_INSECURE: invalid value 'yes'; allowed: 0, 1");
}

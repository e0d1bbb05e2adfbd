// poolserver-loadgen: the open-loop load generator's command line (bench/README.md). Prints
// the JSON result on stdout and a short table on stderr; exits 0 when the load ran, whatever
// the statuses, and 2 on bad arguments.

#include <sys/resource.h>

#include <cmath>
#include <cstdio>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "bench/loadgen.hpp"

namespace {

constexpr int bad_arguments = 2;

// "Name: value" into its two halves.
std::pair<std::string, std::string> parse_header(const std::string& text) {
  const auto colon = text.find(':');
  if (colon == std::string::npos || colon == 0)
    throw std::invalid_argument("header \"" + text + "\": expected 'Name: value'");
  auto value = text.substr(colon + 1);
  value.erase(0, value.find_first_not_of(' '));
  return {text.substr(0, colon), value};
}

// --path or path=: one target, taken whole (it may hold '+' or ',').
std::vector<std::pair<double, std::string>> single_target(const std::string& path) {
  if (path.empty() || path[0] != '/')
    throw std::invalid_argument("path \"" + path + "\": must start with /");
  return loadgen::parse_mix(path, '\n');
}

double parse_rate(const std::string& text) {
  std::size_t used = 0;
  double rate = 0;
  try {
    rate = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || !(rate > 0) || !std::isfinite(rate))
    throw std::invalid_argument("rate \"" + text + "\": expected a positive number");
  return rate;
}

// name=low,rate=1000,mix=90:/1000+10:/100000,header=X-Priority: low (header may repeat).
// Commas separate the pairs, so the mix's entries are separated by '+'.
loadgen::stream_spec parse_stream(const std::string& text, std::size_t index) {
  loadgen::stream_spec s;
  s.name = "stream" + std::to_string(index + 1);
  for (std::size_t from = 0; from <= text.size();) {
    auto to = text.find(',', from);
    if (to == std::string::npos) to = text.size();
    const auto pair = text.substr(from, to - from);
    from = to + 1;
    const auto eq = pair.find('=');
    if (eq == std::string::npos)
      throw std::invalid_argument("--stream \"" + text + "\": \"" + pair +
                                  "\" is not key=value (keys: name, rate, mix, path, header)");
    const auto key = pair.substr(0, eq), value = pair.substr(eq + 1);
    if (key == "name")
      s.name = value;
    else if (key == "rate")
      s.rate = parse_rate(value);
    else if (key == "mix")
      s.mix = loadgen::parse_mix(value, '+');
    else if (key == "path")
      s.mix = single_target(value);
    else if (key == "header")
      s.headers.push_back(parse_header(value));
    else
      throw std::invalid_argument("--stream \"" + text + "\": unknown key \"" + key +
                                  "\" (keys: name, rate, mix, path, header)");
  }
  if (s.mix.empty()) throw std::invalid_argument("--stream \"" + text + "\": give mix= or path=");
  return s;
}

// Up to 2000 connections per stream need more descriptors than a default soft limit of 1024.
void raise_descriptor_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
}

void print_table(const loadgen::result& r) {
  std::fprintf(stderr, "%.2f s, %s\n", r.seconds,
               r.closed > 0                          ? "closed loop"
               : r.how == loadgen::arrivals::poisson ? "open loop, poisson arrivals"
                                                     : "open loop, constant arrivals");
  std::fprintf(stderr, "%-12s %9s %9s %9s %7s %9s %9s %9s %6s\n", "stream", "offered", "offered/s",
               "answered", "lost", "timed_out", "not_sent", "goodput/s", "conns");
  for (const auto& s : r.streams) {
    std::fprintf(stderr, "%-12s %9llu %9.1f %9llu %7llu %9llu %9llu %9.1f %6zu\n", s.name.c_str(),
                 static_cast<unsigned long long>(s.offered), s.offered_rate,
                 static_cast<unsigned long long>(s.answered),
                 static_cast<unsigned long long>(s.lost),
                 static_cast<unsigned long long>(s.timed_out),
                 static_cast<unsigned long long>(s.not_sent), s.goodput, s.max_connections_used);
    for (const auto& [status, count] : s.by_status) {
      const auto& ms = s.latency_ms.at(status);
      std::fprintf(stderr, "  %u x%-9llu ms: p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f\n",
                   status, static_cast<unsigned long long>(count), loadgen::percentile(ms, 50),
                   loadgen::percentile(ms, 90), loadgen::percentile(ms, 99),
                   loadgen::percentile(ms, 99.9), loadgen::percentile(ms, 100));
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Open-loop HTTP load generator: requests leave on a fixed schedule whatever the server "
      "does; latency runs from each request's scheduled time. Loopback only.",
      "poolserver-loadgen"};
  loadgen::options o;
  std::string rate, path, mix, arrivals = "constant";
  std::vector<std::string> headers, streams;
  double duration_s = 10;
  long long timeout_ms = o.timeout.count();
  app.add_option("--port", o.port, "the server's port")->required();
  app.add_option("--host", o.host, "a loopback address")->capture_default_str();
  app.add_option("--rate", rate, "requests per second (one stream)");
  auto* path_opt = app.add_option("--path", path, "the one target, e.g. /1000000");
  app.add_option("--mix", mix, "weighted targets, e.g. 90:/1000000,10:/100000000")
      ->excludes(path_opt);
  app.add_option("--header", headers, "'Name: value', repeatable; with --stream, for all");
  app.add_option("--arrivals", arrivals, "constant or poisson")->capture_default_str();
  app.add_option("--duration", duration_s, "seconds of sending (decimals allowed)")
      ->capture_default_str();
  app.add_option("--max-requests", o.max_requests, "per stream; 0: no bound but the duration")
      ->capture_default_str();
  app.add_option("--timeout-ms", timeout_ms, "per request, from its scheduled time")
      ->capture_default_str();
  app.add_option("--max-connections", o.max_connections, "per stream")->capture_default_str();
  app.add_option("--closed", o.closed, "closed loop: N connections per stream, rate ignored")
      ->capture_default_str();
  app.add_option("--seed", o.seed, "of the arrivals and the mix")->capture_default_str();
  app.add_option("--stream", streams,
                 "a stream, repeatable: 'name=low,rate=1000,mix=90:/a+10:/b,header=X-P: low' "
                 "(mix entries separated by +; header repeatable; or path=/a)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return e.get_exit_code() == 0 ? 0 : bad_arguments;
  }

  try {
    o.how = loadgen::parse_arrivals(arrivals);
    if (!(duration_s > 0) || !std::isfinite(duration_s))
      throw std::invalid_argument("--duration must be a positive number of seconds");
    o.duration = std::chrono::milliseconds(std::llround(duration_s * 1000));
    if (o.duration.count() == 0) throw std::invalid_argument("--duration is under 1 ms");
    if (timeout_ms <= 0) throw std::invalid_argument("--timeout-ms must be positive");
    o.timeout = std::chrono::milliseconds(timeout_ms);
    std::vector<std::pair<std::string, std::string>> common;
    for (const auto& h : headers) common.push_back(parse_header(h));
    if (!streams.empty()) {
      if (!rate.empty() || !path.empty() || !mix.empty())
        throw std::invalid_argument(
            "--rate, --path and --mix belong inside --stream when "
            "--stream is given");
      for (std::size_t i = 0; i < streams.size(); ++i)
        o.streams.push_back(parse_stream(streams[i], i));
    } else {
      loadgen::stream_spec s;
      s.name = "default";
      if (!rate.empty()) s.rate = parse_rate(rate);
      if (path.empty() && mix.empty()) throw std::invalid_argument("give --path or --mix");
      s.mix = mix.empty() ? single_target(path) : loadgen::parse_mix(mix);
      o.streams.push_back(s);
    }
    for (auto& s : o.streams) {
      if (o.closed == 0 && s.rate <= 0)
        throw std::invalid_argument("stream \"" + s.name + "\" has no rate (--rate, rate=)");
      s.headers.insert(s.headers.begin(), common.begin(), common.end());
    }
    raise_descriptor_limit();
    const auto r = loadgen::run(o);
    std::cout << loadgen::to_json(r) << "\n";
    print_table(r);
    return 0;
  } catch (const std::invalid_argument& e) {
    std::cerr << "poolserver-loadgen: " << e.what() << "\n";
    return bad_arguments;
  } catch (const std::exception& e) {
    std::cerr << "poolserver-loadgen: " << e.what() << "\n";
    return 1;
  }
}

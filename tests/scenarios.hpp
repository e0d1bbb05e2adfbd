#pragma once
// Load scenarios against the real binary, shared by the tests (which assert on them) and
// the reliability report (which tabulates them).

#include <signal.h>

#include <string>

#include "child_process.hpp"
#include "http_client.hpp"
#include "load_client.hpp"

namespace test {

struct overload_outcome {
  load_result load;
  long peak_rss_kib = 0;
  std::string metrics;  ///< /metrics after the load
  int exit_status = -1;
};

/// 32 keep-alive connections x 50 requests of /2000000 against 2 workers with mailboxes of
/// 4: three times what fits, so most answers are 503. Then SIGTERM.
inline overload_outcome run_overload() {
  server_process srv({"THREADS=2", "QUEUE_CAPACITY=4"});
  load_options o;
  o.port = srv.port;
  o.connections = 32;
  o.requests_per_connection = 50;
  o.target = "/2000000";
  overload_outcome out;
  out.load = run_load(o);
  out.peak_rss_kib = srv.proc.peak_rss_kib();
  out.metrics = http_client(srv.port).get("/metrics").body();
  srv.proc.signal(SIGTERM);
  out.exit_status = srv.proc.wait_exit();
  return out;
}

struct drain_outcome {
  load_result load;
  int exit_status = -1;
  std::string output;  ///< the server's log
};

/// 32 connections x 40 requests of /500000; SIGTERM right after the 200th answer.
inline drain_outcome run_drain_under_load() {
  server_process srv({"THREADS=2"});
  load_options o;
  o.port = srv.port;
  o.connections = 32;
  o.requests_per_connection = 40;
  o.target = "/500000";
  o.trigger_after = 200;
  o.trigger = [&] { srv.proc.signal(SIGTERM); };
  drain_outcome out;
  out.load = run_load(o);
  out.exit_status = srv.proc.wait_exit();
  out.output = srv.proc.output();
  return out;
}

}  // namespace test

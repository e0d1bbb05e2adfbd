#pragma once
// One HTTP/1.1 connection: reads a request, routes it, runs its job on the pool, writes the
// answer, and reads the next (keep-alive, pipelining). A session lives on one io_context,
// run by one thread, so its handlers never run concurrently and it needs no strand. It keeps
// itself alive through shared_from_this() bound into each pending operation.
//
// Each request gets exactly one answer: whichever comes first of the job's result, its
// deadline, the client leaving, or shutdown; later arrivals are ignored (a generation
// number tells them apart).
//
// Invariants: at most one read and one write are outstanding on the socket. While a job
// runs, a read is outstanding, so a client that leaves is seen at once (and bytes it
// pipelines wait in the buffer, bounded by request_reader::buffer_limit). One timer serves
// every deadline (idle, header, job, write, linger), re-armed only when a deadline comes
// nearer: when it moves further out the timer fires early, sees that, and sleeps again.

#include <utility>  // before Asio: see docs/architecture.md, known pitfalls

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include "observability/http_stats.hpp"
#include "pool/job.hpp"
#include "server/client_shares.hpp"
#include "server/request_reader.hpp"
#include "server/router.hpp"
#include "sockets/asio_types.hpp"

namespace server {

class server;

using sockets::io_executor;
using sockets::steady_timer;
using sockets::tcp_socket;

class session : public std::enable_shared_from_this<session> {
 public:
  /// Limits of writing and closing; the other timeouts are settings.
  static constexpr std::chrono::seconds write_timeout{30};
  /// After our FIN, how long to keep reading (and discarding) so that data still in flight
  /// from the client does not turn the close into a reset that loses our last answer.
  static constexpr std::chrono::seconds linger_timeout{2};
  /// Bytes asked of one read. Reads land here and are then appended to the request
  /// buffer: a read may be outstanding while the buffer is consumed, which would move it.
  static constexpr std::size_t read_chunk = 2048;
  /// Response and request buffers larger than this are given back once their message is
  /// done, so an idle keep-alive connection that once fetched a big page holds no memory.
  static constexpr std::size_t keep_capacity = 16 * 1024;

  session(tcp_socket&& socket, server& owner);
  ~session();

  /// Registers with the server and starts reading; answers 503 and closes when the server
  /// is at MAX_CONNECTIONS.
  void start();
  /// Draining: closes the connection if it waits for a request; a request being received
  /// or answered is finished first (then the connection closes); a /stats long poll is
  /// answered now (saying "draining").
  void stop_if_idle();
  /// Drain deadline: answers the job in progress 503 (as far as the socket takes it without
  /// waiting), cancels it, and closes the connection whatever its phase.
  void terminate();

 private:
  enum class phase {
    idle,      // waiting for the first byte of the next request
    reading,   // receiving a request
    queued,    // waiting for room in a mailbox (BACKPRESSURE=wait)
    running,   // the job is in a mailbox or running
    watching,  // a /stats?wait= long poll: answered at its deadline or when a drain begins
    writing,   // the answer is being written
    closing,   // lingering after our FIN
    closed,    // the socket is closed; pending handlers just return
  };

  void next_request();
  void read_more();
  void on_read(boost::system::error_code ec, std::size_t bytes);
  void parse();
  void handle(request&& req);
  /// A malformed or oversized request: answered, then the connection closes.
  void reject_malformed();
  void submit(job_call&& call, std::string_view client_id);
  void dispatch_job();
  void on_job_done(std::uint64_t generation, pool::job_result&& r);
  void client_gone();
  void answer(reply&& r);
  /// Serialises the answer into out_ and counts it (status, latency, access log).
  void prepare_answer(const reply& r);
  /// `Expect: 100-continue`: the final status now when the request line alone fails,
  /// else `100 Continue` and go on reading the body.
  void expect_continue();
  void on_continue_written(boost::system::error_code ec);
  /// The /stats answer, now.
  void answer_stats();
  void on_write(boost::system::error_code ec, std::size_t bytes);
  /// After the answer: FIN, then linger until the client's EOF or the linger timeout.
  void close_gracefully();
  /// Closes the socket now; every pending operation ends with operation_aborted. The
  /// connection stops counting as open here, not when the last handler lets go of it.
  void close_now();
  /// Sets the one deadline of the current phase; on_deadline() runs when it passes.
  void wake_at(pool::clock::time_point t);
  void on_timer(std::uint64_t arm, boost::system::error_code ec);
  void on_deadline();

  tcp_socket socket_;
  steady_timer timer_;
  server& server_;
  boost::beast::flat_buffer buffer_{request_reader::buffer_limit};
  std::array<char, read_chunk> chunk_;  // what the outstanding read writes into
  request_reader reader_;
  std::string out_;  // the response being written; its capacity is reused
  std::string peer_address_;  // the client's address, its key when it sends no X-Client-Id

  phase phase_ = phase::idle;
  bool reading_ = false;     // a read is outstanding
  bool peer_done_ = false;   // the client closed its side (or the socket failed)
  bool keep_alive_ = false;  // of the request being answered
  bool keep_open_ = false;   // after the response being written
  bool head_ = false;        // the request is HEAD: answer without a body
  bool interim_ = false;     // a `100 Continue` is being written: parse once it is out
  bool registered_ = false;  // counted among the server's open connections
  unsigned version_ = 11;

  // The one timer: wake_ is when on_deadline() must run; armed_ when the outstanding wait
  // (number arm_) expires, max when none is outstanding.
  pool::clock::time_point wake_ = pool::clock::time_point::max();
  pool::clock::time_point armed_ = pool::clock::time_point::max();
  std::uint64_t arm_ = 0;

  pool::clock::time_point first_byte_{};  // of the request being read
  pool::clock::time_point started_{};     // when the request being answered was read
  observability::request_kind kind_ = observability::request_kind::other;  // ... and what it is
  std::uint64_t generation_ = 0;          // of the job in progress; stale results are ignored
  job_call call_;                         // the job being run for this request
  // Its client (fairness), looked up again only when the key changes.
  std::shared_ptr<client_shares::client> client_;
  std::string client_key_;
  pool::job pending_;                     // a job waiting for room (BACKPRESSURE=wait)
  std::shared_ptr<pool::cancel_token> token_;
  pool::clock::time_point room_deadline_{};  // when waiting for room turns into a 503
  std::chrono::microseconds retry_delay_{};

  // ACCESS_LOG=1 only: what the access-log line of the request being answered says.
  struct access_note {
    std::string peer;          // the client's address:port, once per connection
    std::string method = "-";  // "-" until a request has been read
    std::string target = "-";
    std::optional<pool::clock::duration> queue_wait;  // when a job ran
    std::string_view backend_kind;                    // "worker", "actor", or empty
    std::uint64_t backend_id = 0;
    std::vector<std::size_t> helpers;  // other workers that computed chunks of it
  };
  std::unique_ptr<access_note> access_;  // null while the access log is off
};

}  // namespace server

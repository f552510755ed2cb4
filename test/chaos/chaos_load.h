// Runs in: solar-chaos (the `make chaos` driver), on a thread of its own.
//
// ChaosLoad: closed-loop frame32 load that survives the server's chaos and
// accounts for every request. Each connection keeps K requests in flight (K
// drawn 1..max_in_flight per connection); frames are 1 B .. 64 KiB, mostly
// small; every payload is derived from a per-request id, so each reply is
// compared byte for byte with the one request it must answer (replies on a
// connection come in request order). A share of requests is the debug
// worker's "sleep:MS", so that workers are busy when they are killed.
//
// When the server closes a connection, the connection and its unanswered
// requests are counted ("lost with the connection": allowed when a worker died
// holding them) and it reconnects. stop() ends the sending, then waits up to
// grace_ms for what is in flight: a request still unanswered then, on a
// connection that is still open, is HUNG — the failure this driver exists to find.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace solar::chaos {

struct LoadOptions {
  int connections = 50;
  int max_in_flight = 8;     // each connection draws its K from 1..max_in_flight
  int sleep_percent = 10;    // share of requests that are "sleep:<sleep_ms>"
  int sleep_ms = 5;
  int grace_ms = 5000;       // after stop(): how long in-flight requests may take
  unsigned seed = 1;
};

struct HungConnection {
  int local_port = 0;
  int generation = 0;       // how many times this connection slot had reconnected
  size_t pending = 0;       // requests without a reply
  size_t answered = 0;      // replies this connection did get
  uint64_t oldest_id = 0;
  size_t oldest_bytes = 0;  // size of the oldest unanswered request's payload
  int64_t oldest_age_ms = 0;
  bool oldest_is_sleep = false;
  size_t unsent_bytes = 0;  // request bytes the client could not even write
};

struct LoadResult {
  uint64_t sent = 0;                  // requests queued for writing
  uint64_t answered = 0;              // replies equal to their request
  uint64_t mismatches = 0;            // replies that differ, or come with nothing in flight
  uint64_t closed_by_server = 0;      // connections the server closed (EOF or reset)
  uint64_t lost_with_connection = 0;  // requests unanswered on those connections
  uint64_t hung = 0;                  // unanswered at the end on a still-open connection
  uint64_t connect_failures = 0;
  int64_t max_latency_ms = 0;         // slowest reply
  std::string first_mismatch;
  std::vector<HungConnection> hung_connections;
};

class ChaosLoad {
 public:
  ChaosLoad(int port, LoadOptions options);
  ~ChaosLoad();  // stops a load still running
  ChaosLoad(const ChaosLoad&) = delete;
  ChaosLoad& operator=(const ChaosLoad&) = delete;

  void start();
  // Stops sending, lets in-flight requests finish (grace_ms), returns the totals.
  LoadResult stop();

  // Progress while it runs (relaxed reads).
  uint64_t answered() const { return answered_.load(std::memory_order_relaxed); }
  uint64_t closedByServer() const { return closed_.load(std::memory_order_relaxed); }

 private:
  struct Conn;
  void run();

  const int port_;
  const LoadOptions options_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> answered_{0};
  std::atomic<uint64_t> closed_{0};
  std::thread thread_;
  LoadResult result_;
};

}  // namespace solar::chaos

// Command-line options of solar-bench and their parser.
//
//   solar-bench [options] HOST:PORT
//
// ParseOptions never exits and never prints: it returns the options or one
// error message, so main() decides (usage error = exit code 2) and tests can
// drive it with plain vectors. The option set follows wrk and memtier_benchmark;
// getopt_long reads it (--name=value, -c100, unique prefixes of long names,
// options before or after the target, "--" ends the options). Not reentrant:
// getopt keeps its scan in globals, so call it from one thread at a time.
// Runs in: solar-bench main thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace solar::bench {

enum class Proto { kFrame32, kLine, kRaw, kUdp };

const char* ProtoName(Proto proto);

struct Options {
  std::string target;  // as given: "127.0.0.1:7700", "[::1]:7700", "localhost:7700"
  std::string host;    // without brackets
  std::string port;

  int connections = 10;  // TCP connections, or UDP sockets
  int threads = 1;       // one event loop each
  int pipeline = 1;      // requests in flight per connection
  size_t size_min = 50;  // request payload size, uniform in [size_min, size_max]
  size_t size_max = 50;
  uint64_t duration_ns = 10'000'000'000;  // measured time, after the warm-up
  bool duration_given = false;
  uint64_t requests = 0;   // measured requests to issue in total; 0 = no limit
  uint64_t warmup_ns = 0;  // load runs but nothing is recorded
  double rate = 0;         // open loop: requests/s over all connections; 0 = closed loop
  Proto proto = Proto::kFrame32;
  std::string workload = "echo";
  double kv_get_ratio = 0.9;  // --workload kv: share of gets (the rest are puts)
  uint64_t kv_keys = 10000;   // --workload kv: key space
  // --kv-ledger FILE: puts write fresh keys ("ledger:<hex>") and every put the
  // server acknowledged is appended to FILE; gets read back this run's
  // acknowledged keys, so a NOT_FOUND is a lost write.
  std::string kv_ledger;
  // --kv-check-ledger FILE: one get per key of FILE (-n is its key count);
  // a key missing or with the wrong value is a failed request.
  std::string kv_check_ledger;
  std::shared_ptr<const std::vector<std::string>> kv_check_keys;  // FILE's keys, read by ParseOptions
  uint64_t timeout_ns = 5'000'000'000;  // per request, and per connect
  std::string json_path;                // "" = none, "-" = stdout
  // --timeline FILE: every 100 ms a line "WALL_MS ELAPSED_MS ANSWERED ERRORS"
  // (totals so far), for lining the load up with events outside it.
  std::string timeline_path;
  // --retry: the retry rule of solar's clients (clients/python/README.md).
  // When a connection that already carried replies is closed or reset before
  // any byte of the next reply came, the requests in flight are resent once
  // on a new connection (a server closing connections in a graceful stop
  // cannot tell a request that is already on its way). Only for idempotent
  // requests: echo, and kv (its puts write the same value each time).
  bool retry = false;
  uint64_t seed = 1;

  // Head-of-line load (--slow-connections): connections beside the -c ones
  // that loop one slow request (closed loop, one in flight each), so a server
  // that pins connections to workers shows what they do to the fast ones. Their
  // requests are counted apart, not in Requests or Latency.
  int slow_connections = 0;
  bool slow_connections_given = false;
  std::string slow_payload = "sleep:200";  // builtin:debug sleeps 200 ms, then answers "slept:200"
  // The per-connection report: a -c connection whose own median latency is
  // above this counts as stalled.
  uint64_t stall_threshold_ns = 20'000'000;
  bool stall_threshold_given = false;

  bool help = false;
  bool version = false;  // --version: print VersionLine("solar-bench") and exit 0

  // Whether the run stops at a deadline (else it stops when `requests` are done).
  bool hasDeadline() const { return duration_given || requests == 0; }
  // Whether to keep each -c connection's latencies for the stalled-connection
  // report: asked for by --slow-connections (0 too: a baseline to compare
  // with) or --stall-threshold.
  bool perConnectionReport() const { return slow_connections_given || stall_threshold_given; }
};

struct ParseResult {
  Options options;
  std::string error;  // empty on success
  bool ok() const { return error.empty(); }
};

// args excludes argv[0].
ParseResult ParseOptions(const std::vector<std::string>& args);
ParseResult ParseOptions(int argc, char** argv);

std::string UsageText();

// The value parsers, exposed for tests. Each returns false on bad input.
// "10s", "250ms", "100us", "2m", "1.5s"; a bare number is seconds.
bool ParseDuration(std::string_view text, uint64_t* nanos);
// "1000", "50k", "2M" (k = 1000, M = 1,000,000, G = 10^9), decimals allowed: "2.5k".
bool ParseCount(std::string_view text, double* value);
// "1500" or "50-1500" bytes.
bool ParseSizeRange(std::string_view text, size_t* min, size_t* max);
// "host:port" or "[v6]:port"; port 1..65535.
bool SplitHostPort(std::string_view text, std::string* host, std::string* port);

}  // namespace solar::bench

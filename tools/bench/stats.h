// Stats: what a load thread has measured; merged across threads for the
// progress line and the final report.
// Runs in: solar-bench (each load thread owns one; copies cross threads under
// LoadThread's lock).
#pragma once

#include <array>
#include <cstdint>

#include "histogram.h"

namespace solar::bench {

// How a request or a connection can fail. Each is counted where it happens:
enum class ErrorKind {
  kConnect,   // a connect() failed or timed out (UDP: the port answered "refused")
  kClosed,    // the server closed or reset a connection (counted once per connection)
  kTimeout,   // a request had no reply within --timeout (the connection is then replaced)
  kMismatch,  // a reply failed the workload's check, or could not be framed
  kServer,    // the server answered with an error frame (frame32; the connection stays)
};
constexpr int kErrorKinds = 5;

const char* ErrorKindName(ErrorKind kind);  // "connect", "closed", "timeout", "mismatch", "error"

struct Stats {
  Histogram latency;        // ns, measured requests that passed the check
  uint64_t requests = 0;    // measured requests that passed the check
  uint64_t answered = 0;    // all replies that passed, warm-up included: the progress line's rate
  uint64_t bytes_sent = 0;  // wire bytes of those requests (framing included) ...
  uint64_t bytes_received = 0;  // ... and of their replies
  std::array<uint64_t, kErrorKinds> errors{};  // during the whole run, warm-up included
  uint64_t last_reply_ns = 0;  // MonoNanos() of the latest measured reply
  uint64_t resent = 0;         // --retry: requests resent on a new connection
  uint64_t server_closes = 0;  // --retry: connections the server closed with nothing of a reply pending

  void addError(ErrorKind kind, uint64_t n = 1) { errors[static_cast<int>(kind)] += n; }
  uint64_t error(ErrorKind kind) const { return errors[static_cast<int>(kind)]; }
  uint64_t totalErrors() const;
  void merge(const Stats& other);
  // Adds only other's error counts.
  void mergeErrors(const Stats& other);
  void reset();
};

}  // namespace solar::bench

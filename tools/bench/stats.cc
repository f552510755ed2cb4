#include "stats.h"

#include <algorithm>

namespace solar::bench {

const char* ErrorKindName(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kConnect:
      return "connect";
    case ErrorKind::kClosed:
      return "closed";
    case ErrorKind::kTimeout:
      return "timeout";
    case ErrorKind::kMismatch:
      return "mismatch";
    case ErrorKind::kServer:
      return "error";
  }
  return "?";
}

uint64_t Stats::totalErrors() const {
  uint64_t n = 0;
  for (uint64_t e : errors) n += e;
  return n;
}

void Stats::merge(const Stats& other) {
  latency.merge(other.latency);
  requests += other.requests;
  answered += other.answered;
  bytes_sent += other.bytes_sent;
  bytes_received += other.bytes_received;
  for (int i = 0; i < kErrorKinds; ++i) errors[i] += other.errors[i];
  last_reply_ns = std::max(last_reply_ns, other.last_reply_ns);
  resent += other.resent;
  server_closes += other.server_closes;
}

void Stats::mergeErrors(const Stats& other) {
  for (int i = 0; i < kErrorKinds; ++i) errors[i] += other.errors[i];
}

void Stats::reset() {
  latency.reset();
  requests = answered = bytes_sent = bytes_received = resent = server_closes = 0;
  errors.fill(0);
  last_reply_ns = 0;
}

}  // namespace solar::bench

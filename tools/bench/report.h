// The results of a run as text (the human report, the progress line) and as
// JSON (--json), and the exit status they imply. Pure formatting: no I/O.
// Runs in: solar-bench main thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "options.h"
#include "stats.h"

namespace solar::bench {

struct RunResult {
  Stats stats;           // all threads merged: the -c connections' requests, every connection's errors
  Stats slow;            // the slow connections' (--slow-connections), errors included
  // With Options::perConnectionReport(): each -c connection's median latency
  // (kNoMedian: no measured reply), in connection order; empty otherwise.
  std::vector<uint64_t> connection_medians_ns;
  double seconds = 0;    // the measured time: from the end of the warm-up to the end of the run
  bool interrupted = false;  // stopped early by SIGINT/SIGTERM
  uint64_t warmup_ns = 0;

  double requestsPerSecond() const { return seconds > 0 ? static_cast<double>(stats.requests) / seconds : 0; }
  // Request and reply bytes on the wire, framing included, in 10^6 bytes per second.
  double megabytesPerSecond() const {
    return seconds > 0 ? static_cast<double>(stats.bytes_sent + stats.bytes_received) / seconds / 1e6 : 0;
  }
};

// The percentiles reported, in order.
constexpr double kReportedPercentiles[] = {50, 90, 99, 99.9};

// 850ns, 45.2us, 1.20ms, 3.05s.
std::string FormatLatency(uint64_t ns);
// 1234567 -> "1,234,567".
std::string WithCommas(uint64_t n);

std::string FormatReport(const Options& options, const RunResult& result);
std::string FormatJson(const Options& options, const RunResult& result);
// One line for stderr while running: time so far, rate over the last
// interval, p99 so far, errors so far.
std::string FormatProgress(double elapsed_s, bool warming_up, double interval_rate, const Stats& so_far);

// 0 when at least one request completed and none failed; else 1.
int ExitCodeFor(const RunResult& result);

}  // namespace solar::bench

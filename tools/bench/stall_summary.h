// StallSummary: which of the -c connections were held up during a run, judged
// by each connection's own median latency (--slow-connections,
// --stall-threshold).
//
// Why per connection: a server that pins each connection to one worker makes
// the connections sharing a worker with a slow request wait behind it, while
// the others do not notice. Merged percentiles hide that (a stuck connection
// sends few requests, so it barely moves the p50 of all of them); the share of
// connections whose own median is high shows it directly.
// Pure: no I/O, no clock.
// Runs in: solar-bench (load threads take the medians, the main thread sums up).
#pragma once

#include <cstdint>
#include <vector>

#include "histogram.h"

namespace solar::bench {

// A connection's median when it had no measured reply at all.
constexpr uint64_t kNoMedian = UINT64_MAX;

// The median of one connection's measured latencies (the histogram's p50,
// within 1/128 of the exact value and never below it); kNoMedian when it
// recorded none.
uint64_t ConnectionMedian(const Histogram& latency);

struct StallSummary {
  int connections = 0;  // connections judged
  int stalled = 0;      // median above the threshold, or no measured reply at all
  int silent = 0;       // of the stalled: no measured reply at all
  uint64_t lowest_median_ns = 0;  // over the connections with replies; 0 when none had any
  uint64_t highest_median_ns = 0;

  // stalled / connections; 0 when there are none.
  double share() const { return connections == 0 ? 0.0 : static_cast<double>(stalled) / connections; }
};

// Judges each connection by its median. kNoMedian counts as stalled: a
// connection that waited the whole measured time for one reply is the worst
// case, not a missing value. "Above" is strict: a median equal to the
// threshold is not stalled.
StallSummary SummarizeStalls(const std::vector<uint64_t>& medians_ns, uint64_t threshold_ns);

}  // namespace solar::bench

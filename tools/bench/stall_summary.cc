#include "stall_summary.h"

#include <algorithm>

namespace solar::bench {

uint64_t ConnectionMedian(const Histogram& latency) {
  return latency.count() == 0 ? kNoMedian : latency.valueAtPercentile(50);
}

StallSummary SummarizeStalls(const std::vector<uint64_t>& medians_ns, uint64_t threshold_ns) {
  StallSummary s;
  s.connections = static_cast<int>(medians_ns.size());
  bool any_replies = false;
  for (uint64_t median : medians_ns) {
    if (median == kNoMedian) {
      ++s.stalled;
      ++s.silent;
      continue;
    }
    if (median > threshold_ns) ++s.stalled;
    s.lowest_median_ns = any_replies ? std::min(s.lowest_median_ns, median) : median;
    s.highest_median_ns = std::max(s.highest_median_ns, median);
    any_replies = true;
  }
  return s;
}

}  // namespace solar::bench

// Histogram: a high-dynamic-range latency histogram in the manner of Gil Tene's
// HdrHistogram, written for solar-bench (log-linear buckets, fixed memory,
// O(1) record, exact merge).
//
// Values are non-negative integers; the bench records nanoseconds. Values below
// 256 are kept exactly. Above that, each power of two [2^m, 2^(m+1)) is split
// into 128 equal sub-buckets, so any value is known to within 1/128 (< 0.8%)
// of itself: HdrHistogram with 2 significant digits. Values of 2^44 ns
// (about 4.9 hours) and more share the top bucket; min() and max() stay exact.
//
// Memory: 4,864 counters (38 KB) whatever the range, so each load thread keeps
// its own and the main thread merges them (merge() adds counters).
// Runs in: solar-bench (one per load thread, plus merged copies); not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace solar::bench {

class Histogram {
 public:
  static constexpr int kSubBucketBits = 8;  // 256 exact values, then 128 per power of two
  static constexpr int kMaxValueBits = 44;
  static constexpr uint64_t kMaxTrackable = (uint64_t{1} << kMaxValueBits) - 1;

  Histogram();

  void record(uint64_t value, uint64_t count = 1);
  void merge(const Histogram& other);
  void reset();

  uint64_t count() const { return total_; }
  uint64_t min() const { return total_ == 0 ? 0 : min_; }
  uint64_t max() const { return max_; }
  double mean() const { return total_ == 0 ? 0.0 : sum_ / static_cast<double>(total_); }

  // The value at `percentile` (0..100] by the nearest-rank rule: the smallest
  // recorded value v such that at least percentile% of all values are <= v.
  // As in HdrHistogram, the answer is the highest value of v's bucket (so it
  // never understates a latency), clamped to [min(), max()]; it is therefore
  // within 1/128 of the exact answer. Returns 0 when empty.
  uint64_t valueAtPercentile(double percentile) const;

  // The bucket layout, exposed for tests.
  static size_t BucketIndex(uint64_t value);
  static uint64_t BucketLowest(size_t index);
  static uint64_t BucketHighest(size_t index);
  static size_t BucketCount();

 private:
  std::vector<uint64_t> counts_;
  uint64_t total_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
  double sum_ = 0;  // for mean(); double keeps it from overflowing on long runs
};

}  // namespace solar::bench

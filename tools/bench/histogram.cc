#include "histogram.h"

#include <algorithm>
#include <cmath>

namespace solar::bench {
namespace {

constexpr uint64_t kExactCount = uint64_t{1} << Histogram::kSubBucketBits;  // 256
constexpr uint64_t kHalf = kExactCount / 2;                                  // 128 sub-buckets per octave
// Octaves above the exact range: 2^8 .. 2^43, each with kHalf sub-buckets.
constexpr size_t kOctaves = Histogram::kMaxValueBits - Histogram::kSubBucketBits;

int HighestBit(uint64_t v) { return 63 - __builtin_clzll(v); }

}  // namespace

Histogram::Histogram() : counts_(BucketCount(), 0) {}

size_t Histogram::BucketCount() { return kExactCount + kOctaves * kHalf; }

size_t Histogram::BucketIndex(uint64_t value) {
  if (value > kMaxTrackable) value = kMaxTrackable;
  if (value < kExactCount) return static_cast<size_t>(value);
  // value in [2^m, 2^(m+1)), m >= 8: keep its top 8 bits, which lie in [128, 256).
  const int shift = HighestBit(value) - (kSubBucketBits - 1);
  const uint64_t sub = value >> shift;
  return static_cast<size_t>(kExactCount + (shift - 1) * kHalf + (sub - kHalf));
}

uint64_t Histogram::BucketLowest(size_t index) {
  if (index < kExactCount) return index;
  const size_t k = index - kExactCount;
  const int shift = static_cast<int>(k / kHalf) + 1;
  const uint64_t sub = kHalf + k % kHalf;
  return sub << shift;
}

uint64_t Histogram::BucketHighest(size_t index) {
  if (index < kExactCount) return index;
  const size_t k = index - kExactCount;
  const int shift = static_cast<int>(k / kHalf) + 1;
  const uint64_t sub = kHalf + k % kHalf;
  return ((sub + 1) << shift) - 1;
}

void Histogram::record(uint64_t value, uint64_t count) {
  if (count == 0) return;
  counts_[BucketIndex(value)] += count;
  total_ += count;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
  sum_ += static_cast<double>(value) * static_cast<double>(count);
}

void Histogram::merge(const Histogram& other) {
  if (other.total_ == 0) return;
  for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  total_ += other.total_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  sum_ += other.sum_;
}

void Histogram::reset() {
  if (total_ == 0) return;
  std::fill(counts_.begin(), counts_.end(), 0);
  total_ = 0;
  min_ = UINT64_MAX;
  max_ = 0;
  sum_ = 0;
}

uint64_t Histogram::valueAtPercentile(double percentile) const {
  if (total_ == 0) return 0;
  percentile = std::clamp(percentile, 0.0, 100.0);
  // Nearest rank: ceil(p/100 * n). The factor (1 - 1e-12) keeps 99.9% of 1000
  // (999.0000000000001 in binary floating point) at rank 999, not 1000.
  const double exact = percentile / 100.0 * static_cast<double>(total_);
  uint64_t rank = static_cast<uint64_t>(std::ceil(exact * (1.0 - 1e-12)));
  rank = std::clamp<uint64_t>(rank, 1, total_);
  uint64_t seen = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::clamp(BucketHighest(i), min_, max_);
  }
  return max_;
}

}  // namespace solar::bench

// solar-bench's latency histogram against an exact reference: a sorted copy of
// the same values.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "../../tools/bench/histogram.h"

namespace solar::bench {
namespace {

// Percentiles as parts per 10,000 so that the reference rank is exact integer
// arithmetic: ceil(p * n), at least 1 (the nearest-rank definition).
constexpr int kPercentilesE4[] = {1, 100, 1000, 2500, 5000, 7500, 9000, 9900, 9990, 9999, 10000};

uint64_t ReferencePercentile(const std::vector<uint64_t>& sorted, int p_e4) {
  const uint64_t n = sorted.size();
  uint64_t rank = (static_cast<uint64_t>(p_e4) * n + 9999) / 10000;
  rank = std::max<uint64_t>(rank, 1);
  return sorted[rank - 1];
}

void ExpectMatchesReference(std::vector<uint64_t> values) {
  Histogram h;
  for (uint64_t v : values) h.record(v);
  std::sort(values.begin(), values.end());
  for (int p_e4 : kPercentilesE4) {
    const uint64_t exact = ReferencePercentile(values, p_e4);
    const uint64_t got = h.valueAtPercentile(p_e4 / 100.0);
    // Never below the truth (the bucket's highest value is reported), and
    // above it by less than 1% (the bucket width is 1/128 of its values).
    EXPECT_GE(got, exact) << "p" << p_e4 / 100.0;
    EXPECT_LE(static_cast<double>(got), static_cast<double>(exact) * 1.01 + 1) << "p" << p_e4 / 100.0;
  }
  EXPECT_EQ(h.min(), values.front());
  EXPECT_EQ(h.max(), values.back());
  EXPECT_EQ(h.count(), values.size());
}

TEST(BenchHistogram, PercentilesOfLogUniformLatenciesMatchSortedReferenceWithinOnePercent) {
  // 1 us .. 10 s, spread evenly over the orders of magnitude, as latencies are.
  std::mt19937_64 gen(1);
  std::uniform_real_distribution<double> exponent(3, 10);
  std::vector<uint64_t> values;
  for (int i = 0; i < 100'000; ++i) values.push_back(static_cast<uint64_t>(std::pow(10.0, exponent(gen))));
  ExpectMatchesReference(values);
}

TEST(BenchHistogram, PercentilesOfBimodalLatenciesMatchSortedReferenceWithinOnePercent) {
  // Mostly ~100 us with a 2% tail near 40 ms: the shape a stall gives.
  std::mt19937_64 gen(2);
  std::normal_distribution<double> fast(100'000, 15'000);
  std::normal_distribution<double> slow(40'000'000, 5'000'000);
  std::bernoulli_distribution tail(0.02);
  std::vector<uint64_t> values;
  for (int i = 0; i < 50'000; ++i) {
    const double v = tail(gen) ? slow(gen) : fast(gen);
    values.push_back(static_cast<uint64_t>(std::max(1.0, v)));
  }
  ExpectMatchesReference(values);
}

TEST(BenchHistogram, PercentilesOfSmallSamplesMatchSortedReference) {
  ExpectMatchesReference({7});
  ExpectMatchesReference({5, 1'000'000});
  ExpectMatchesReference({300, 200, 100, 5'000'000'000, 42, 42, 42});
}

TEST(BenchHistogram, ValuesBelow256AreExact) {
  Histogram h;
  for (uint64_t v = 0; v < 256; ++v) h.record(v);
  for (int p = 1; p <= 100; ++p) {
    // The rank-th smallest of 0..255 is rank - 1.
    const uint64_t rank = (static_cast<uint64_t>(p) * 256 + 99) / 100;
    EXPECT_EQ(h.valueAtPercentile(p), rank - 1) << "p" << p;
  }
}

TEST(BenchHistogram, BucketsTileTheRangeWithRelativeWidthBelowOnePercent) {
  for (size_t i = 0; i + 1 < Histogram::BucketCount(); ++i) {
    const uint64_t lo = Histogram::BucketLowest(i);
    const uint64_t hi = Histogram::BucketHighest(i);
    ASSERT_EQ(Histogram::BucketIndex(lo), i);
    ASSERT_EQ(Histogram::BucketIndex(hi), i);
    ASSERT_EQ(Histogram::BucketLowest(i + 1), hi + 1) << "gap or overlap after bucket " << i;
    ASSERT_LE(static_cast<double>(hi - lo), static_cast<double>(lo) / 128.0) << "bucket " << i;
  }
  EXPECT_EQ(Histogram::BucketHighest(Histogram::BucketCount() - 1), Histogram::kMaxTrackable);
}

TEST(BenchHistogram, MergeEqualsRecordingEverythingInOne) {
  std::mt19937_64 gen(3);
  std::uniform_int_distribution<uint64_t> dist(1, 50'000'000);
  Histogram all, a, b;
  for (int i = 0; i < 20'000; ++i) {
    const uint64_t v = dist(gen);
    all.record(v);
    (i % 3 == 0 ? a : b).record(v);
  }
  Histogram merged;
  merged.merge(a);
  merged.merge(b);
  EXPECT_EQ(merged.count(), all.count());
  EXPECT_EQ(merged.min(), all.min());
  EXPECT_EQ(merged.max(), all.max());
  EXPECT_DOUBLE_EQ(merged.mean(), all.mean());
  for (double p : {0.1, 50.0, 90.0, 99.0, 99.9, 100.0}) {
    EXPECT_EQ(merged.valueAtPercentile(p), all.valueAtPercentile(p)) << "p" << p;
  }
}

TEST(BenchHistogram, EmptyHistogramReportsZeroes) {
  Histogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), 0u);
  EXPECT_EQ(h.mean(), 0.0);
  EXPECT_EQ(h.valueAtPercentile(99), 0u);
}

TEST(BenchHistogram, ResetForgetsEverything) {
  Histogram h;
  h.record(1000);
  h.record(5, 10);
  h.reset();
  EXPECT_EQ(h.count(), 0u);
  h.record(77);
  EXPECT_EQ(h.min(), 77u);
  EXPECT_EQ(h.max(), 77u);
  EXPECT_EQ(h.valueAtPercentile(50), 77u);
}

TEST(BenchHistogram, ValuesBeyondTheRangeShareTheTopBucketButMaxStaysExact) {
  Histogram h;
  const uint64_t huge = uint64_t{1} << 60;
  h.record(huge);
  EXPECT_EQ(h.max(), huge);
  EXPECT_EQ(h.valueAtPercentile(100), huge);  // clamped to [min, max], so the exact max
  h.record(10);
  EXPECT_EQ(h.valueAtPercentile(50), 10u);
}

TEST(BenchHistogram, MeanIsExact) {
  Histogram h;
  h.record(100);
  h.record(300);
  h.record(1'000'000, 2);
  EXPECT_DOUBLE_EQ(h.mean(), (100.0 + 300.0 + 2'000'000.0) / 4);
}

}  // namespace
}  // namespace solar::bench
